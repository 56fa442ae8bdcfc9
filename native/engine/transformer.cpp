// The shared decoder forward pass: embeddings (optionally scaled), n_layer x (RMSNorm or LayerNorm,
// GQA attention with optional Q/K/V biases, per-head Q/K norms, RoPE in NORM or NEOX order (none on
// cohere2's global layers), logit soft-capping and sliding windows over an f16 KV cache, optional
// post-norm; the norm (or, in parallel blocks, the attention's normed input), gated SiLU/GELU FFN,
// optional post-norm), final norm, the output projection, optional logit scale and final
// soft-capping. The llama path is the same arithmetic in the same order as before the other
// architectures were added. Buffers are sized at create so decode allocates nothing per token.
#include "transformer.h"

#include "repack.h"
#include "transformer_gpu.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <mutex>
#include <new>
#include <string>
#include <tuple>

#include "../gguf/gguf_types.h"
#include "../kernels/kernels.h"
#include "../kv/attention.h"
#include "../kv/kv_store.h"
#include "ops.h"
#include "sampler.h"

namespace rl {

namespace {

constexpr int32_t kMaxSplits = 256;       // flash-decoding splits per KV head at most
constexpr int64_t kSplitMinKeys = 256;    // auto: split a single query's keys only past this many...
constexpr int64_t kSplitKeysPerPart = 128;  // ...and into parts of at least this many keys
constexpr int64_t kHistoryBounded = 1 << 16;  // sampler history kept when no layer has a full cache

class TransformerContext final : public Context {
    friend class TransformerBatchStepper;

public:
    Status init(std::shared_ptr<Model> model, const ContextParams& params, const KernelTable* kt);

    Status decode(const int32_t* tokens, size_t n, bool all_logits, std::vector<float>* logits,
                  const std::atomic<bool>* cancel) override;
    Status sample(const SamplerParams& params, int32_t* token) override;
    Status logprobs(int32_t token, int32_t top, float* logprob, std::vector<std::pair<int32_t, float>>* alts) const override;
    void set_seed(uint64_t seed) override { sampler_rng_seed(&sampler_.rng, seed); }
    int64_t position() const override { return pos_; }
    int64_t n_ctx() const override { return has_full_ ? n_ctx_ : kContextUnbounded; }
    int32_t n_vocab() const override { return hp_.n_vocab; }
    void reset() override {
        pos_ = 0;
        hist_n_ = 0;
        has_logits_ = false;
        for (auto& kv : kv_) kv->reset();
        if (file_store_) file_store_->reset();
        recall_selections_ = 0;
        attended_keys_ = 0;
        snapshot();
    }
    Status truncate(int64_t n) override;
    Status check_decode(const int32_t* tokens, size_t n) const override;
    int32_t batch_rows() const override { return gpu_ ? 0 : n_batch_; }  // device layers run alone
    Status save_state(StateSink* out, int32_t pending) const override;
    Status embed(const int32_t* tokens, size_t n, Pooling pooling, std::vector<float>* out,
                 const std::atomic<bool>* cancel) override;
    Status load_state(StateSource* in, int32_t* pending) override;
    bool tokens(std::vector<int32_t>* out) const override {
        if (hist_n_ != pos_) return false;  // the history keeps only the last tokens of a long stream
        out->assign(hist_.begin(), hist_.begin() + hist_n_);
        return true;
    }
    const std::vector<LayerKind>& layer_kinds() const override { return hp_.layer_kinds; }
    ContextStats stats() const override {
        std::lock_guard<std::mutex> lock(stats_mutex_);
        return stats_;
    }
    Status kv_slots(int32_t layer, int32_t head, std::vector<int64_t>* pos, std::vector<double>* scores) const override {
        if (layer < 0 || layer >= hp_.n_layer)
            return status_error("INVALID_ARGUMENT", "layer " + std::to_string(layer) + " is outside [0, " +
                                                        std::to_string(hp_.n_layer) + ")");
        if (head < 0 || head >= hp_.n_head_kv)
            return status_error("INVALID_ARGUMENT", "KV head " + std::to_string(head) + " is outside [0, " +
                                                        std::to_string(hp_.n_head_kv) + ")");
        kv_[(size_t)layer]->slots(head, pos, scores);
        return status_ok();
    }

private:
    Status resolve_kv(const ContextParams& params, std::vector<KvLayerConfig>* out) const;
    // Runs m tokens at positions pos0.. through every layer, leaving the residual stream in x_ —
    // for the last layer only rows [out_first, m), the ones whose logits are read (m: none); every
    // row's K/V is stored in every layer. false when cancelled between layers.
    bool forward_layers(const int32_t* tokens, int32_t m, int64_t pos0, int32_t out_first,
                        const std::atomic<bool>* cancel);
    // Token embeddings (scaled as the architecture says) of m tokens into x (m, n_embd).
    void embed_rows(const int32_t* tokens, int32_t m, float* x) const;
    // Layer il's attention for the m rows in q_/k_/v_ at positions pos0..: RoPE, the K/V rows stored
    // in the cache (every row), the attention of rows [r0, m) into att_.
    Status attend_layer(int32_t il, int32_t m, int64_t pos0, int32_t r0);
    // Scratch for chunks of up to `rows` rows, grown on first need, so an idle context holds none:
    // the attention buffers, and with `full` those of its own forward passes (a batched step brings
    // its own). OUT_OF_MEMORY when it cannot grow.
    Status reserve_rows(int32_t rows, bool full);
    // Attention of the chunk's queries [r0, m) over layer kv's cache and the staged rows, into att_.
    void attention(const KvLayer& kv, int32_t m, int64_t pos0, int32_t r0);
    // h2o: token by token, evict/insert then attend, accumulating each held token's probability.
    void attention_h2o(KvLayer& kv, int32_t m, int64_t pos0);
    // recall: per query and KV head, score the complete blocks, take the top ones, attend to the
    // sinks, the selected blocks and the tail as runs merged by log-sum-exp (rows [r0, m)).
    Status attention_recall(KvLayer& kv, int32_t il, int32_t m, int64_t pos0, int32_t r0);
    // Rotates n heads of head_dim_k floats (contiguous) by delta positions with layer kind's RoPE.
    void rotate_heads(const LayerKind& kind, int64_t delta, float* x, int32_t n) const;
    // Final norm and output projection of rows [first, first+count) of x_ into out (count, n_vocab).
    void output_logits(int32_t first, int32_t count, float* out);
    void push_history(const int32_t* tokens, int32_t m);
    // INVALID_ARGUMENT for no tokens or an id outside the vocabulary (`fn` names the caller).
    Status check_tokens(const char* fn, const int32_t* tokens, size_t n) const;
    void snapshot();

    std::shared_ptr<Model> model_;  // keeps the mapped weights alive
    const KernelTable* kt_ = nullptr;
    TransformerHparams hp_;
    TransformerWeights w_;
    std::shared_ptr<ThreadPool> pool_;  // own, or a batcher's shared by the model's batched contexts
    Sampler sampler_;
    std::unique_ptr<KvFileStore> file_store_;   // recall layers' store when kv.store is a path
    std::vector<std::unique_ptr<KvLayer>> kv_;  // (n_layer)
    AttnShape attn_;

    int64_t n_ctx_ = 0;   // capacity of full-cache layers
    bool has_full_ = false;  // some layer keeps every token (n_ctx bounds the position)
    bool has_sinks_ = false;
    bool has_recall_ = false;
    int64_t recall_selections_ = 0;  // since the last reset
    int64_t attended_keys_ = 0;      // recall: of the last decode
    std::vector<float> recall_work_;    // per worker: recall partials, rotated queries, block scores
    std::vector<int64_t> recall_idx_;   // per worker: block order
    std::vector<int64_t> recall_sel_;   // per worker: blocks selected in a call
    std::vector<int64_t> recall_keys_;  // per worker: most keys one query attended in a call
    int32_t n_batch_ = 0;
    int32_t attn_splits_ = 0;
    int64_t pos_ = 0;
    bool has_logits_ = false;
    int64_t q_dim_ = 0, k_dim_ = 0, v_dim_ = 0, o_dim_ = 0;

    // scratch, sized at create
    std::vector<float> x_;       // (n_batch, n_embd) residual stream
    std::vector<float> h_;       // (n_batch, n_embd) normed input of a block
    std::vector<float> q_;       // (n_batch, q_dim) queries rotated at their position
    std::vector<float> q_raw_;   // (n_batch, q_dim) before RoPE (sinks layers)
    std::vector<float> q_sink_;  // (n_batch, q_dim) rotated at the cache position (sinks layers)
    std::vector<float> k_;       // (n_batch, k_dim)
    std::vector<float> v_;       // (n_batch, v_dim)
    std::vector<uint8_t> k_stage_;  // (n_batch) K rows of the chunk in the cache's format
    std::vector<uint8_t> v_stage_;  // (n_batch) V rows
    std::vector<float> att_;     // (n_batch, o_dim) attention output before Wo
    std::vector<float> o_;       // (n_batch, n_embd) block output added to x
    std::vector<float> gate_;    // (n_batch, n_ff)
    std::vector<float> up_;      // (n_batch, n_ff)
    std::vector<float> rope_cs_;  // (n_rot/2, 2)
    std::vector<float> parts_;   // flash-decoding partials (n_head_kv, kMaxSplits, partial)
    std::vector<float> work_;    // per worker: partial + row scratch + h2o probabilities
    int64_t repacked_bytes_ = 0;  // the model's packed weight copies, complete once its weights are loaded
    size_t work_stride_ = 0;
    std::vector<int64_t> held_;  // per worker: h2o held slots
    int64_t h2o_slots_ = 0;      // largest h2o slot count of any layer
    std::vector<uint8_t> act_;   // quantized activations, max over matrices of (n_batch rows)
    std::vector<float> last_logits_;  // (n_vocab) logits of the last decoded token
    std::vector<int32_t> hist_;       // sampler history buffer, the last hist_n_ tokens at its front
    int64_t hist_n_ = 0;
    int64_t hist_keep_ = 0;           // tokens of history the sampler sees at most

    std::unique_ptr<GpuForward> gpu_;  // the model's device layers, when they run here
    std::string gpu_note_;             // why they do not (a KV option the device lacks)
    Status gpu_status_;                // a device failure forward_layers stopped for

