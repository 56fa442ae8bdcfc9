// An inference context over a loaded model: KV cache, position, sampler state.
// One context is used by one thread at a time (the addon serializes calls).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "../kv/kv_cache.h"
#include "thread_pool.h"
#include "../util/state_io.h"
#include "../util/status.h"
#include "model.h"

namespace rl {

// KV cache policy as the user asked for it; resolved per layer at create (see kv_cache.h).
enum class KvPolicyChoice : uint8_t { Auto, Full, Window, Sinks, H2O, Recall };

struct KvOptions {
    KvPolicyChoice policy = KvPolicyChoice::Auto;
    int32_t window = 0;   // window: slots (0: the model's window, else min(n_ctx, trained context))
    int32_t sinks = -1;   // sinks: S (-1: 4)
    int32_t recent = -1;  // sinks: R (-1: budget - S); h2o: recent budget (-1: budget - heavy)
    int32_t heavy = -1;   // h2o (-1: half the budget); budget = min(n_ctx, trained context)
    int32_t block = -1;       // recall: positions per block (-1: 64)
    int32_t top_blocks = -1;  // recall: blocks selected per query and KV head (-1: 8)
    bool remap = true;        // recall: positions "remap" (else "absolute")
    std::string store;        // recall: "" or "memory", else a file the store is mapped from
    KvType type = KvType::F16;
};

constexpr int64_t kContextUnbounded = -1;

struct ContextParams {
    int64_t n_ctx = 2048;   // full-cache capacity in tokens (0: the model's training context; -1: unbounded)
    int32_t n_batch = 512;  // prefill chunk size
    int32_t n_threads = 0;  // 0: physical cores
    uint64_t seed = 0;      // sampler seed
    int32_t attn_splits = 0;  // single-token attention split into this many KV ranges (0: auto)
    KvOptions kv;
    // A pool to run on instead of starting one (n_threads then ignored): a batcher's, shared by the
    // contexts whose work it runs one step at a time (never two calls at once).
    std::shared_ptr<ThreadPool> pool;
};

// How embed() turns per-token vectors into one: none (every token's), mean, first token, last token.
enum class Pooling : uint8_t { None, Mean, Cls, Last };

struct KvLayerStats {
    KvLayerConfig config;
    int64_t capacity = 0;  // slots
    int64_t held = 0;      // tokens held now
};

struct ContextStats {
    int64_t tokens = 0;    // tokens processed since the last reset
    int64_t kv_bytes = 0;  // KV storage allocated, all layers (address space: rows are mapped as first written)
    int64_t kv_used_bytes = 0;  // KV rows written so far, all layers: the memory the cache occupies
    int64_t repacked_bytes = 0;  // weight copies in the packed 8-row layout (the model's, shared)
    KvType type = KvType::F16;
    std::vector<KvLayerStats> layers;
    int32_t gpu_layers = 0;    // layers running on a GPU (the last ones)
    int64_t device_bytes = 0;  // this context's device memory (their KV caches and scratch)
    int64_t store_bytes = 0;        // recall: rows in the stores, all layers
    int64_t recall_blocks = 0;      // recall: blocks in the stores, all layers
    int64_t recall_selections = 0;  // recall: blocks selected since the last reset (queries x layers x KV heads)
    int64_t attended_keys = 0;      // recall: most keys one query attended in one layer and KV head since the last reset
    std::string gpu_note;      // why the model's GPU layers run on the CPU in this context ("" when they do not)
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
    // Grammar: bit i of allow[i / 32] set = token i may be sampled (empty: every token). Tokens
    // outside it are banned before the penalties and the bias.
    std::vector<uint32_t> allow;
};

// How one layer attends: full causal attention, or a sliding window of the last `window` positions
// (the query's own included). Read by stats and by the KV-cache policies of LONG_CONTEXT.md.
struct LayerKind {
    int32_t window = 0;       // 0: full attention; else keys at pos - window < p <= pos
    float rope_base = 0.0f;   // RoPE frequency base of this layer
    float rope_scale = 1.0f;  // positions multiplied by this (linear RoPE scaling; YaRN's 1 / factor)
    bool yarn = false;        // YaRN scaling applies to this layer (its parameters: the model's)
};

class Context {
public:
    // MODEL_UNSUPPORTED_ARCH, MODEL_UNSUPPORTED_TYPE (naming the tensor), INVALID_ARGUMENT,
    // OUT_OF_MEMORY; never aborts on a hostile file (missing or mis-shaped tensors are MODEL_INVALID).
    static Status create(std::shared_ptr<Model> model, const ContextParams& params, std::unique_ptr<Context>* out);
    virtual ~Context() = default;

