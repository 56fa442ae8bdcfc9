// The llama architecture: hyper-parameters and weights read from the GGUF (llama_weights.cpp) and
// the inference context that runs the forward pass (llama.cpp).
#pragma once

#include <memory>
#include <vector>

#include "context.h"
#include "matmul.h"

namespace rl {

struct LlamaHparams {
    int32_t n_vocab = 0;
    int32_t n_embd = 0;
    int32_t n_layer = 0;
    int32_t n_ff = 0;
    int32_t n_head = 0;
    int32_t n_head_kv = 0;
    int32_t head_dim_k = 0;  // attention.key_length, else n_embd / n_head
    int32_t head_dim_v = 0;  // attention.value_length, else n_embd / n_head
    int32_t n_rot = 0;       // rope.dimension_count, else head_dim_k
    int32_t n_ctx_train = 0;
    float rms_eps = 1e-5f;
    float rope_base = 10000.0f;
};

struct LlamaLayer {
    std::vector<float> attn_norm;  // (n_embd)
    std::vector<float> ffn_norm;   // (n_embd)
    WeightMatrix wq;      // (n_head*head_dim_k, n_embd)
    WeightMatrix wk;      // (n_head_kv*head_dim_k, n_embd)
    WeightMatrix wv;      // (n_head_kv*head_dim_v, n_embd)
    WeightMatrix wo;      // (n_embd, n_head*head_dim_v)
    WeightMatrix w_gate;  // (n_ff, n_embd)
    WeightMatrix w_up;    // (n_ff, n_embd)
    WeightMatrix w_down;  // (n_embd, n_ff)
};

struct LlamaWeights {
    WeightMatrix tok_embd;          // (n_vocab, n_embd)
    WeightMatrix output;            // (n_vocab, n_embd); token_embd when the file ties them
    std::vector<float> output_norm;  // (n_embd)
    std::vector<float> rope_freqs;   // (n_rot/2) per-pair frequency divisors; empty when absent
    std::vector<LlamaLayer> layers;  // (n_layer)
};

// Reads `llama.*` hyper-parameters and validates every tensor's presence, shape and type.
// MODEL_INVALID / MODEL_UNSUPPORTED_TYPE naming the key or tensor; never aborts.
Status llama_load(const Model& model, const KernelTable* kt, LlamaHparams* hp, LlamaWeights* w);

Status llama_context_create(std::shared_ptr<Model> model, const ContextParams& params, const KernelTable* kt,
                            std::unique_ptr<Context>* out);

}  // namespace rl