    mutable std::mutex stats_mutex_;
    ContextStats stats_;
};

Status TransformerContext::resolve_kv(const ContextParams& params, std::vector<KvLayerConfig>* out) const {
    return transformer_kv_configs(hp_, n_ctx_, params.kv, out);
}

Status TransformerContext::init(std::shared_ptr<Model> model, const ContextParams& params, const KernelTable* kt) {
    model_ = std::move(model);
    kt_ = kt;
    Status st = transformer_load(*model_, kt, &hp_, &w_);
    if (!st.ok()) return st;

    n_ctx_ = params.n_ctx == 0 ? hp_.n_ctx_train : params.n_ctx;
    q_dim_ = (int64_t)hp_.n_head * hp_.head_dim_k;
    k_dim_ = (int64_t)hp_.n_head_kv * hp_.head_dim_k;
    v_dim_ = (int64_t)hp_.n_head_kv * hp_.head_dim_v;
    o_dim_ = (int64_t)hp_.n_head * hp_.head_dim_v;

    const KvType type = params.kv.type;
    if (type != KvType::F16 && (hp_.head_dim_k % 32 != 0 || hp_.head_dim_v % 32 != 0))
        return status_error("INVALID_ARGUMENT", std::string("kv.type \"") + kv_type_name(type) +
                                                    "\" stores blocks of 32 along the head dimension, but this model's "
                                                    "key/value heads have " + std::to_string(hp_.head_dim_k) + "/" +
                                                    std::to_string(hp_.head_dim_v) + " dimensions; use kv.type \"f16\"");
    std::vector<KvLayerConfig> configs;
    if (!(st = resolve_kv(params, &configs)).ok()) return st;
    kv_.clear();
    for (const KvLayerConfig& c : configs) {
        has_full_ |= c.policy == KvPolicy::Full;
        has_sinks_ |= c.policy == KvPolicy::Sinks;
        has_recall_ |= c.policy == KvPolicy::Recall;
        if (c.policy == KvPolicy::H2O) h2o_slots_ = std::max<int64_t>(h2o_slots_, (int64_t)c.heavy + c.recent + 1);
        kv_.push_back(std::make_unique<KvLayer>());
        if (!(st = kv_.back()->init(c, type, hp_.n_head_kv, hp_.head_dim_k, hp_.head_dim_v)).ok()) return st;
        if (c.policy == KvPolicy::Recall && !params.kv.store.empty() && params.kv.store != "memory") {
            if (!file_store_) {
                file_store_ = std::make_unique<KvFileStore>();
                if (!(st = file_store_->open(params.kv.store)).ok()) return st;
            }
            kv_.back()->set_file_store(file_store_.get());
        }
    }
    n_batch_ = has_full_ ? (int32_t)std::min<int64_t>(params.n_batch, n_ctx_) : params.n_batch;
    attn_splits_ = params.attn_splits;
    int32_t cpu_layers = hp_.n_layer;
    if (model_->gpu) {
        auto g = std::make_unique<GpuForward>();
        st = g->init(hp_, model_->gpu, w_.rope_freqs, n_batch_, n_ctx_, type, configs);
        if (st.ok()) {
            gpu_ = std::move(g);
            cpu_layers = gpu_->first_layer();
        } else if (st.code == "GPU_UNSUPPORTED" || st.code == "GPU_OUT_OF_MEMORY") {
            gpu_note_ = st.message;  // this context runs every layer on the CPU
        } else {
            return st;
        }
    }
    if (!(st = transformer_repack(*model_, &w_, cpu_layers, !(gpu_ && gpu_->has_output()))).ok()) return st;
    repacked_bytes_ = (int64_t)packed_weights_bytes(*model_);

    attn_.group = hp_.n_head / hp_.n_head_kv;
    attn_.head_dim_k = hp_.head_dim_k;
    attn_.head_dim_v = hp_.head_dim_v;
    attn_.scale = hp_.opt.attn_scale;
    attn_.softcap = hp_.opt.attn_softcap;
    attn_.type = type;
    attn_.kt = kt;

    rope_cs_.assign((size_t)hp_.n_rot + 2, 0.0f);
    last_logits_.assign((size_t)hp_.n_vocab, 0.0f);
    hist_keep_ = has_full_ ? n_ctx_ : kHistoryBounded;
    hist_.assign((size_t)(has_full_ ? n_ctx_ : 2 * kHistoryBounded), 0);

    if (params.pool) {
        pool_ = params.pool;
    } else {
        pool_ = std::make_shared<ThreadPool>();
        st = pool_->init(params.n_threads > 0 ? params.n_threads : 1);
        if (!st.ok()) return st;
    }
    // per worker: a decode partial + tile scratch, h2o's rows and probabilities, or a prefill block
    const size_t R = (size_t)kAttnBlock * attn_.group;
    work_stride_ = std::max({attn_partial_floats(attn_) + attn_block_scratch_floats(attn_, attn_.group),
                             (size_t)kAttnKeys * (2 * hp_.head_dim_k + hp_.head_dim_v + attn_.group) +
                                 (size_t)attn_.group * h2o_slots_,
                             R * (2 * hp_.head_dim_k + 2 + hp_.head_dim_v) + attn_block_scratch_floats(attn_, (int32_t)R)});
    snapshot();
    return sampler_init(&sampler_, hp_.n_vocab, params.seed);
}

Status TransformerContext::reserve_rows(int32_t rows, bool full) {
    try {
        const size_t B = (size_t)rows;
        if (q_.size() < B * q_dim_) {
            q_.resize(B * q_dim_);
            if (has_sinks_ || has_recall_) q_raw_.resize(B * q_dim_);
            if (has_sinks_) q_sink_.resize(B * q_dim_);
            k_.resize(B * k_dim_);
            v_.resize(B * v_dim_);
            k_stage_.resize(B * kv_.front()->k_row_bytes());
            v_stage_.resize(B * kv_.front()->v_row_bytes());
            att_.resize(B * o_dim_);
        }
        if (work_.empty()) {
            parts_.assign((size_t)hp_.n_head_kv * kMaxSplits * attn_partial_floats(attn_), 0.0f);
            work_.assign((size_t)pool_->n_threads() * work_stride_, 0.0f);
            held_.assign((size_t)pool_->n_threads() * h2o_slots_, 0);
        }
        if (full && x_.size() < B * hp_.n_embd) {
            x_.resize(B * hp_.n_embd);
            h_.resize(B * hp_.n_embd);
            o_.resize(B * hp_.n_embd);
            gate_.resize(B * hp_.n_ff);
            up_.resize(B * hp_.n_ff);
            size_t act = matmul_act_bytes(w_.output, rows);  // the output runs on at most these rows
            for (const TransformerLayer& L : w_.layers)
                for (const WeightMatrix* m : {&L.wq, &L.wk, &L.wv, &L.wo, &L.w_gate, &L.w_up, &L.w_down})
                    act = std::max(act, matmul_act_bytes(*m, rows));
            act_.resize(act + 64);
        }
    } catch (const std::bad_alloc&) {
        return status_error("OUT_OF_MEMORY", "no memory for the scratch of " + std::to_string(rows) + " rows");
    }
    return status_ok();
}

void TransformerContext::snapshot() {
    ContextStats s;
    s.tokens = pos_;
    s.type = attn_.type;
    s.repacked_bytes = repacked_bytes_;
    const int32_t n_cpu = gpu_ ? gpu_->first_layer() : hp_.n_layer;
    for (int32_t il = 0; il < (int32_t)kv_.size(); il++) {
        const KvLayer& kv = *kv_[(size_t)il];
        if (il >= n_cpu) {  // a device layer: its cache is in device_bytes
            s.layers.push_back(KvLayerStats{kv.config(), kv.n_slots(), gpu_->held(il, pos_)});
            continue;
        }
        s.kv_bytes += (int64_t)kv.bytes();
        s.kv_used_bytes += kv.state_rows() * (int64_t)(kv.k_row_bytes() + kv.v_row_bytes());
        s.layers.push_back(KvLayerStats{kv.config(), kv.n_slots(), kv.held()});
        s.store_bytes += (int64_t)kv.store_bytes();
        s.recall_blocks += kv.recall_blocks();
    }
    s.recall_selections = recall_selections_;
    s.attended_keys = attended_keys_;
    s.gpu_layers = hp_.n_layer - n_cpu;
    s.device_bytes = gpu_ ? gpu_->device_bytes() : 0;
    s.gpu_note = gpu_note_;
    std::lock_guard<std::mutex> lock(stats_mutex_);
    stats_ = std::move(s);
}

void TransformerContext::attention(const KvLayer& kv, int32_t m, int64_t pos0, int32_t r0) {
    const int32_t n_kv = hp_.n_head_kv, G = attn_.group, dk = hp_.head_dim_k, dv = hp_.head_dim_v;
    const bool sinks = kv.config().policy == KvPolicy::Sinks;
    const size_t pf = attn_partial_floats(attn_);
    // query rows of position t (rotated at t; and at the sinks' cache position, or the same rows)
    auto q0_of = [&](int32_t t, int32_t g) { return q_.data() + t * q_dim_ + (int64_t)g * G * dk; };
    auto rotated = [&](int32_t t) { return sinks && kv.sink_query_pos(pos0 + t) != pos0 + t; };
    auto q1_of = [&](int32_t t, int32_t g) {
        return rotated(t) ? q_sink_.data() + t * q_dim_ + (int64_t)g * G * dk : q0_of(t, g);
    };
    auto keys = [&](int32_t g) { return AttnKeys{&kv, g, k_stage_.data(), v_stage_.data(), pos0}; };

    if (m - r0 == 1) {
        // One query: its tiles split into ranges merged by log-sum-exp (flash-decoding).
        const int32_t t = r0;
        AttnView view;
        attn_view(kv, pos0 + t, 1, &view);
        const int64_t n_tiles = view.n_tiles(), n_keys = view.n_keys();
        int32_t splits = 1;
        if (attn_splits_ > 0) {
            splits = attn_splits_;
        } else if (pool_->n_threads() > 1 && n_keys >= kSplitMinKeys) {
            const int64_t want = (2 * pool_->n_threads() + n_kv - 1) / n_kv;  // ~2 ranges per thread
            splits = (int32_t)std::max<int64_t>(1, std::min<int64_t>(want, n_keys / kSplitKeysPerPart));
        }
        splits = std::min(splits, kMaxSplits);
        const int64_t work = n_keys * (int64_t)(dk + dv) * G / splits;
        pool_->parallel_for_work((int64_t)n_kv * splits, work, [&](int64_t begin, int64_t end, int worker) {
            float* scratch = work_.data() + (size_t)worker * work_stride_;
            for (int64_t item = begin; item < end; item++) {
                const int32_t g = (int32_t)(item / splits), sp = (int32_t)(item % splits);
                float* part = splits > 1 ? parts_.data() + (size_t)item * pf : scratch;
                attn_block(attn_, keys(g), view, q0_of(t, g), q1_of(t, g), n_tiles * sp / splits,
                           n_tiles * (sp + 1) / splits, part, part + G, part + 2 * G, scratch + pf);
                if (splits == 1) attn_finish(attn_, G, part + G, part + 2 * G, att_.data() + t * o_dim_ + (int64_t)g * G * dv, dv);
            }
        });
        if (splits > 1)
            for (int32_t g = 0; g < n_kv; g++)
                attn_merge(attn_, parts_.data() + (size_t)g * splits * pf, splits, att_.data() + t * o_dim_ + (int64_t)g * G * dv);
        return;
    }

    // Prefill: blocks of kAttnBlock positions x the G heads of one KV head, each against its tiles.
    const int32_t n_blocks = (m - r0 + kAttnBlock - 1) / kAttnBlock;
    const int64_t work = (pos0 + m) * (int64_t)(dk + dv) * G * kAttnBlock;
    pool_->parallel_for_work((int64_t)n_blocks * n_kv, work, [&](int64_t begin, int64_t end, int worker) {
        const int32_t R = kAttnBlock * G;
        float* q0 = work_.data() + (size_t)worker * work_stride_;  // (R, dk)
        float* q1 = q0 + (size_t)R * dk;                             // (R, dk)
        float* ml = q1 + (size_t)R * dk;                             // m (R), l (R)
        float* o = ml + 2 * (size_t)R;                               // (R, dv)
        float* scratch = o + (size_t)R * dv;
        AttnView view;
        for (int64_t item = begin; item < end; item++) {
            const int32_t b = (int32_t)(item / n_kv), g = (int32_t)(item % n_kv);
            const int32_t t0 = r0 + b * kAttnBlock, n = std::min(kAttnBlock, m - t0);
            attn_view(kv, pos0 + t0, n, &view);
            bool two = false;
            for (int32_t t = 0; t < n; t++) {
                std::copy(q0_of(t0 + t, g), q0_of(t0 + t, g) + (size_t)G * dk, q0 + (size_t)t * G * dk);
                if (rotated(t0 + t)) two = true;
            }
            if (two)
                for (int32_t t = 0; t < n; t++)
                    std::copy(q1_of(t0 + t, g), q1_of(t0 + t, g) + (size_t)G * dk, q1 + (size_t)t * G * dk);
            attn_block(attn_, keys(g), view, q0, two ? q1 : q0, 0, view.n_tiles(), ml, ml + R, o, scratch);
            for (int32_t t = 0; t < n; t++)
                attn_finish(attn_, G, ml + R + t * G, o + (size_t)t * G * dv,
                            att_.data() + (t0 + t) * o_dim_ + (int64_t)g * G * dv, dv);
        }
    });
}

void TransformerContext::attention_h2o(KvLayer& kv, int32_t m, int64_t pos0) {
    const int32_t n_kv = hp_.n_head_kv, G = attn_.group, dk = hp_.head_dim_k, dv = hp_.head_dim_v;
    constexpr int32_t T = kAttnKeys;
    // KV heads evict independently: each worker takes its heads through every token of the chunk.
    pool_->parallel_for_work(n_kv, m * h2o_slots_ * (int64_t)(dk + dv) * G, [&](int64_t begin, int64_t end, int worker) {
        float* kr = work_.data() + (size_t)worker * work_stride_;  // (T, dk) key rows of a tile
        float* ktr = kr + (size_t)T * dk;                           // (dk, T) transposed
        float* vr = ktr + (size_t)T * dk;                           // (T, dv) value rows
        float* pt = vr + (size_t)T * dv;                            // (G, T) a tile's scores or weights
        float* prob = pt + (size_t)G * T;                           // (G, held)
        int64_t* held = held_.data() + (size_t)worker * h2o_slots_;
        const uint8_t* rows[T];
        for (int64_t g = begin; g < end; g++) {
            for (int32_t t = 0; t < m; t++) {
                const int64_t p = pos0 + t;
                kv.h2o_insert((int32_t)g, p, k_stage_.data() + (size_t)t * kv.k_row_bytes() + g * kv.k_head_bytes(),
                              v_stage_.data() + (size_t)t * kv.v_row_bytes() + g * kv.v_head_bytes());
                const int64_t n = kv.h2o_held((int32_t)g, held);
                const float* q = q_.data() + t * q_dim_ + g * G * dk;
                // every held key's score with the prefill's tile kernels (held slots gathered by 32)
                for (int64_t j0 = 0; j0 < n; j0 += T) {
                    const int32_t nt = (int32_t)std::min<int64_t>(T, n - j0);
                    for (int32_t j = 0; j < T; j++) rows[j] = j < nt ? kv.k_row(held[j0 + j]) + g * kv.k_head_bytes() : nullptr;
                    attn_load_keys(attn_, rows, kr, ktr);
                    kt_->attn_scores(q, G, dk, ktr, attn_.scale, pt);
                    for (int32_t h = 0; h < G; h++) std::copy(pt + h * T, pt + h * T + nt, prob + h * n + j0);
                }
                for (int32_t h = 0; h < G; h++) {
                    float* ph = prob + h * n;
                    if (attn_.softcap > 0)
                        for (int64_t j = 0; j < n; j++) ph[j] = attn_.softcap * std::tanh(ph[j] / attn_.softcap);
                    float mx = -INFINITY;
                    for (int64_t j = 0; j < n; j++) mx = std::max(mx, ph[j]);
                    const float sum = kt_->exp_shift(ph, n, mx);  // >= 1: the max scores exp(0)
                    kt_->scale_f32(ph, (float)(1.0 / (double)sum), n);
                }
                float* out = att_.data() + t * o_dim_ + g * G * dv;
                std::fill(out, out + (int64_t)G * dv, 0.0f);
                for (int64_t j0 = 0; j0 < n; j0 += T) {
                    const int32_t nt = (int32_t)std::min<int64_t>(T, n - j0);
                    for (int32_t j = 0; j < T; j++) rows[j] = j < nt ? kv.v_row(held[j0 + j]) + g * kv.v_head_bytes() : nullptr;
                    attn_load_values(attn_, rows, vr);
                    for (int32_t j = 0; j < nt; j++) {
                        double received = 0;
                        for (int32_t h = 0; h < G; h++) received += prob[h * n + j0 + j];
                        kv.h2o_add_score((int32_t)g, held[j0 + j], received);
                    }
                    for (int32_t h = 0; h < G; h++) std::copy(prob + h * n + j0, prob + h * n + j0 + nt, pt + h * T);
                    kt_->attn_pv(out, G, dv, pt, vr, 0, nt);
                }
                kv.h2o_evict((int32_t)g, p);
            }
        }
    });
}

void TransformerContext::rotate_heads(const LayerKind& kind, int64_t delta, float* x, int32_t n) const {
    std::vector<float> cs((size_t)hp_.n_rot + 2);  // once per stored block: not a hot loop
    const float* ff = w_.rope_freqs.empty() ? nullptr : w_.rope_freqs.data();
    ops_rope_cache(cs.data(), hp_.n_rot, delta, kind.rope_scale, kind.rope_base, ff, kind.yarn ? &hp_.yarn : nullptr);
    (hp_.opt.rope == RopeOrder::Neox ? ops_rope_apply_neox : ops_rope_apply_norm)(x, n, hp_.head_dim_k, hp_.n_rot, cs.data());
}

// Recall positions. `absolute`: every run's query is rotated at p (true distances). `remap`: the
// query sees a compacted cache — sinks at 0..S-1, the selected blocks one after the other from S,
// then the tail — and sits at vq = S + (selected positions) + (p - tail_lo). Keys stay rotated at
// their absolute positions, so each run's query is rotated at vq - (virtual start) + (true start),
// which gives every key its compacted distance (the sinks' trick, one rotation per run). With every
// block selected the compacted cache is the whole cache and vq = p.
Status TransformerContext::attention_recall(KvLayer& kv, int32_t il, int32_t m, int64_t pos0, int32_t r0) {
    const int32_t n_kv = hp_.n_head_kv, G = attn_.group, dk = hp_.head_dim_k, dv = hp_.head_dim_v;
    const KvLayerConfig& c = kv.config();
    const int64_t S = c.sinks;
    const size_t pf = attn_partial_floats(attn_);
    const int64_t max_avail = kv.recall_avail(pos0 + m - 1);
    const int64_t K = std::min<int64_t>(c.top_blocks, max_avail);  // blocks a query of this call selects at most
    // per worker: K + 2 partials, attn_block scratch, a rotated query (G, dk), RoPE table, scores
    const size_t stride = (size_t)(K + 2) * pf + attn_block_scratch_floats(attn_, G) + (size_t)G * dk +
                          (size_t)hp_.n_rot + 2 + (size_t)max_avail;
    const size_t workers = (size_t)pool_->n_threads();
    try {
        if (recall_work_.size() < workers * stride) recall_work_.resize(workers * stride);
        if (recall_idx_.size() < workers * (size_t)(max_avail + K + 2)) recall_idx_.resize(workers * (size_t)(max_avail + K + 2));
    } catch (const std::bad_alloc&) {
        return status_error("OUT_OF_MEMORY", "no memory to score " + std::to_string(max_avail) + " recall blocks");
    }
    const LayerKind& kind = hp_.layer_kinds[(size_t)il];
    const float* ff = w_.rope_freqs.empty() ? nullptr : w_.rope_freqs.data();
    auto rope = hp_.opt.rope == RopeOrder::Neox ? ops_rope_apply_neox : ops_rope_apply_norm;
    const RopeYarn* yarn = kind.yarn ? &hp_.yarn : nullptr;
    const bool use_rope = !hp_.opt.rope_window_only || kind.window > 0;
    try {
        recall_sel_.assign(workers, 0);  // no allocation after the first call
        recall_keys_.assign(workers, 0);
    } catch (const std::bad_alloc&) {
        return status_error("OUT_OF_MEMORY", "no memory for the recall counters");
    }
    int64_t* selected = recall_sel_.data();
    int64_t* keys_max = recall_keys_.data();

    const int64_t items = (int64_t)(m - r0) * n_kv;
    const int64_t work = (S + c.recent + (K + 1) * c.block + max_avail) * (int64_t)(dk + dv) * G;
    pool_->parallel_for_work(items, work, [&](int64_t begin, int64_t end, int worker) {
        float* parts = recall_work_.data() + (size_t)worker * stride;  // (K + 2, pf)
        float* scratch = parts + (size_t)(K + 2) * pf;
        float* qr = scratch + attn_block_scratch_floats(attn_, G);  // (G, dk)
        float* cs = qr + (size_t)G * dk;                            // (n_rot + 2)
        float* score = cs + hp_.n_rot + 2;                          // (n_avail)
        int64_t* idx = recall_idx_.data() + (size_t)worker * (size_t)(max_avail + K + 2);
        AttnView view;
        for (int64_t item = begin; item < end; item++) {
            const int32_t t = r0 + (int32_t)(item / n_kv), g = (int32_t)(item % n_kv);
            const int64_t p = pos0 + t, tail_lo = kv.recall_tail_lo(p);
            const float* q0 = q_.data() + t * q_dim_ + (int64_t)g * G * dk;
            const float* qraw = q_raw_.data() + t * q_dim_ + (int64_t)g * G * dk;
            const float* qs = q0;  // remap: rotated at p - tail_lo against block-frame representatives
            if (c.remap && use_rope) {
                std::copy(qraw, qraw + (size_t)G * dk, qr);
                ops_rope_cache(cs, hp_.n_rot, p - tail_lo, kind.rope_scale, kind.rope_base, ff, yarn);
                rope(qr, G, dk, hp_.n_rot, cs);
                qs = qr;
            }
            const int64_t k = kv.recall_select(g, qs, G, p, score, idx);
            selected[(size_t)worker] += k;
            // runs: the sinks, the selected blocks, the tail
            int64_t sel_len = 0;
            for (int64_t j = 0; j < k; j++) {
                int64_t lo, hi;
                kv.recall_block(idx[j], &lo, &hi);
                sel_len += hi - lo + 1;
            }
            const int64_t vq = S + sel_len + (p - tail_lo);
            auto query_at = [&](int64_t pr) -> const float* {
                if (!c.remap || pr == p || !use_rope) return q0;
                std::copy(qraw, qraw + (size_t)G * dk, qr);
                ops_rope_cache(cs, hp_.n_rot, pr, kind.rope_scale, kind.rope_base, ff, yarn);
                rope(qr, G, dk, hp_.n_rot, cs);
                return qr;
            };
            const AttnKeys keys{&kv, g, k_stage_.data(), v_stage_.data(), pos0};
            int n_parts = 0;
            int64_t n_keys = 0;
            auto run = [&](int64_t lo, int64_t hi, int64_t pr) {
                if (lo > hi) return;
                const float* q = query_at(pr);
                attn_view_run(p, lo, hi, &view);
                float* part = parts + (size_t)n_parts++ * pf;
                attn_block(attn_, keys, view, q, q, 0, view.n_tiles(), part, part + G, part + 2 * G, scratch);
                n_keys += hi - lo + 1;
            };
            run(0, std::min<int64_t>(S - 1, p), vq);
            int64_t vstart = S;
            for (int64_t j = 0; j < k; j++) {
                int64_t lo, hi;
                kv.recall_block(idx[j], &lo, &hi);
                run(lo, hi, vq - vstart + lo);
                vstart += hi - lo + 1;
            }
            run(tail_lo, p, p);
            keys_max[(size_t)worker] = std::max(keys_max[(size_t)worker], n_keys);
            attn_merge(attn_, parts, n_parts, att_.data() + t * o_dim_ + (int64_t)g * G * dv);
        }
    });
    for (size_t w = 0; w < workers; w++) {
        recall_selections_ += selected[w];
        attended_keys_ = std::max(attended_keys_, keys_max[w]);
    }
    return status_ok();
}

// Adds a bias row (none when b is empty) to each of m rows of width n (stride n).
static void add_bias(float* x, const std::vector<float>& b, int32_t m, int64_t n) {
    ops_add_bias_rows(x, b.empty() ? nullptr : b.data(), m, n, n);
}

// The block norm (RMSNorm, or cohere2's LayerNorm) of each of m rows of n.
static void norm_rows(const ArchOptions& opt, const float* x, const std::vector<float>& w, float* y, int32_t m,
                      int64_t n, float eps) {
    auto norm = opt.norm == NormKind::Layer ? ops_layernorm : ops_rmsnorm;
    for (int32_t t = 0; t < m; t++) norm(x + t * n, w.data(), y + t * n, n, eps);
}

// RMSNorm of each head_dim slice of m rows of n_heads heads, in place.
static void norm_heads(float* x, const std::vector<float>& w, int32_t m, int32_t n_heads, int32_t head_dim,
                       float eps) {
    for (int64_t r = 0; r < (int64_t)m * n_heads; r++) ops_rmsnorm(x + r * head_dim, w.data(), x + r * head_dim, head_dim, eps);
}

// Block norm, Q/K/V projections (one pass over the three matrices), biases and Q/K norms of m rows.
static void layer_qkv(const TransformerHparams& hp, const TransformerLayer& L, const float* x, float* h, float* q,
                      float* k, float* v, int32_t m, int64_t q_dim, int64_t k_dim, int64_t v_dim, ThreadPool* pool,
                      uint8_t* act) {
    const int64_t E = hp.n_embd;
    norm_rows(hp.opt, x, L.attn_norm, h, m, E, hp.rms_eps);
    const MatmulOut qkv[3] = {{&L.wq, q, q_dim}, {&L.wk, k, k_dim}, {&L.wv, v, v_dim}};
    matmul_many(pool, qkv, 3, h, E, m, act);
    add_bias(q, L.bq, m, q_dim);
    add_bias(k, L.bk, m, k_dim);
    add_bias(v, L.bv, m, v_dim);
    if (hp.opt.qk_norm) {
        norm_heads(q, L.q_norm, m, hp.n_head, hp.head_dim_k, hp.rms_eps);
        norm_heads(k, L.k_norm, m, hp.n_head_kv, hp.head_dim_k, hp.rms_eps);
    }
}

// Output projection of the attention rows, residual add, FFN block and residual add, on mr rows
// (x, h, o: stride n_embd; gate, up: stride n_ff; att: stride o_dim). h holds the attention's normed
// input (parallel blocks feed it to the FFN).
static void layer_out_ffn(const TransformerHparams& hp, const TransformerLayer& L, float* x, float* h, const float* att,
                          float* o, float* gate, float* up, int32_t mr, int64_t o_dim, ThreadPool* pool, uint8_t* act) {
    const int64_t E = hp.n_embd, F = hp.n_ff;
    const ArchOptions& opt = hp.opt;
    matmul(pool, L.wo, att, o_dim, mr, o, E, act);
    if (opt.post_norms)
        for (int32_t t = 0; t < mr; t++) ops_rmsnorm(o + t * E, L.post_attn_norm.data(), o + t * E, E, hp.rms_eps);
    for (int64_t i = 0; i < (int64_t)mr * E; i++) x[i] += o[i];

    // parallel blocks (cohere2) feed the FFN the attention's normed input, still in h
    if (!opt.parallel_ffn) norm_rows(opt, x, L.ffn_norm, h, mr, E, hp.rms_eps);
    const MatmulOut gate_up[2] = {{&L.w_gate, gate, F}, {&L.w_up, up, F}};
    matmul_many(pool, gate_up, 2, h, E, mr, act);
    // rows spread over the pool when there are several (an exp or tanh per element: ~16 work units)
    pool->parallel_for_work(mr, F * 16, [&](int64_t b, int64_t e, int) {
        if (opt.act == FfnAct::GeluTanh)
            ops_geglu(gate + b * F, up + b * F, (e - b) * F);
        else
            ops_swiglu(gate + b * F, up + b * F, (e - b) * F);
    });
    matmul(pool, L.w_down, gate, F, mr, o, E, act);
    if (opt.post_norms)
        for (int32_t t = 0; t < mr; t++) ops_rmsnorm(o + t * E, L.post_ffn_norm.data(), o + t * E, E, hp.rms_eps);
    for (int64_t i = 0; i < (int64_t)mr * E; i++) x[i] += o[i];
}

Status TransformerContext::attend_layer(int32_t il, int32_t m, int64_t pos0, int32_t r0) {
    const ArchOptions& opt = hp_.opt;
    const LayerKind& kind = hp_.layer_kinds[(size_t)il];
    KvLayer& kv = *kv_[(size_t)il];
    const KvPolicy policy = kv.config().policy;
    const float* ff = w_.rope_freqs.empty() ? nullptr : w_.rope_freqs.data();
    auto rope = opt.rope == RopeOrder::Neox ? ops_rope_apply_neox : ops_rope_apply_norm;
    const RopeYarn* yarn = kind.yarn ? &hp_.yarn : nullptr;
    const bool use_rope = !opt.rope_window_only || kind.window > 0;  // cohere2's global layers: no RoPE
    if (policy == KvPolicy::Sinks || policy == KvPolicy::Recall) std::copy(q_.begin(), q_.begin() + m * q_dim_, q_raw_.begin());
    for (int32_t t = 0; t < m; t++) {
        if (use_rope) {
            ops_rope_cache(rope_cs_.data(), hp_.n_rot, pos0 + t, kind.rope_scale, kind.rope_base, ff, yarn);
            rope(q_.data() + t * q_dim_, hp_.n_head, hp_.head_dim_k, hp_.n_rot, rope_cs_.data());
            rope(k_.data() + t * k_dim_, hp_.n_head_kv, hp_.head_dim_k, hp_.n_rot, rope_cs_.data());
        }
        kv_store_row(attn_.type, kt_, k_.data() + t * k_dim_, k_stage_.data() + (size_t)t * kv.k_row_bytes(), k_dim_);
        kv_store_row(attn_.type, kt_, v_.data() + t * v_dim_, v_stage_.data() + (size_t)t * kv.v_row_bytes(), v_dim_);
    }
    if (policy == KvPolicy::Sinks) {
        // queries past the first eviction see the sinks from their cache position
        for (int32_t t = 0; t < m; t++) {
            const int64_t pc = kv.sink_query_pos(pos0 + t);
            if (pc == pos0 + t) continue;
            float* qs = q_sink_.data() + t * q_dim_;
            std::copy(q_raw_.begin() + t * q_dim_, q_raw_.begin() + (t + 1) * q_dim_, qs);
            if (!use_rope) continue;
            ops_rope_cache(rope_cs_.data(), hp_.n_rot, pc, kind.rope_scale, kind.rope_base, ff, yarn);
            rope(qs, hp_.n_head, hp_.head_dim_k, hp_.n_rot, rope_cs_.data());
        }
    }
    if (policy == KvPolicy::H2O) {
        attention_h2o(kv, m, pos0);
    } else if (policy == KvPolicy::Recall) {
        // remap layers keep block-frame representatives (keys rotated by -(end of block))
        struct Shift {
            const TransformerContext* c;
            const LayerKind* kind;
        } sh{this, &kind};
        const KvRotate rot{[](const void* ctx, int64_t delta, float* rows, int64_t n) {
                               const Shift& s = *(const Shift*)ctx;
                               s.c->rotate_heads(*s.kind, delta, rows, (int32_t)n);
                           },
                           &sh};
        Status st = kv.recall_prepare(pos0 + m - 1, k_stage_.data(), pos0, kt_, kv.config().remap && use_rope ? &rot : nullptr);
        if (!st.ok()) return st;
        if (m - r0 > 0 && !(st = attention_recall(kv, il, m, pos0, r0)).ok()) return st;
        kv.commit(k_stage_.data(), v_stage_.data(), pos0, m);
    } else {
        if (m - r0 > 0) attention(kv, m, pos0, r0);
        kv.commit(k_stage_.data(), v_stage_.data(), pos0, m);
    }
    return status_ok();
}

bool TransformerContext::forward_layers(const int32_t* tokens, int32_t m, int64_t pos0, int32_t out_first,
                                        const std::atomic<bool>* cancel) {
    const int64_t E = hp_.n_embd, F = hp_.n_ff;
    uint8_t* act = act_.data();
    embed_rows(tokens, m, x_.data());
    const int32_t n_cpu = gpu_ ? gpu_->first_layer() : hp_.n_layer;
    for (int32_t il = 0; il < n_cpu; il++) {
        if (cancel && cancel->load(std::memory_order_relaxed)) return false;
        const TransformerLayer& L = w_.layers[(size_t)il];
        layer_qkv(hp_, L, x_.data(), h_.data(), q_.data(), k_.data(), v_.data(), m, q_dim_, k_dim_, v_dim_, pool_.get(), act);
        // In the last layer only the rows whose logits are read go on (llama.cpp does the same): with
        // one layer and "last" logits that is most of a prefill's work.
        const int32_t r0 = il == hp_.n_layer - 1 ? out_first : 0, mr = m - r0;
        Status st = attend_layer(il, m, pos0, r0);
        if (!st.ok()) {
            gpu_status_ = st;  // the failure decode reports
            return false;
        }
        if (mr <= 0) continue;
        layer_out_ffn(hp_, L, x_.data() + (size_t)r0 * E, h_.data() + (size_t)r0 * E, att_.data() + (size_t)r0 * o_dim_,
                      o_.data() + (size_t)r0 * E, gate_.data() + (size_t)r0 * F, up_.data() + (size_t)r0 * F, mr, o_dim_,
                      pool_.get(), act);
    }
    if (gpu_) {
        if (cancel && cancel->load(std::memory_order_relaxed)) return false;
        Status st = gpu_->run(x_.data(), m, pos0, out_first);
        if (!st.ok()) {
            gpu_status_ = st;
            return false;
        }
    }
    return true;
}

void TransformerContext::embed_rows(const int32_t* tokens, int32_t m, float* x) const {
    const int64_t E = hp_.n_embd;
    for (int32_t t = 0; t < m; t++) matrix_get_row(w_.tok_embd, tokens[t], x + t * E);
    if (hp_.opt.embd_scale != 1.0f) ops_scale(x, hp_.opt.embd_scale, (int64_t)m * E);
}

// Logit scale and final soft-capping of count rows of logits.
static void finish_logits(const TransformerHparams& hp, float* out, int32_t count) {
    if (hp.opt.logit_scale != 1.0f) ops_scale(out, hp.opt.logit_scale, (int64_t)count * hp.n_vocab);
    if (hp.opt.final_softcap > 0) ops_softcap(out, (int64_t)count * hp.n_vocab, hp.opt.final_softcap);
}

void TransformerContext::output_logits(int32_t first, int32_t count, float* out) {
    const int64_t E = hp_.n_embd;
    // on the device when it holds the output; should that fail, the CPU has the same rows of x_
    if (gpu_ && gpu_->has_output() && gpu_->logits(first, count, out).ok()) {
        finish_logits(hp_, out, count);
        return;
    }
    norm_rows(hp_.opt, x_.data() + first * E, w_.output_norm, h_.data(), count, E, hp_.rms_eps);
    matmul(pool_.get(), w_.output, h_.data(), E, count, out, hp_.n_vocab, act_.data());
    finish_logits(hp_, out, count);
}

Status TransformerContext::check_tokens(const char* fn, const int32_t* tokens, size_t n) const {
    return check_token_ids(fn, tokens, n, hp_.n_vocab);
}

void TransformerContext::push_history(const int32_t* tokens, int32_t m) {
    if (hist_n_ + m > (int64_t)hist_.size()) {  // bounded contexts: keep the last hist_keep_ tokens
        const int64_t keep = std::min<int64_t>(hist_n_, hist_keep_ - std::min<int64_t>(m, hist_keep_));
        std::copy(hist_.begin() + (hist_n_ - keep), hist_.begin() + hist_n_, hist_.begin());
        hist_n_ = keep;
        if (m > hist_keep_) {
            tokens += m - hist_keep_;
            m = (int32_t)hist_keep_;
        }
    }
    std::copy(tokens, tokens + m, hist_.begin() + hist_n_);
    hist_n_ += m;
}

Status TransformerContext::check_decode(const int32_t* tokens, size_t n) const {
    Status st = check_tokens("decode", tokens, n);
    if (!st.ok()) return st;
    if (has_full_ && pos_ + (int64_t)n > n_ctx_)
        return status_error("CONTEXT_FULL", "decoding " + std::to_string(n) + " tokens at position " +
                                                std::to_string(pos_) + " would exceed the context size " +
                                                std::to_string(n_ctx_) +
                                                "; reset the context, create a larger one, or use kv.policy "
                                                "\"sinks\", \"window\" or \"h2o\" for unbounded streams");
    return status_ok();
}

Status TransformerContext::decode(const int32_t* tokens, size_t n, bool all_logits, std::vector<float>* logits,
                                  const std::atomic<bool>* cancel) {
    Status st = check_decode(tokens, n);
    if (!st.ok()) return st;
    if (!(st = reserve_rows((int32_t)std::min(n, (size_t)n_batch_), true)).ok()) return st;
    const size_t V = (size_t)hp_.n_vocab;
    if (logits) {
        try {
            logits->resize(all_logits ? n * V : V);
        } catch (const std::bad_alloc&) {
            return status_error("OUT_OF_MEMORY", "no memory for the logits of " + std::to_string(n) + " tokens");
        }
    }
    float* all_out = logits && all_logits ? logits->data() : nullptr;
    // Ring caches overwrite rows a rollback would need: they stop only between chunks, keeping the
    // completed ones. Full caches stop between layers and roll back.
    bool rings = false;
    for (const auto& kv : kv_) rings |= kv->config().policy != KvPolicy::Full;
    const int64_t pos_start = pos_, hist_start = hist_n_;
    Status result = status_ok();
    for (size_t c = 0; c < n; c += (size_t)n_batch_) {
        const int32_t m = (int32_t)std::min(n - c, (size_t)n_batch_);
        const bool last_chunk = c + (size_t)m == n;
        const int32_t out_first = all_out ? 0 : last_chunk ? m - 1 : m;
        if ((cancel && cancel->load(std::memory_order_relaxed)) ||
            !forward_layers(tokens + c, m, pos_, out_first, rings ? nullptr : cancel)) {
            if (!rings) {
                pos_ = pos_start;
                hist_n_ = hist_start;
                for (auto& kv : kv_) kv->truncate(pos_);
            }
            result = gpu_status_.ok() ? status_error("ABORTED", "decode was cancelled") : gpu_status_;
            gpu_status_ = status_ok();
            break;
        }
        push_history(tokens + c, m);
        pos_ += m;
        if (c + (size_t)m < n) snapshot();  // progress of a long prompt, visible to stats() meanwhile
        if (all_out) {
            output_logits(0, m, all_out + c * V);
            if (last_chunk) std::copy(all_out + (n - 1) * V, all_out + n * V, last_logits_.begin());
        } else if (last_chunk) {
            output_logits(m - 1, 1, last_logits_.data());
        }
    }
    snapshot();
    if (!result.ok()) {
        if (pos_ != pos_start) has_logits_ = false;  // ring caches kept completed chunks without their logits
        return result;
    }
    has_logits_ = true;
    if (logits && !all_logits) std::copy(last_logits_.begin(), last_logits_.end(), logits->begin());
    return status_ok();
}

Status TransformerContext::truncate(int64_t n) {
    if (n < 0 || n > pos_)
        return status_error("INVALID_ARGUMENT", "truncate(" + std::to_string(n) + "): the position must be in [0, " +
                                                    std::to_string(pos_) + "]");
    if (n == pos_) return status_ok();
    for (size_t il = 0; il < kv_.size(); il++) {
        if (!kv_[il]->can_truncate(n))
            return status_error("CONTEXT_REWIND",
                                "cannot go back to position " + std::to_string(n) + ": layer " + std::to_string(il) + "'s " +
                                    kv_policy_name(kv_[il]->config().policy) +
                                    " cache has already evicted tokens it would need; reset the context and decode again, "
                                    "or use kv.policy \"full\"");
    }
    if (gpu_ && !gpu_->can_truncate(pos_, n))
        return status_error("CONTEXT_REWIND", "cannot go back to position " + std::to_string(n) +
                                                  ": a GPU layer's window cache has already evicted tokens it would need; "
                                                  "reset the context and decode again");
    for (auto& kv : kv_) kv->truncate(n);
    hist_n_ = std::max<int64_t>(0, hist_n_ - (pos_ - n));
    pos_ = n;
    has_logits_ = false;
    snapshot();
    return status_ok();
}

// Saved state, version 1 (little-endian):
//   "RLST" u32 version | u64 model file size | u64 model_identity | u32 n_layer | u8 kv type | i32 n_vocab
//   per layer: u8 policy | i64 slots | i64 n_ctx | i32 mask_window window sinks recent heavy | u64 K row, V row bytes
//   i64 position | i32 pending | u64 rng[4] | u8 has_logits [f32 logits (n_vocab)] | i64 history n | i32 tokens (n)
//   per layer: KvLayer tables (n_seen, slot positions; h2o scores and counts)
//   per layer: KvLayer rows (K then V)
//   u64 FNV-1a of everything before
namespace {
constexpr char kStateMagic[4] = {'R', 'L', 'S', 'T'};
constexpr uint32_t kStateVersion = 1;

struct LayerShape {
    uint8_t policy;
    int64_t slots, n_ctx;
    int32_t mask_window, window, sinks, recent, heavy;
    uint64_t k_row, v_row;
};

bool operator==(const LayerShape& a, const LayerShape& b) {
    auto key = [](const LayerShape& l) {
        return std::tie(l.policy, l.slots, l.n_ctx, l.mask_window, l.window, l.sinks, l.recent, l.heavy, l.k_row, l.v_row);
    };
    return key(a) == key(b);
}

LayerShape layer_shape(const KvLayer& kv) {
    const KvLayerConfig& c = kv.config();
    return {(uint8_t)c.policy, kv.n_slots(), c.n_ctx, c.mask_window, c.window, c.sinks, c.recent, c.heavy,
            (uint64_t)kv.k_row_bytes(), (uint64_t)kv.v_row_bytes()};
}

Status write_shape(StateSink* out, const LayerShape& l) {
    Status st = out->scalar(l.policy);
    for (int64_t v : {l.slots, l.n_ctx})
        if (st.ok()) st = out->scalar(v);
    for (int32_t v : {l.mask_window, l.window, l.sinks, l.recent, l.heavy})
        if (st.ok()) st = out->scalar(v);
    for (uint64_t v : {l.k_row, l.v_row})
        if (st.ok()) st = out->scalar(v);
    return st;
}

Status read_shape(StateSource* in, LayerShape* l) {
    Status st = in->scalar(&l->policy);
    for (int64_t* v : {&l->slots, &l->n_ctx})
        if (st.ok()) st = in->scalar(v);
    for (int32_t* v : {&l->mask_window, &l->window, &l->sinks, &l->recent, &l->heavy})
        if (st.ok()) st = in->scalar(v);
    for (uint64_t* v : {&l->k_row, &l->v_row})
        if (st.ok()) st = in->scalar(v);
    return st;
}

std::string describe_shape(const LayerShape& l) {
    std::string s = kv_policy_name((KvPolicy)l.policy);
    s += " with " + std::to_string(l.slots) + " slots";
    if ((KvPolicy)l.policy == KvPolicy::Sinks) s += " (sinks " + std::to_string(l.sinks) + ", recent " + std::to_string(l.recent) + ")";
    if ((KvPolicy)l.policy == KvPolicy::H2O) s += " (heavy " + std::to_string(l.heavy) + ", recent " + std::to_string(l.recent) + ")";
    return s;
}
}  // namespace

Status TransformerContext::save_state(StateSink* out, int32_t pending) const {
    if (has_recall_)
        return status_error("UNSUPPORTED", "a context with kv.policy \"recall\" cannot save its state yet (its store is not saved)");
    // device layers' caches are read back into the CPU's layout first (the state is the same either way)
    std::vector<std::unique_ptr<KvLayer>> mirror;
    const size_t first_gpu = gpu_ ? (size_t)gpu_->first_layer() : kv_.size();
    for (size_t il = first_gpu; il < kv_.size(); il++) {
        mirror.push_back(std::make_unique<KvLayer>());
        Status st = mirror.back()->init(kv_[il]->config(), attn_.type, hp_.n_head_kv, hp_.head_dim_k, hp_.head_dim_v);
        if (st.ok()) st = gpu_->export_layer((int32_t)il, pos_, mirror.back().get());
        if (!st.ok()) return st;
    }
    auto layer = [&](size_t il) -> const KvLayer& { return il < first_gpu ? *kv_[il] : *mirror[il - first_gpu]; };
    Status st = out->write(kStateMagic, 4);
    if (st.ok()) st = out->scalar(kStateVersion);
    if (st.ok()) st = out->scalar<uint64_t>(model_->file.file_size());
    if (st.ok()) st = out->scalar<uint64_t>(model_->identity);
    if (st.ok()) st = out->scalar<uint32_t>((uint32_t)kv_.size());
    if (st.ok()) st = out->scalar<uint8_t>((uint8_t)kv_[0]->type());
    if (st.ok()) st = out->scalar<int32_t>(hp_.n_vocab);
    for (size_t il = 0; il < kv_.size(); il++)
        if (st.ok()) st = write_shape(out, layer_shape(layer(il)));
    if (st.ok()) st = out->scalar<int64_t>(pos_);
    if (st.ok()) st = out->scalar<int32_t>(pending);
    if (st.ok()) st = out->write(sampler_.rng.s, sizeof sampler_.rng.s);
    if (st.ok()) st = out->scalar<uint8_t>(has_logits_ ? 1 : 0);
    if (st.ok() && has_logits_) st = out->write(last_logits_.data(), last_logits_.size() * sizeof(float));
    if (st.ok()) st = out->scalar<int64_t>(hist_n_);
    if (st.ok()) st = out->write(hist_.data(), (size_t)hist_n_ * sizeof(int32_t));
    for (size_t il = 0; il < kv_.size(); il++)
        if (st.ok()) st = layer(il).save_tables(out);
    for (size_t il = 0; il < kv_.size(); il++)
        if (st.ok()) st = layer(il).save_rows(out);
    return st.ok() ? out->finish() : st;
}

Status TransformerContext::load_state(StateSource* in, int32_t* pending) {
    Status st = state_verify(in);
    if (!st.ok()) return st;
    auto corrupt = [](const std::string& what) { return status_error("STATE_CORRUPT", "the saved state is damaged: " + what); };
    auto mismatch = [](const std::string& what) {
        return status_error("STATE_MISMATCH", "the saved state does not fit this context: " + what);
    };
    char magic[4];
    uint32_t version = 0, n_layer = 0;
    uint64_t file_size = 0, identity = 0;
    uint8_t type = 0;
    int32_t n_vocab = 0;
    if (!(st = in->read(magic, 4)).ok()) return st;
    if (std::memcmp(magic, kStateMagic, 4) != 0) return corrupt("it is not a ringllm state (bad magic)");
    if (!(st = in->scalar(&version)).ok()) return st;
    if (version != kStateVersion)
        return mismatch("it has format version " + std::to_string(version) + "; this ringllm reads version " +
                        std::to_string(kStateVersion));
    for (Status s2 : {in->scalar(&file_size), in->scalar(&identity), in->scalar(&n_layer), in->scalar(&type), in->scalar(&n_vocab)})
        if (!s2.ok()) return s2;
    if (file_size != model_->file.file_size() || identity != model_->identity)
        return mismatch("it was saved with another model (model file of " + std::to_string(file_size) + " bytes; this one has " +
                        std::to_string(model_->file.file_size()) + ")");
    if (n_layer != kv_.size() || n_vocab != hp_.n_vocab) return corrupt("its layer or vocabulary count differs from its model's");
    if (type != (uint8_t)kv_[0]->type())
        return mismatch(std::string("its KV cache type is ") + (type <= 2 ? kv_type_name((KvType)type) : "unknown") +
                        "; this context's is " + kv_type_name(kv_[0]->type()));
    for (size_t il = 0; il < kv_.size(); il++) {
        LayerShape saved{}, mine = layer_shape(*kv_[il]);
        if (!(st = read_shape(in, &saved)).ok()) return st;
        if (!(saved == mine))
            return mismatch("layer " + std::to_string(il) + " was saved as a " + (saved.policy <= 3 ? describe_shape(saved) : "unknown") +
                            " cache; this context's is a " + describe_shape(mine) + " cache");
    }
    int64_t position = 0, hist_n = 0;
    int32_t pend = -1;
    uint64_t rng[4];
    uint8_t has_logits = 0;
    for (Status s2 : {in->scalar(&position), in->scalar(&pend), in->read(rng, sizeof rng), in->scalar(&has_logits)})
        if (!s2.ok()) return s2;
    if (position < 0 || (has_full_ && position > n_ctx_) || has_logits > 1 || pend < -1 || pend >= hp_.n_vocab)
        return corrupt("its position, pending token or logits flag is out of range");
    std::vector<float> logits;
    if (has_logits) {
        logits.resize((size_t)hp_.n_vocab);
        if (!(st = in->read(logits.data(), logits.size() * sizeof(float))).ok()) return st;
    }
    if (!(st = in->scalar(&hist_n)).ok()) return st;
    if (hist_n < 0 || hist_n > (int64_t)hist_.size() || hist_n > position) return corrupt("its token history is too long");
    std::vector<int32_t> hist((size_t)hist_n);
    if (!(st = in->read(hist.data(), hist.size() * sizeof(int32_t))).ok()) return st;
    for (int32_t t : hist)
        if (t < 0 || t >= hp_.n_vocab) return corrupt("a token of its history is outside the vocabulary");
    std::vector<KvTables> tables(kv_.size());
    for (size_t il = 0; il < kv_.size(); il++)
        if (!(st = kv_[il]->read_tables(in, position, &tables[il])).ok()) return st;
    uint64_t rows = 0;
    for (size_t il = 0; il < kv_.size(); il++) rows += kv_[il]->state_row_bytes(tables[il]);
    if (in->size() - in->position() != rows + 8) return corrupt("its KV rows are not the size its tables say");
    // Everything above is checked; from here on the context takes the state. The rows' bytes need
    // no check (any bit pattern is a value), and the checksum pass read them all already.
    for (size_t il = 0; il < kv_.size(); il++) kv_[il]->apply_tables(&tables[il]);
    for (auto& kv : kv_) {
        if (!(st = kv->load_rows(in)).ok()) {
            reset();  // the file changed under us: leave an empty, consistent context
            return st;
        }
    }
    // device layers: their rows go to the device; the CPU's copies are dropped
    for (int32_t il = gpu_ ? gpu_->first_layer() : hp_.n_layer; il < hp_.n_layer; il++) {
        if (!(st = gpu_->import_layer(il, *kv_[(size_t)il])).ok()) {
            reset();
            return st;
        }
        kv_[(size_t)il]->reset();
    }
    pos_ = position;
    std::memcpy(sampler_.rng.s, rng, sizeof rng);
    has_logits_ = has_logits != 0;
    if (has_logits_) last_logits_.swap(logits);
    std::copy(hist.begin(), hist.end(), hist_.begin());
    hist_n_ = hist_n;
    *pending = pend;
    snapshot();
    return status_ok();
}

Status TransformerContext::embed(const int32_t* tokens, size_t n, Pooling pooling, std::vector<float>* out,
                                 const std::atomic<bool>* cancel) {
    Status st = check_tokens("embed", tokens, n);
    if (!st.ok()) return st;
    if (!(st = reserve_rows((int32_t)std::min(n, (size_t)n_batch_), true)).ok()) return st;
    if (has_full_ && (int64_t)n > n_ctx_)
        return status_error("CONTEXT_FULL", "a text of " + std::to_string(n) + " tokens does not fit the context size " +
                                                std::to_string(n_ctx_) + "; embed with a larger contextSize");
    const int64_t E = hp_.n_embd;
    try {
        out->assign(pooling == Pooling::None ? n * (size_t)E : (size_t)E, 0.0f);
    } catch (const std::bad_alloc&) {
        return status_error("OUT_OF_MEMORY", "no memory for the embeddings of " + std::to_string(n) + " tokens");
    }
    std::vector<double> sum(pooling == Pooling::Mean ? (size_t)E : 0, 0.0);
    reset();
    for (size_t c = 0; c < n; c += (size_t)n_batch_) {
        const int32_t m = (int32_t)std::min(n - c, (size_t)n_batch_);
        const bool last_chunk = c + (size_t)m == n;
        // rows the pooling reads: every one (mean, none), the first of the text (cls), its last (last)
        int32_t first = 0;
        if (pooling == Pooling::Last) first = last_chunk ? m - 1 : m;
        if (pooling == Pooling::Cls) first = c == 0 ? 0 : m;
        const int32_t rows = pooling == Pooling::Cls && c == 0 ? 1 : m - first;
        if ((cancel && cancel->load(std::memory_order_relaxed)) || !forward_layers(tokens + c, m, pos_, first, cancel)) {
            reset();
            st = gpu_status_.ok() ? status_error("ABORTED", "embed was cancelled") : gpu_status_;
            gpu_status_ = status_ok();
            return st;
        }
        pos_ += m;
        if (rows <= 0) continue;
        float* h = h_.data();
        norm_rows(hp_.opt, x_.data() + (size_t)first * E, w_.output_norm, h, rows, E, hp_.rms_eps);
        switch (pooling) {
            case Pooling::None: std::copy(h, h + (size_t)rows * E, out->data() + c * (size_t)E); break;
            case Pooling::Mean:
                for (int32_t r = 0; r < rows; r++)
                    for (int64_t e = 0; e < E; e++) sum[(size_t)e] += h[(size_t)r * E + e];
                break;
            case Pooling::Cls:
            case Pooling::Last: std::copy(h, h + E, out->data()); break;
        }
    }
    if (pooling == Pooling::Mean)
        for (int64_t e = 0; e < E; e++) (*out)[(size_t)e] = (float)(sum[(size_t)e] / (double)n);
    reset();
    return status_ok();
}

Status TransformerContext::logprobs(int32_t token, int32_t top, float* logprob,
                                    std::vector<std::pair<int32_t, float>>* alts) const {
    if (!has_logits_) return status_error("INVALID_ARGUMENT", "no logits: decode tokens first");
    if (token < 0 || token >= hp_.n_vocab || top < 0) return status_error("INVALID_ARGUMENT", "logprobs: bad token or count");
    const float* l = last_logits_.data();
    const int32_t V = hp_.n_vocab;
    float mx = -INFINITY;
    for (int32_t i = 0; i < V; i++) mx = std::max(mx, l[i]);
    double sum = 0.0;
    for (int32_t i = 0; i < V; i++) sum += std::exp((double)l[i] - mx);
    const double lse = mx + std::log(sum);
    *logprob = (float)((double)l[token] - lse);
    alts->clear();
    const int32_t k = std::min(top, V);
    if (k == 0) return status_ok();
    std::vector<int32_t> ids((size_t)V);
    for (int32_t i = 0; i < V; i++) ids[(size_t)i] = i;
    std::partial_sort(ids.begin(), ids.begin() + k, ids.end(),
                      [l](int32_t a, int32_t b) { return l[a] > l[b] || (l[a] == l[b] && a < b); });
    for (int32_t i = 0; i < k; i++) alts->emplace_back(ids[(size_t)i], (float)((double)l[ids[(size_t)i]] - lse));
    return status_ok();
}

Status TransformerContext::sample(const SamplerParams& params, int32_t* token) {
    if (!has_logits_) return status_error("INVALID_ARGUMENT", "nothing to sample from: decode tokens first");
    const int64_t n = std::min(hist_n_, hist_keep_);
    return sampler_sample(&sampler_, params, last_logits_.data(), hist_.data() + (hist_n_ - n), (int32_t)n, token);
}


class TransformerBatchStepper final : public BatchStepper {
public:
    explicit TransformerBatchStepper(std::shared_ptr<ThreadPool> pool) : pool_(std::move(pool)) {}

