// An inference context over a loaded model: KV cache, position, sampler state.
// One context is used by one thread at a time (the addon serializes calls).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "../util/status.h"
#include "model.h"

namespace rl {

struct ContextParams {
    int32_t n_ctx = 2048;   // KV cache capacity in tokens (0: the model's training context)
    int32_t n_batch = 512;  // prefill chunk size
    int32_t n_threads = 0;  // 0: physical cores
    uint64_t seed = 0;      // sampler seed
};

struct SamplerParams {
    float temperature = 0.8f;  // 0: greedy (argmax)
    int32_t top_k = 40;        // 0: off
    float top_p = 0.95f;       // 1: off
    float min_p = 0.05f;       // 0: off
    float repeat_penalty = 1.0f;     // 1: off
    float frequency_penalty = 0.0f;  // 0: off
    float presence_penalty = 0.0f;   // 0: off
    int32_t penalty_last_n = 64;     // tokens of history the penalties look at (-1: all in context)
    std::vector<std::pair<int32_t, float>> logit_bias;  // added to logits before sampling (-inf bans)
};

// How one layer attends: full causal attention, or a sliding window of the last `window` positions
// (the query's own included). Read by stats and by the KV-cache policies of LONG_CONTEXT.md.
struct LayerKind {
    int32_t window = 0;       // 0: full attention; else keys at pos - window < p <= pos
    float rope_base = 0.0f;   // RoPE frequency base of this layer
    float rope_scale = 1.0f;  // positions multiplied by this (linear RoPE scaling)
};

class Context {
public:
    // MODEL_UNSUPPORTED_ARCH, MODEL_UNSUPPORTED_TYPE (naming the tensor), INVALID_ARGUMENT,
    // OUT_OF_MEMORY; never aborts on a hostile file (missing or mis-shaped tensors are MODEL_INVALID).
    static Status create(std::shared_ptr<Model> model, const ContextParams& params, std::unique_ptr<Context>* out);
    virtual ~Context() = default;

    // Runs `tokens` at the current position (prefill in n_batch chunks) and advances the position.
    // logits receives n_vocab floats for the last token, or for every token when all_logits.
    // CONTEXT_FULL when position + n would exceed n_ctx; INVALID_ARGUMENT for ids out of range.
    // `cancel` is polled between layers/chunks: when set, returns ABORTED and the position is rolled
    // back to where it was before the call (the context stays usable).
    virtual Status decode(const int32_t* tokens, size_t n, bool all_logits, std::vector<float>* logits,
                          const std::atomic<bool>* cancel) = 0;

    // Samples the next token from the logits of the last decoded token (history = tokens in context).
    virtual Status sample(const SamplerParams& params, int32_t* token) = 0;

    // Reseeds the sampler's random stream.
    virtual void set_seed(uint64_t seed) = 0;

    virtual int32_t position() const = 0;  // tokens in the context
    virtual int32_t n_ctx() const = 0;
    virtual int32_t n_vocab() const = 0;
    virtual void reset() = 0;  // position 0, cache cleared
    virtual const std::vector<LayerKind>& layer_kinds() const = 0;  // (n_layer)
};

}  // namespace rl
