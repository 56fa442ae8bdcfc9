// Decoder-only transformers (llama, qwen2, phi3, gemma, gemma2, gemma3, cohere2): one forward pass
// (transformer.cpp) driven by per-architecture options, and a loader (transformer_load.cpp) that
// reads each architecture's hyper-parameters and validates every tensor's presence, shape and type.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "context.h"
#include "matmul.h"
#include "ops.h"

namespace rl {

enum class RopeOrder {
    Norm,  // adjacent pairs (2i, 2i+1) (llama, cohere2)
    Neox,  // half-split pairs (i, i + n_rot/2) (qwen2, phi3, gemma*)
};

enum class NormKind {
    Rms,    // x / rms(x) * w
    Layer,  // (x - mean) / std(x) * w, no bias (cohere2)
};

enum class FfnAct {
    Silu,      // silu(gate) * up
    GeluTanh,  // gelu_tanh(gate) * up
};

// What differs between architectures; everything else is the shared graph.
struct ArchOptions {
    RopeOrder rope = RopeOrder::Norm;
    FfnAct act = FfnAct::Silu;
    float embd_scale = 1.0f;        // token embeddings multiplied by this (gemma: sqrt(n_embd))
    float attn_scale = 0.0f;        // q.k multiplier (set by the loader, 1/sqrt(head_dim_k) by default)
    float attn_softcap = 0.0f;      // 0: off; else scores = cap * tanh(scores / cap) (gemma2)
    float final_softcap = 0.0f;     // 0: off; same on the logits (gemma2)
    bool post_norms = false;        // RMSNorm on the attention and FFN outputs before the residual add
    bool qk_norm = false;           // per-head RMSNorm of Q and K before RoPE (gemma3)
    NormKind norm = NormKind::Rms;  // attn_norm, ffn_norm and output_norm
    bool parallel_ffn = false;      // x + attn(h) + ffn(h) from one attn_norm; no ffn_norm (cohere2)
    bool rope_window_only = false;  // RoPE only on sliding-window layers, none on global ones (cohere2)
    float logit_scale = 1.0f;       // logits multiplied by this (cohere2's logit_scale)
};

struct TransformerHparams {
    std::string arch;  // general.architecture, also the metadata key prefix
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
    float rms_eps = 1e-5f;  // epsilon of every norm (attention.layer_norm_epsilon for NormKind::Layer)
    float rope_base = 10000.0f;
    ArchOptions opt;
    RopeYarn yarn;  // rope.scaling.type "yarn" (ext_factor 0: off)
    std::vector<LayerKind> layer_kinds;  // (n_layer) window and rope base of each layer
};

struct TransformerLayer {
    std::vector<float> attn_norm;       // (n_embd)
    std::vector<float> ffn_norm;        // (n_embd); empty when opt.parallel_ffn
    std::vector<float> post_attn_norm;  // (n_embd); empty unless opt.post_norms
    std::vector<float> post_ffn_norm;   // (n_embd); empty unless opt.post_norms
    std::vector<float> q_norm;          // (head_dim_k); empty unless opt.qk_norm
    std::vector<float> k_norm;          // (head_dim_k); empty unless opt.qk_norm
    std::vector<float> bq;              // (n_head*head_dim_k); empty when the file has no bias
    std::vector<float> bk;              // (n_head_kv*head_dim_k); empty when absent
    std::vector<float> bv;              // (n_head_kv*head_dim_v); empty when absent
    // Fused tensors (phi3's attn_qkv, ffn_up holding gate and up) are loaded as row-range views,
    // so the forward pass never sees them.
    WeightMatrix wq;      // (n_head*head_dim_k, n_embd)
    WeightMatrix wk;      // (n_head_kv*head_dim_k, n_embd)
    WeightMatrix wv;      // (n_head_kv*head_dim_v, n_embd)
    WeightMatrix wo;      // (n_embd, n_head*head_dim_v)
    WeightMatrix w_gate;  // (n_ff, n_embd)
    WeightMatrix w_up;    // (n_ff, n_embd)
    WeightMatrix w_down;  // (n_embd, n_ff)
};

struct TransformerWeights {
    WeightMatrix tok_embd;                // (n_vocab, n_embd)
    WeightMatrix output;                  // (n_vocab, n_embd); token_embd when the file ties them
    std::vector<float> output_norm;       // (n_embd)
    std::vector<float> rope_freqs;        // (n_rot/2) per-pair frequency divisors; empty when absent
    std::vector<TransformerLayer> layers;  // (n_layer)
};

// Architectures the engine runs, comma-separated (for MODEL_UNSUPPORTED_ARCH messages).
const char* transformer_supported_archs();
bool transformer_arch_supported(const std::string& arch);

// Reads `<arch>.*` hyper-parameters and validates every tensor's presence, shape and type.
// MODEL_INVALID / MODEL_UNSUPPORTED_TYPE naming the key or tensor; never aborts.
Status transformer_load(const Model& model, const KernelTable* kt, TransformerHparams* hp, TransformerWeights* w);
// Repacks the matrices of layers [0, n_layers) and (with `output`) the output projection for the
// CPU kernels (repack.h); a device's are left as they are in the file. OUT_OF_MEMORY when a copy
// cannot be made.
Status transformer_repack(const Model& model, TransformerWeights* w, int32_t n_layers, bool output);

Status transformer_context_create(std::shared_ptr<Model> model, const ContextParams& params, const KernelTable* kt,
                                  std::unique_ptr<Context>* out);

// Each layer's KV cache configuration for a context of n_ctx tokens (0: the training context;
// kContextUnbounded) with options o: what createContext would build. INVALID_ARGUMENT as it would.
Status transformer_kv_configs(const TransformerHparams& hp, int64_t n_ctx, const KvOptions& o, std::vector<KvLayerConfig>* out);

// Memory a context of the model would take, before creating it (estimateMemory, contextSize "auto").
struct MemoryEstimate {
    int64_t weights = 0;  // tensor data of the file (mapped; the packed copies replace the pages they come from)
    int64_t kv = 0;       // KV caches with every slot written, and their position tables
    int64_t compute = 0;  // scratch of one forward pass of n_batch rows, logits, sampler
    int64_t n_ctx = 0;    // the context size it was computed for (kContextUnbounded: bounded caches only)
};
Status transformer_estimate(const Model& model, const ContextParams& params, MemoryEstimate* out);

// One sequence's part of a batched step (batcher.h schedules the steps).
struct BatchSeq {
    Context* ctx;           // a transformer context created with the stepper's pool (ContextParams::pool)
    const int32_t* tokens;  // m tokens decoded at the context's position (m <= its n_batch)
    int32_t m;
    bool logits;            // compute the last row's logits (kept by the context for sample()); false:
                            // none (a prompt's middle chunk)
    float* logits_out;      // null, or where a copy of them goes (n_vocab)
};

// Decodes several contexts of one model in one forward pass: each matrix once over the rows of all
// sequences, attention per sequence over its own cache and policy. A sequence's results equal its
// decode alone bit for bit (the kernels compute each row on its own, attention tiles are aligned to
// absolute positions), whatever shares its step.
class BatchStepper {
public:
    virtual ~BatchStepper() = default;
    // INVALID_ARGUMENT when the contexts are not transformer contexts of one model on this pool;
    // CONTEXT_FULL when a full cache cannot take a sequence's rows (nothing runs then).
    virtual Status step(const BatchSeq* seqs, size_t n) = 0;
};
std::unique_ptr<BatchStepper> transformer_batch_stepper(std::shared_ptr<ThreadPool> pool);

}  // namespace rl