    Status step(const BatchSeq* seqs, size_t n) override {
        if (n == 0) return status_ok();
        std::vector<TransformerContext*> cs(n);
        int64_t rows = 0;
        for (size_t i = 0; i < n; i++) {
            // batch_rows() > 0 only for transformer contexts (no RTTI in the node-gyp build)
            auto* c = seqs[i].ctx && seqs[i].ctx->batch_rows() > 0 ? static_cast<TransformerContext*>(seqs[i].ctx) : nullptr;
            if (!c || c->pool_ != pool_ || (i > 0 && c->model_ != cs[0]->model_))
                return status_error("INVALID_ARGUMENT", "a batched step needs transformer contexts of one model on its pool");
            if (seqs[i].m < 1 || seqs[i].m > c->n_batch_)
                return status_error("INVALID_ARGUMENT", "a batched sequence's rows must be in [1, its n_batch]");
            Status st = c->check_tokens("decode", seqs[i].tokens, (size_t)seqs[i].m);
            if (!st.ok()) return st;
            if (c->has_full_ && c->pos_ + seqs[i].m > c->n_ctx_)
                return status_error("CONTEXT_FULL", "decoding at position " + std::to_string(c->pos_) +
                                                        " would exceed the context size " + std::to_string(c->n_ctx_));
            if (!(st = c->reserve_rows(seqs[i].m, false)).ok()) return st;
            cs[i] = c;
            rows += seqs[i].m;
        }
        const TransformerContext& c0 = *cs[0];
        const TransformerHparams& hp = c0.hp_;
        const TransformerWeights& w = c0.w_;
        const int64_t E = hp.n_embd, V = hp.n_vocab;
        const int64_t qd = c0.q_dim_, kd = c0.k_dim_, vd = c0.v_dim_, od = c0.o_dim_;
        int32_t n_logits = 0;
        for (size_t i = 0; i < n; i++) n_logits += seqs[i].logits ? 1 : 0;
        try {
            reserve(c0, rows, n_logits);
        } catch (const std::bad_alloc&) {
            return status_error("OUT_OF_MEMORY", "no memory for a batched step of " + std::to_string(rows) + " rows");
        }
        ThreadPool* pool = pool_.get();
        uint8_t* act = act_.data();
        for (size_t i = 0, off = 0; i < n; off += (size_t)seqs[i].m, i++) cs[i]->embed_rows(seqs[i].tokens, seqs[i].m, x_.data() + off * E);
        // per sequence: its first row in the step, and in the last layer its first kept row
        offs_.resize(n);
        kept_.resize(n);
        st_.assign(n, status_ok());
        for (size_t i = 0, off = 0, kept = 0; i < n; off += (size_t)seqs[i].m, i++) {
            offs_[i] = (int64_t)off;
            kept_[i] = (int64_t)kept;
            kept += seqs[i].logits ? 1 : 0;
        }
        for (int32_t il = 0; il < hp.n_layer; il++) {
            const TransformerLayer& L = w.layers[(size_t)il];
            const bool last = il == hp.n_layer - 1;
            layer_qkv(hp, L, x_.data(), h_.data(), q_.data(), k_.data(), v_.data(), (int32_t)rows, qd, kd, vd, pool, act);
            // each sequence's attention on its own cache; in the last layer only the rows whose
            // logits are read go on, packed to the front (x and h moved with them). When no sequence
            // holds most of the work (decode steps), the sequences are spread over the pool, each
            // attending on one thread (its nested parallel calls run inline, on its own scratch), with
            // the same arithmetic as alone; otherwise one sequence at a time, each split over the pool.
            int64_t work_max = 0, work_sum = 0;
            for (size_t i = 0; i < n; i++) {
                const int64_t wk = (int64_t)seqs[i].m * (cs[i]->pos_ + seqs[i].m);
                work_max = std::max(work_max, wk);
                work_sum += wk;
            }
            auto attend = [&](size_t i) {
                TransformerContext& c = *cs[i];
                const int32_t m = seqs[i].m;
                const int64_t off = offs_[i];
                std::copy(q_.begin() + off * qd, q_.begin() + (off + m) * qd, c.q_.begin());
                std::copy(k_.begin() + off * kd, k_.begin() + (off + m) * kd, c.k_.begin());
                std::copy(v_.begin() + off * vd, v_.begin() + (off + m) * vd, c.v_.begin());
                const int32_t r0 = last ? (seqs[i].logits ? m - 1 : m) : 0;
                st_[i] = c.attend_layer(il, m, c.pos_, r0);  // a recall store that cannot grow
                const int64_t dst = last ? kept_[i] : off;
                std::copy(c.att_.begin() + (int64_t)r0 * od, c.att_.begin() + (int64_t)m * od, att_.begin() + dst * od);
            };
            if (n > 1 && pool->n_threads() > 1 && 2 * work_max <= work_sum)
                pool->parallel_for((int64_t)n, (int)n, [&](int64_t b, int64_t e, int) {
                    for (int64_t i = b; i < e; i++) attend((size_t)i);
                });
            else
                for (size_t i = 0; i < n; i++) attend(i);
            for (size_t i = 0; i < n; i++)
                if (!st_[i].ok()) return st_[i];
            int64_t kept = 0;
            if (last)
                for (size_t i = 0; i < n; i++) {
                    const int32_t m = seqs[i].m, r0 = seqs[i].logits ? m - 1 : m;
                    const int64_t off = offs_[i];
                    if (r0 < m) {
                        std::copy(x_.begin() + (off + r0) * E, x_.begin() + (off + m) * E, x_.begin() + kept * E);
                        std::copy(h_.begin() + (off + r0) * E, h_.begin() + (off + m) * E, h_.begin() + kept * E);
                        kept += m - r0;
                    }
                }
            const int32_t mr = (int32_t)(last ? kept : rows);
            if (mr > 0)
                layer_out_ffn(hp, L, x_.data(), h_.data(), att_.data(), o_.data(), gate_.data(), up_.data(), mr, od, pool, act);
        }
        if (n_logits > 0) {
            norm_rows(hp.opt, x_.data(), w.output_norm, h_.data(), n_logits, E, hp.rms_eps);
            matmul(pool, w.output, h_.data(), E, n_logits, logits_.data(), V, act);
            finish_logits(hp, logits_.data(), n_logits);
        }
        for (size_t i = 0, l = 0; i < n; i++) {
            TransformerContext& c = *cs[i];
            c.push_history(seqs[i].tokens, seqs[i].m);
            c.pos_ += seqs[i].m;
            c.has_logits_ = seqs[i].logits;
            if (seqs[i].logits) {
                const float* row = logits_.data() + (int64_t)l++ * V;
                std::copy(row, row + V, c.last_logits_.begin());
                if (seqs[i].logits_out) std::copy(row, row + V, seqs[i].logits_out);
            }
            c.snapshot();
        }
        return status_ok();
    }

private:
    void reserve(const TransformerContext& c, int64_t rows, int32_t n_logits) {
        const size_t R = (size_t)rows;
        const TransformerHparams& hp = c.hp_;
        if (R > rows_) {
            x_.resize(R * hp.n_embd);
            h_.resize(R * hp.n_embd);
            o_.resize(R * hp.n_embd);
            q_.resize(R * c.q_dim_);
            k_.resize(R * c.k_dim_);
            v_.resize(R * c.v_dim_);
            att_.resize(R * c.o_dim_);
            gate_.resize(R * hp.n_ff);
            up_.resize(R * hp.n_ff);
            size_t act = matmul_act_bytes(c.w_.output, (int32_t)rows);
            for (const TransformerLayer& L : c.w_.layers)
                for (const WeightMatrix* m : {&L.wq, &L.wk, &L.wv, &L.wo, &L.w_gate, &L.w_up, &L.w_down})
                    act = std::max(act, matmul_act_bytes(*m, (int32_t)rows));
            act_.resize(act + 64);
            rows_ = R;
        }
        if ((size_t)n_logits * hp.n_vocab > logits_.size()) logits_.resize((size_t)n_logits * hp.n_vocab);
    }