    // Runs `tokens` at the current position (prefill in n_batch chunks) and advances the position.
    // logits receives n_vocab floats for the last token, or for every token when all_logits.
    // CONTEXT_FULL when a full-cache layer would exceed n_ctx; INVALID_ARGUMENT for ids out of range.
    // `cancel` is polled between layers/chunks: when set, returns ABORTED and the context stays
    // usable. With only full caches the position rolls back to where it was before the call; with
    // ring caches (which overwrite old rows) the chunks completed before the cancel are kept.
    virtual Status decode(const int32_t* tokens, size_t n, bool all_logits, std::vector<float>* logits,
                          const std::atomic<bool>* cancel) = 0;

    // What decode() would refuse before any work: ids out of range, CONTEXT_FULL.
    virtual Status check_decode(const int32_t* tokens, size_t n) const {
        (void)tokens;
        (void)n;
        return status_ok();
    }
    // Rows a batched step may take from this context at once (its n_batch); 0: it cannot join
    // batched steps (batcher.h runs its decodes alone). Only transformer contexts return > 0: the
    // batch stepper relies on it.
    virtual int32_t batch_rows() const { return 0; }

    // Samples the next token from the logits of the last decoded token (history = tokens in context).
    virtual Status sample(const SamplerParams& params, int32_t* token) = 0;

    // Log-probabilities (natural log of the softmax of the raw logits, no temperature or penalties)
    // of `token` and of the `top` most likely tokens (ties: lower id first), from the logits of the
    // last decoded token. INVALID_ARGUMENT when there are none.
    virtual Status logprobs(int32_t token, int32_t top, float* logprob, std::vector<std::pair<int32_t, float>>* alts) const {
        (void)token, (void)top, (void)logprob, (void)alts;
        return status_error("UNSUPPORTED", "this context has no token probabilities");
    }

    // Reseeds the sampler's random stream.
    virtual void set_seed(uint64_t seed) = 0;

    virtual int64_t position() const = 0;  // tokens processed since the last reset
    virtual int64_t n_ctx() const = 0;     // kContextUnbounded when no layer has a full cache
    virtual int32_t n_vocab() const = 0;
    virtual void reset() = 0;  // position 0, cache cleared
    // Forgets positions >= n, so the next decode continues at n (a chat rewinds to the prefix its next
    // rendering shares). Full caches always; window and sinks caches while nothing has been evicted
    // (position <= their slots); h2o only n == position (its scores already hold the later queries).
    // CONTEXT_REWIND when a layer cannot; INVALID_ARGUMENT when n is outside [0, position].
    virtual Status truncate(int64_t n) = 0;
    // Tokens in the cache, oldest first, when the context keeps them all (some layer has a full
    // cache, or nothing was evicted yet); false otherwise.
    virtual bool tokens(std::vector<int32_t>* out) const = 0;
    virtual const std::vector<LayerKind>& layer_kinds() const = 0;  // (n_layer)
    // Embeddings: `tokens` run as a fresh sequence (the context is reset before and after) and the
    // final norm's output pooled: n_embd floats, or n * n_embd for Pooling::None. CONTEXT_FULL when
    // a full cache cannot hold them; ABORTED when cancelled.
    virtual Status embed(const int32_t* tokens, size_t n, Pooling pooling, std::vector<float>* out,
                         const std::atomic<bool>* cancel) = 0;
    // Several texts: tokens holds them one after another, lengths[i] tokens each (every length >= 1);
    // out receives each text's result of embed() in order, concatenated. Encoders run several texts
    // per forward pass (rows of all texts through every matrix, attention within each text); the
    // default runs embed() once per text.
    virtual Status embed_batch(const int32_t* tokens, const int32_t* lengths, size_t n_texts, Pooling pooling,
                               std::vector<float>* out, const std::atomic<bool>* cancel);
    // Saved state: the tokens, every layer's KV cache (ring positions, sinks, h2o scores), the
    // position, the last logits and the sampler's random state, after a header naming the model
    // (file size and a hash of its metadata and tensor table) and the KV configuration, with a
    // checksum trailer. `pending` (a sampled token the caller has not decoded yet, or -1) is kept
    // with it. Not while a decode runs.
    virtual Status save_state(StateSink* out, int32_t pending) const = 0;
    // Verifies the whole state first, then replaces this context's: STATE_MISMATCH (another model,
    // or a different KV policy/type/capacity: the message names it), STATE_CORRUPT (damaged or
    // hostile); in both cases the context is unchanged.
    virtual Status load_state(StateSource* in, int32_t* pending) = 0;
    // Safe to call while a decode runs on another thread (a snapshot taken after each decode).
    virtual ContextStats stats() const = 0;
    // Position per slot (-1 empty) and, for h2o, accumulated scores, of one layer and KV head.
    // Not while a decode runs. INVALID_ARGUMENT for a layer or head out of range.
    virtual Status kv_slots(int32_t layer, int32_t head, std::vector<int64_t>* pos, std::vector<double>* scores) const = 0;
};

// INVALID_ARGUMENT for no tokens or an id outside [0, n_vocab) (`fn` names the caller).
Status check_token_ids(const char* fn, const int32_t* tokens, size_t n, int32_t n_vocab);

}  // namespace rl
