// Fused attention for one KV head group: the H/G query heads that share a KV head are processed
// together, so each K/V row is loaded (and dequantized) once. Online softmax (running max m, sum l,
// weighted value sum o) over the rows of a list of runs, which may come from a ring (wrapping),
// from the chunk's staging rows, and from sink rows with their own query rotation.
//
// Flash-decoding: attn_partial over any sub-range [begin, end) of the concatenated keys, and
// attn_merge combines partials by log-sum-exp: M = max m_s, out = sum e^(m_s-M) o_s / sum
// e^(m_s-M) l_s. An empty range (or one whose scores are all -inf) has l = 0 and weighs nothing.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kv_cache.h"

namespace rl {

struct AttnShape {
    int32_t group = 1;  // query heads per KV head
    int32_t head_dim_k = 0;
    int32_t head_dim_v = 0;
    float scale = 1.0f;    // q.k multiplier
    float softcap = 0.0f;  // 0: off; else s = cap * tanh(s / cap)
    KvType type = KvType::F16;
    const KernelTable* kt = nullptr;
};

// Rows of one KV head: n rows at k (stride k_stride bytes) and v; rot selects the query rotation.
struct AttnRun {
    const uint8_t* k;
    const uint8_t* v;
    size_t k_stride;
    size_t v_stride;
    int32_t n;
    uint8_t rot;
};

// Floats of one partial: m (group), l (group), o (group * head_dim_v).
static inline size_t attn_partial_floats(const AttnShape& s) { return (size_t)s.group * (2 + s.head_dim_v); }
// Keys are scored a tile at a time: one max and one rescale per tile, the exponentials as a row.
constexpr int32_t kAttnTile = 32;
// Floats of scratch attn_partial needs: one K row and one V row in f32, a tile of scores per head.
static inline size_t attn_scratch_floats(const AttnShape& s) {
    return (size_t)kAttnTile * ((size_t)s.head_dim_k + s.head_dim_v) + (size_t)s.group * kAttnTile;
}

// q[rot]: the group's query heads, (group, head_dim_k) contiguous, for each rotation in use.
// Keys [begin, end) of the runs' concatenation -> part.
void attn_partial(const AttnShape& s, const float* const q[2], const AttnRun* runs, int n_runs, int64_t begin,
                  int64_t end, float* part, float* scratch);

// out (group, head_dim_v) = merged result of n partials.
void attn_merge(const AttnShape& s, const float* parts, int n, float* out);

}  // namespace rl