    std::shared_ptr<ThreadPool> pool_;
    size_t rows_ = 0;
    std::vector<float> x_, h_, q_, k_, v_, att_, o_, gate_, up_, logits_;
    std::vector<uint8_t> act_;
    std::vector<int64_t> offs_, kept_;
    std::vector<Status> st_;  // per sequence: its attention's status in the current layer
};
}  // namespace

Status transformer_kv_configs(const TransformerHparams& hp, int64_t n_ctx, const KvOptions& o,
                              std::vector<KvLayerConfig>* out) {
    const bool unbounded = n_ctx == kContextUnbounded;
    const int64_t budget = unbounded ? hp.n_ctx_train : std::min<int64_t>(n_ctx, hp.n_ctx_train);
    auto clamp32 = [](int64_t v) { return (int32_t)std::min<int64_t>(v, INT32_MAX); };
    out->assign((size_t)hp.n_layer, KvLayerConfig{});
    for (int32_t il = 0; il < hp.n_layer; il++) {
        KvLayerConfig& c = (*out)[(size_t)il];
        const int32_t trained = hp.layer_kinds[(size_t)il].window;
        auto window = [&](int32_t w) {
            c.policy = KvPolicy::Window;
            c.window = w;
        };
        // sinks and recall: S sinks (default 4) then a ring of recent tokens, of which a query is one
        auto ring_start = [&](KvPolicy policy, const char* name) {
            c.policy = policy;
            c.sinks = o.sinks >= 0 ? o.sinks : 4;
            if (o.recent == 0)
                return status_error("INVALID_ARGUMENT", std::string("kv.recent must be at least 1 with kv.policy \"") + name +
                                                            "\" (a query always sees itself); omit it for the default");
            return status_ok();
        };
        Status st;
        switch (o.policy) {
            case KvPolicyChoice::Auto:
                if (trained > 0) {
                    window(trained);
                    break;
                }
                [[fallthrough]];
            case KvPolicyChoice::Full:
                if (unbounded)
                    return status_error("INVALID_ARGUMENT",
                                        std::string("contextSize Infinity needs a bounded cache on every layer, but layer ") +
                                            std::to_string(il) + " keeps every token (kv.policy \"" +
                                            (o.policy == KvPolicyChoice::Full ? "full" : "auto") +
                                            "\"); choose kv.policy \"window\", \"sinks\" or \"h2o\", or a finite contextSize");
                c.policy = KvPolicy::Full;
                c.n_ctx = n_ctx;
                c.mask_window = trained;
                break;
            case KvPolicyChoice::Window:
                window(o.window > 0 ? o.window : trained > 0 ? trained : clamp32(budget));
                break;
            case KvPolicyChoice::Sinks:
                if (trained > 0) {
                    window(trained);
                    break;
                }
                if (!(st = ring_start(KvPolicy::Sinks, "sinks")).ok()) return st;
                c.recent = o.recent > 0 ? o.recent : clamp32(budget - c.sinks);
                if (c.recent < 1)
                    return status_error("INVALID_ARGUMENT", "kv.sinks (" + std::to_string(c.sinks) +
                                                                ") leaves no room for recent tokens in a budget of " +
                                                                std::to_string(budget) + "; set kv.recent");
                break;
            case KvPolicyChoice::Recall:
                if (trained > 0) {
                    window(trained);
                    break;
                }
                if (!(st = ring_start(KvPolicy::Recall, "recall")).ok()) return st;
                c.block = o.block >= 0 ? o.block : 64;
                c.top_blocks = o.top_blocks >= 0 ? o.top_blocks : 8;
                c.remap = o.remap;
                if (c.block < 32 || c.block % 32 != 0)
                    return status_error("INVALID_ARGUMENT", "kv.blockSize must be a positive multiple of 32 (blocks are "
                                                            "whole attention tiles), got " + std::to_string(c.block));
                if (c.top_blocks < 1)
                    return status_error("INVALID_ARGUMENT", "kv.topBlocks must be at least 1 with kv.policy \"recall\" "
                                                            "(use kv.policy \"sinks\" to attend to no evicted block)");
                // default: sinks + tail + selected blocks within the budget, at least one block of recent tokens
                c.recent = o.recent > 0 ? o.recent
                                        : clamp32(std::max<int64_t>(c.block, budget - c.sinks - ((int64_t)c.top_blocks + 1) * c.block));
                break;
            case KvPolicyChoice::H2O:
                if (trained > 0) {
                    window(trained);
                    break;
                }
                c.policy = KvPolicy::H2O;
                if (o.heavy >= 0 && o.recent >= 0) {
                    c.heavy = o.heavy;
                    c.recent = o.recent;
                } else if (o.heavy >= 0) {
                    c.heavy = o.heavy;
                    c.recent = clamp32(std::max<int64_t>(0, budget - o.heavy));
                } else if (o.recent >= 0) {
                    c.recent = o.recent;
                    c.heavy = clamp32(std::max<int64_t>(0, budget - o.recent));
                } else {
                    c.heavy = clamp32(budget / 2);
                    c.recent = clamp32(budget - budget / 2);
                }
                if ((int64_t)c.heavy + c.recent < 1)
                    return status_error("INVALID_ARGUMENT", "kv.heavy + kv.recent must be at least 1");
                break;
        }
    }
    return status_ok();
}

Status transformer_estimate(const Model& m, const ContextParams& params, MemoryEstimate* out) {
    *out = MemoryEstimate{};
    for (const GgufTensorInfo& t : m.file.header().tensors) out->weights += (int64_t)t.n_bytes;
    const KernelTable* kt = nullptr;
    Status st = kernels_select(nullptr, &kt);
    if (!st.ok()) return st;
    TransformerHparams hp;
    TransformerWeights w;
    if (!(st = transformer_load(m, kt, &hp, &w)).ok()) return st;
    const int64_t n_ctx = params.n_ctx == 0 ? hp.n_ctx_train : params.n_ctx;
    out->n_ctx = n_ctx;
    if (params.kv.type != KvType::F16 && (hp.head_dim_k % 32 != 0 || hp.head_dim_v % 32 != 0))
        return status_error("INVALID_ARGUMENT", std::string("kv.type \"") + kv_type_name(params.kv.type) +
                                                    "\" needs head dimensions that are multiples of 32; use kv.type \"f16\"");
    std::vector<KvLayerConfig> configs;
    if (!(st = transformer_kv_configs(hp, n_ctx, params.kv, &configs)).ok()) return st;
    bool full = false, sinks = false, recall = false;
    for (const KvLayerConfig& c : configs) {
        const int64_t slots = kv_layer_slots(c);
        const int64_t heads = c.policy == KvPolicy::H2O ? hp.n_head_kv : 1;
        out->kv += slots * (int64_t)(kv_row_bytes(params.kv.type, hp.head_dim_k) + kv_row_bytes(params.kv.type, hp.head_dim_v)) *
                       hp.n_head_kv +
                   slots * heads * 8;  // positions (and h2o scores)
        full |= c.policy == KvPolicy::Full;
        sinks |= c.policy == KvPolicy::Sinks;
        recall |= c.policy == KvPolicy::Recall;  // + its store, which grows with the stream (not estimated)
    }
    const int64_t B = full ? std::min<int64_t>(params.n_batch, n_ctx) : params.n_batch;
    const int64_t E = hp.n_embd, F = hp.n_ff, q_dim = (int64_t)hp.n_head * hp.head_dim_k;
    const int64_t k_dim = (int64_t)hp.n_head_kv * hp.head_dim_k, v_dim = (int64_t)hp.n_head_kv * hp.head_dim_v;
    const int64_t o_dim = (int64_t)hp.n_head * hp.head_dim_v;
    // x, h, o, gate, up, q (and the sinks' two copies, recall's one), k, v, attention out; quantized activations;
    // the last logits and the sampler's buffers
    out->compute = 4 * B * (3 * E + 2 * F + q_dim * (sinks ? 3 : recall ? 2 : 1) + k_dim + v_dim + o_dim) + 2 * B * std::max(E, F) +
                   (int64_t)hp.n_vocab * 16;
    return status_ok();
}

Status transformer_context_create(std::shared_ptr<Model> model, const ContextParams& params, const KernelTable* kt,
                            std::unique_ptr<Context>* out) {
    try {
        auto ctx = std::make_unique<TransformerContext>();
        Status st = ctx->init(std::move(model), params, kt);
        if (!st.ok()) return st;
        *out = std::move(ctx);
        return status_ok();
    } catch (const std::bad_alloc&) {
        return status_error("OUT_OF_MEMORY", "not enough memory for a context of " + std::to_string(params.n_ctx) +
                                                 " tokens; use a smaller context size");
    } catch (const std::length_error&) {
        return status_error("OUT_OF_MEMORY", "a context of " + std::to_string(params.n_ctx) + " tokens is too large");
    }
}

std::unique_ptr<BatchStepper> transformer_batch_stepper(std::shared_ptr<ThreadPool> pool) {
    return std::make_unique<TransformerBatchStepper>(std::move(pool));
}

}  // namespace rl
