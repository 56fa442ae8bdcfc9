// Per-layer KV cache with f16 storage. Today the only policy is "full": position p lives in slot p
// and a query at p sees positions 0..p. The ring policies of LONG_CONTEXT.md (window, sinks, h2o)
// replace kv_layer_slot() and the visible range; attention reads the cache only through these
// functions. (Moves to native/kv/ when the policies land.)
#pragma once

#include <cstdint>

#include "../kernels/kernel_table.h"
#include "../util/status.h"

namespace rl {

struct KvLayer {
    int32_t n_slots = 0;  // capacity in tokens
    int32_t dim_k = 0;    // n_head_kv * head_dim_k
    int32_t dim_v = 0;    // n_head_kv * head_dim_v
    uint16_t* k = nullptr;  // (n_slots, dim_k) f16, keys after RoPE
    uint16_t* v = nullptr;  // (n_slots, dim_v) f16
};

Status kv_layer_init(KvLayer* layer, int32_t n_slots, int32_t dim_k, int32_t dim_v);
void kv_layer_free(KvLayer* layer);

// Slot that holds position pos (full policy: pos itself).
static inline int32_t kv_layer_slot(const KvLayer* layer, int32_t pos) {
    (void)layer;
    return pos;
}

// Stores the (dim_k) key and (dim_v) value of position pos, converted to f16.
void kv_layer_write(KvLayer* layer, const KernelTable* kt, int32_t pos, const float* k, const float* v);

// Positions a query at `pos` attends to: [*first, pos] (full policy: from 0).
static inline void kv_layer_visible(const KvLayer* layer, int32_t pos, int32_t* first) {
    (void)layer;
    (void)pos;
    *first = 0;
}

static inline const uint16_t* kv_layer_k_row(const KvLayer* layer, int32_t pos) {
    return layer->k + (int64_t)kv_layer_slot(layer, pos) * layer->dim_k;
}
static inline const uint16_t* kv_layer_v_row(const KvLayer* layer, int32_t pos) {
    return layer->v + (int64_t)kv_layer_slot(layer, pos) * layer->dim_v;
}

}  // namespace rl
