#include "kv_cache.h"

#include <cstdlib>
#include <string>

namespace rl {

Status kv_layer_init(KvLayer* layer, int32_t n_slots, int32_t dim_k, int32_t dim_v) {
    kv_layer_free(layer);
    // calloc: pages are mapped lazily, so a large context costs memory only as it fills.
    layer->k = (uint16_t*)std::calloc((size_t)n_slots * (size_t)dim_k, sizeof(uint16_t));
    layer->v = (uint16_t*)std::calloc((size_t)n_slots * (size_t)dim_v, sizeof(uint16_t));
    if (!layer->k || !layer->v) {
        kv_layer_free(layer);
        return status_error("OUT_OF_MEMORY", "could not allocate a KV cache of " + std::to_string(n_slots) +
                                                 " tokens; use a smaller context size");
    }
    layer->n_slots = n_slots;
    layer->dim_k = dim_k;
    layer->dim_v = dim_v;
    return status_ok();
}

void kv_layer_free(KvLayer* layer) {
    std::free(layer->k);
    std::free(layer->v);
    *layer = KvLayer{};
}

void kv_layer_write(KvLayer* layer, const KernelTable* kt, int32_t pos, const float* k, const float* v) {
    int64_t slot = kv_layer_slot(layer, pos);
    kt->f32_to_fp16_row(k, layer->k + slot * layer->dim_k, layer->dim_k);
    kt->f32_to_fp16_row(v, layer->v + slot * layer->dim_v, layer->dim_v);
}

}  // namespace rl
