// Tiled flash attention over a layer's KV cache. Keys are taken in tiles of kAttnKeys (32) positions
// aligned to absolute positions (tile i holds positions 32i .. 32i+31), whatever the policy, the
// ring's wrap or the chunk boundaries: a query's result depends only on its own position, its
// query vector and the keys it sees, never on which other queries share its block, how the prompt
// was chunked, or which policy stored the rows (a window ring equals a full cache with the same
// window mask, bit for bit).
//
// A block of queries (n_pos consecutive positions x the `group` query heads of one KV head, row
// r = t * group + h) runs against each tile: the tile's keys are converted to f32 once and
// transposed, S = Q K^T in a register-tiled kernel, masked from positions (tiles entirely visible
// to a row take no mask; tiles a row cannot see leave it untouched), one online-softmax step per row
// (running max m, sum l, weighted value sum o: the max and one rescale per tile, exponentials as a
// row), then O += P V in registers. Every S and O element is one fused multiply-add chain in a fixed
// order, the same in every kernel tier.
//
// Decode (one position) uses the same function, so token-by-token decoding equals prefill bit for
// bit. Flash-decoding splits a single query's tiles into ranges whose partials attn_merge combines
// by log-sum-exp: M = max m_s, out = sum e^(m_s-M) o_s / sum e^(m_s-M) l_s (an empty range, or one
// whose scores are all -inf, has l = 0 and weighs nothing).
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

// Query positions per prefill block (rows: kAttnBlock * group).
constexpr int32_t kAttnBlock = 16;

// The keys of one KV head of a layer by absolute position: positions >= p0 from the staging rows of
// the chunk being processed (row p - p0), older ones from the cache slot holding them.
struct AttnKeys {
    const KvLayer* kv;
    int32_t head;
    const uint8_t* stage_k;
    const uint8_t* stage_v;
    int64_t p0;

    const uint8_t* k(int64_t p) const {
        const uint8_t* row = p >= p0 ? stage_k + (size_t)(p - p0) * kv->k_row_bytes() : kv->k_at(p);
        return row + (size_t)head * kv->k_head_bytes();
    }
    const uint8_t* v(int64_t p) const {
        const uint8_t* row = p >= p0 ? stage_v + (size_t)(p - p0) * kv->v_row_bytes() : kv->v_at(p);
        return row + (size_t)head * kv->v_head_bytes();
    }
};

// What a block of query positions [first, first + n_pos) sees: each position's spans, their union,
// and the tiles overlapping the union (at most two ranges of tile indexes, in position order).
struct AttnView {
    int64_t first = 0;
    int32_t n_pos = 0;
    KvSpan spans[kAttnBlock][kKvMaxSpans];
    int n_spans[kAttnBlock] = {};
    KvSpan unions[kKvMaxSpans];  // per rot kind; lo > hi when no position sees it
    int64_t ranges[2][2] = {};   // tile index ranges [a, b)
    int n_ranges = 0;

    int64_t n_tiles() const;
    int64_t tile(int64_t i) const;  // tile index of the i-th tile
    int64_t n_keys() const;         // positions the union holds
};
void attn_view(const KvLayer& kv, int64_t first, int32_t n_pos, AttnView* view);
// The view of one query at p over the single span [lo, hi] (a recall run: the sinks, one block, the tail).
void attn_view_run(int64_t p, int64_t lo, int64_t hi, AttnView* view);

// One tile's rows in f32 (a null row is zeros): keys k[j] transposed into ktr (head_dim_k, 32),
// kr (32, head_dim_k) scratch for quantized types; values v[j] into vr (32, head_dim_v).
void attn_load_keys(const AttnShape& s, const uint8_t* const* k, float* kr, float* ktr);
void attn_load_values(const AttnShape& s, const uint8_t* const* v, float* vr);

// Floats of scratch attn_block needs for `rows` query rows.
size_t attn_block_scratch_floats(const AttnShape& s, int32_t rows);
// Floats of one flash-decoding partial: m (group), l (group), o (group * head_dim_v).
static inline size_t attn_partial_floats(const AttnShape& s) { return (size_t)s.group * (2 + s.head_dim_v); }

// Attention of the view's queries over its tiles [i0, i1): q0 (rows, head_dim_k) rotated at each
// position, q1 the same rows rotated for rot-1 spans (q1 == q0 when no row differs). Starts from
// m = -inf, l = 0, o = 0 (rows; rows; rows x head_dim_v).
void attn_block(const AttnShape& s, const AttnKeys& keys, const AttnView& view, const float* q0, const float* q1,
                int64_t i0, int64_t i1, float* m, float* l, float* o, float* scratch);

// out row r (stride out_stride) = o row r / l[r] (zeros where l = 0): the result of one partial.
void attn_finish(const AttnShape& s, int32_t rows, const float* l, const float* o, float* out, int64_t out_stride);

// out (group, head_dim_v) = merged result of n partials (layout of attn_partial_floats).
void attn_merge(const AttnShape& s, const float* parts, int n, float* out);

}  // namespace rl
