// The random source of the standalone C++ self-tests: a xorshift64 stream, seedable, and uniform
// floats in [-1, 1) from it. Deterministic, so a failing case reproduces.
#pragma once

#include <cstdint>

inline uint64_t& test_rng_state() {
    static uint64_t state = 0x9e3779b97f4a7c15ull;
    return state;
}
inline uint32_t rnd_u32() {
    uint64_t& s = test_rng_state();
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return (uint32_t)(s >> 16);
}
inline float rnd_uniform() { return (float)((rnd_u32() >> 8) * (1.0 / 16777216.0)) * 2.0f - 1.0f; }
