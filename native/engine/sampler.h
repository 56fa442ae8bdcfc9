// Token sampling from one row of logits: logit bias, repetition penalties over recent history,
// then greedy, or top-k -> softmax(temperature) -> top-p -> min-p -> a draw from a seeded PRNG.
// Deterministic for a seed; buffers sized once at init.
#pragma once

#include <cstdint>
#include <vector>

#include "context.h"

namespace rl {

// xoshiro256** seeded through splitmix64.
struct SamplerRng {
    uint64_t s[4];
};
void sampler_rng_seed(SamplerRng* rng, uint64_t seed);
uint64_t sampler_rng_next(SamplerRng* rng);
double sampler_rng_uniform(SamplerRng* rng);  // [0, 1)

struct SamplerCandidate {
    int32_t id;
    float logit;  // then probability after softmax
};

struct Sampler {
    int32_t n_vocab = 0;
    SamplerRng rng;
    std::vector<float> logits;                // (n_vocab) working copy
    std::vector<int32_t> counts;              // (n_vocab) occurrences in the penalty window, 0 outside
    std::vector<SamplerCandidate> cand;       // (n_vocab)
};

Status sampler_init(Sampler* s, int32_t n_vocab, uint64_t seed);

// Picks a token from `logits` (n_vocab); history: the tokens in context, oldest first.
// INVALID_ARGUMENT for a bad parameter or logit_bias id, or when every token is banned.
Status sampler_sample(Sampler* s, const SamplerParams& p, const float* logits, const int32_t* history,
                      int32_t n_history, int32_t* token);

}  // namespace rl
