// The shared decoder forward pass: embeddings (optionally scaled), n_layer x (RMSNorm, GQA attention
// with optional Q/K/V biases, per-head Q/K norms, RoPE in NORM or NEOX order, logit soft-capping and
// sliding windows over an f16 KV cache, optional post-norm; RMSNorm, gated SiLU/GELU FFN, optional
// post-norm), final RMSNorm, the output projection and optional final soft-capping. The llama path
// is the same arithmetic in the same order as before the other architectures were added. Buffers
// are sized at create so decode allocates nothing per token.
#include "transformer.h"

#include <algorithm>
#include <cmath>
#include <new>
#include <string>

#include "../gguf/gguf_types.h"
#include "kv_cache.h"
#include "ops.h"
#include "sampler.h"

namespace rl {

namespace {

class TransformerContext final : public Context {
public:
    ~TransformerContext() override {
        for (KvLayer& kv : kv_) kv_layer_free(&kv);
    }

    Status init(std::shared_ptr<Model> model, const ContextParams& params, const KernelTable* kt);

    Status decode(const int32_t* tokens, size_t n, bool all_logits, std::vector<float>* logits,
                  const std::atomic<bool>* cancel) override;
    Status sample(const SamplerParams& params, int32_t* token) override;
    void set_seed(uint64_t seed) override { sampler_rng_seed(&sampler_.rng, seed); }
    int32_t position() const override { return pos_; }
    int32_t n_ctx() const override { return n_ctx_; }
    int32_t n_vocab() const override { return hp_.n_vocab; }
    void reset() override {
        pos_ = 0;
        has_logits_ = false;
    }
    const std::vector<LayerKind>& layer_kinds() const override { return hp_.layer_kinds; }

private:
    // Runs m tokens at positions pos0.. through every layer, leaving the residual stream in x_.
    // false when cancelled between layers.
    bool forward_layers(const int32_t* tokens, int32_t m, int32_t pos0, const std::atomic<bool>* cancel);
    void attention(const KvLayer* kv, int32_t window, int32_t m, int32_t pos0);
    // Final norm and output projection of rows [first, first+count) of x_ into out (count, n_vocab).
    void output_logits(int32_t first, int32_t count, float* out);

    std::shared_ptr<Model> model_;  // keeps the mapped weights alive
    const KernelTable* kt_ = nullptr;
    const WeightKernels* f16_ = nullptr;  // f16 x f32 dot for q . K
    TransformerHparams hp_;
    TransformerWeights w_;
    ThreadPool pool_;
    Sampler sampler_;
    std::vector<KvLayer> kv_;  // (n_layer)

    int32_t n_ctx_ = 0;
    int32_t n_batch_ = 0;
    int32_t pos_ = 0;
    bool has_logits_ = false;
    int64_t q_dim_ = 0, k_dim_ = 0, v_dim_ = 0, o_dim_ = 0;

    // scratch, sized at create
    std::vector<float> x_;       // (n_batch, n_embd) residual stream
    std::vector<float> h_;       // (n_batch, n_embd) normed input of a block
    std::vector<float> q_;       // (n_batch, q_dim)
    std::vector<float> k_;       // (n_batch, k_dim)
    std::vector<float> v_;       // (n_batch, v_dim)
    std::vector<float> att_;     // (n_batch, o_dim) attention output before Wo
    std::vector<float> o_;       // (n_batch, n_embd) block output added to x
    std::vector<float> gate_;    // (n_batch, n_ff)
    std::vector<float> up_;      // (n_batch, n_ff)
    std::vector<float> rope_cs_;  // (n_rot/2, 2)
    std::vector<float> scores_;  // (n_threads, n_ctx) attention probabilities per worker
    std::vector<float> vrow_;    // (n_threads, head_dim_v) one V row in f32 per worker
    std::vector<uint8_t> act_;   // quantized activations, max over matrices of (n_batch rows)
    std::vector<float> last_logits_;  // (n_vocab) logits of the last decoded token
    std::vector<int32_t> history_;    // (n_ctx) token at each position
};

Status TransformerContext::init(std::shared_ptr<Model> model, const ContextParams& params, const KernelTable* kt) {
    model_ = std::move(model);
    kt_ = kt;
    f16_ = weight_kernels(GGML_TYPE_F16, kt);
    Status st = transformer_load(*model_, kt, &hp_, &w_);
    if (!st.ok()) return st;

    n_ctx_ = params.n_ctx > 0 ? params.n_ctx : hp_.n_ctx_train;
    n_batch_ = std::min(params.n_batch, n_ctx_);
    q_dim_ = (int64_t)hp_.n_head * hp_.head_dim_k;
    k_dim_ = (int64_t)hp_.n_head_kv * hp_.head_dim_k;
    v_dim_ = (int64_t)hp_.n_head_kv * hp_.head_dim_v;
    o_dim_ = (int64_t)hp_.n_head * hp_.head_dim_v;

    const size_t B = (size_t)n_batch_;
    x_.assign(B * hp_.n_embd, 0.0f);
    h_.assign(B * hp_.n_embd, 0.0f);
    q_.assign(B * q_dim_, 0.0f);
    k_.assign(B * k_dim_, 0.0f);
    v_.assign(B * v_dim_, 0.0f);
    att_.assign(B * o_dim_, 0.0f);
    o_.assign(B * hp_.n_embd, 0.0f);
    gate_.assign(B * hp_.n_ff, 0.0f);
    up_.assign(B * hp_.n_ff, 0.0f);
    rope_cs_.assign((size_t)hp_.n_rot + 2, 0.0f);
    last_logits_.assign((size_t)hp_.n_vocab, 0.0f);
    history_.assign((size_t)n_ctx_, 0);

    int n_threads = params.n_threads > 0 ? params.n_threads : 1;
    st = pool_.init(n_threads);
    if (!st.ok()) return st;
    scores_.assign((size_t)pool_.n_threads() * n_ctx_, 0.0f);
    vrow_.assign((size_t)pool_.n_threads() * hp_.head_dim_v, 0.0f);

    size_t act = matmul_act_bytes(w_.output, 1) * B;  // output runs on at most n_batch rows
    for (const TransformerLayer& L : w_.layers)
        for (const WeightMatrix* m : {&L.wq, &L.wk, &L.wv, &L.wo, &L.w_gate, &L.w_up, &L.w_down})
            act = std::max(act, matmul_act_bytes(*m, n_batch_));
    act_.assign(act + 64, 0);

    kv_.assign((size_t)hp_.n_layer, KvLayer{});
    for (KvLayer& kv : kv_) {
        st = kv_layer_init(&kv, n_ctx_, (int32_t)k_dim_, (int32_t)v_dim_);
        if (!st.ok()) return st;
    }
    return sampler_init(&sampler_, hp_.n_vocab, params.seed);
}

void TransformerContext::attention(const KvLayer* kv, int32_t window, int32_t m, int32_t pos0) {
    const int32_t n_head = hp_.n_head, hd_k = hp_.head_dim_k, hd_v = hp_.head_dim_v;
    const int32_t group = hp_.n_head / hp_.n_head_kv;  // query heads per KV head
    const float scale = hp_.opt.attn_scale, softcap = hp_.opt.attn_softcap;
    const int64_t work = (int64_t)(pos0 + m) * (hd_k + hd_v);
    pool_.parallel_for_work((int64_t)m * n_head, work, [&](int64_t begin, int64_t end, int worker) {
        float* scores = scores_.data() + (size_t)worker * n_ctx_;
        float* vrow = vrow_.data() + (size_t)worker * hd_v;
        for (int64_t item = begin; item < end; item++) {
            const int32_t t = (int32_t)(item / n_head), h = (int32_t)(item % n_head);
            const int32_t pos = pos0 + t, kvh = h / group;
            const float* q = q_.data() + t * q_dim_ + (int64_t)h * hd_k;
            int32_t first;
            kv_layer_visible(kv, pos, &first);
            if (window > 0) first = std::max(first, pos - window + 1);  // sliding-window layer
            const int32_t n_keys = pos - first + 1;
            for (int32_t j = 0; j < n_keys; j++)
                scores[j] = f16_->vec_dot(hd_k, kv_layer_k_row(kv, first + j) + (int64_t)kvh * hd_k, q) * scale;
            if (softcap > 0) ops_softcap(scores, n_keys, softcap);
            ops_softmax(scores, n_keys);
            float* out = att_.data() + t * o_dim_ + (int64_t)h * hd_v;
            std::fill(out, out + hd_v, 0.0f);
            for (int32_t j = 0; j < n_keys; j++) {
                kt_->fp16_to_f32_row(kv_layer_v_row(kv, first + j) + (int64_t)kvh * hd_v, vrow, hd_v);
                ops_axpy(out, scores[j], vrow, hd_v);
            }
        }
    });
}

// Adds a bias row to each of m rows of width n (stride n).
static void add_bias(float* x, const std::vector<float>& b, int32_t m, int64_t n) {
    if (b.empty()) return;
    for (int32_t t = 0; t < m; t++) ops_axpy(x + t * n, 1.0f, b.data(), n);
}

// RMSNorm of each head_dim slice of m rows of n_heads heads, in place.
static void norm_heads(float* x, const std::vector<float>& w, int32_t m, int32_t n_heads, int32_t head_dim,
                       float eps) {
    for (int64_t r = 0; r < (int64_t)m * n_heads; r++) ops_rmsnorm(x + r * head_dim, w.data(), x + r * head_dim, head_dim, eps);
}

bool TransformerContext::forward_layers(const int32_t* tokens, int32_t m, int32_t pos0, const std::atomic<bool>* cancel) {
    const int64_t E = hp_.n_embd, F = hp_.n_ff;
    const ArchOptions& opt = hp_.opt;
    uint8_t* act = act_.data();
    for (int32_t t = 0; t < m; t++) matrix_get_row(w_.tok_embd, tokens[t], x_.data() + t * E);
    if (opt.embd_scale != 1.0f) ops_scale(x_.data(), opt.embd_scale, (int64_t)m * E);

    for (int32_t il = 0; il < hp_.n_layer; il++) {
        if (cancel && cancel->load(std::memory_order_relaxed)) return false;
        const TransformerLayer& L = w_.layers[(size_t)il];
        const LayerKind& kind = hp_.layer_kinds[(size_t)il];
        KvLayer* kv = &kv_[(size_t)il];
        for (int32_t t = 0; t < m; t++)
            ops_rmsnorm(x_.data() + t * E, L.attn_norm.data(), h_.data() + t * E, E, hp_.rms_eps);
        matmul(&pool_, L.wq, h_.data(), E, m, q_.data(), q_dim_, act);
        matmul(&pool_, L.wk, h_.data(), E, m, k_.data(), k_dim_, act);
        matmul(&pool_, L.wv, h_.data(), E, m, v_.data(), v_dim_, act);
        add_bias(q_.data(), L.bq, m, q_dim_);
        add_bias(k_.data(), L.bk, m, k_dim_);
        add_bias(v_.data(), L.bv, m, v_dim_);
        if (opt.qk_norm) {
            norm_heads(q_.data(), L.q_norm, m, hp_.n_head, hp_.head_dim_k, hp_.rms_eps);
            norm_heads(k_.data(), L.k_norm, m, hp_.n_head_kv, hp_.head_dim_k, hp_.rms_eps);
        }
        const float* ff = w_.rope_freqs.empty() ? nullptr : w_.rope_freqs.data();
        auto rope = opt.rope == RopeOrder::Neox ? ops_rope_apply_neox : ops_rope_apply_norm;
        for (int32_t t = 0; t < m; t++) {
            ops_rope_cache(rope_cs_.data(), hp_.n_rot, pos0 + t, kind.rope_scale, kind.rope_base, ff);
            rope(q_.data() + t * q_dim_, hp_.n_head, hp_.head_dim_k, hp_.n_rot, rope_cs_.data());
            rope(k_.data() + t * k_dim_, hp_.n_head_kv, hp_.head_dim_k, hp_.n_rot, rope_cs_.data());
            kv_layer_write(kv, kt_, pos0 + t, k_.data() + t * k_dim_, v_.data() + t * v_dim_);
        }
        attention(kv, kind.window, m, pos0);
        matmul(&pool_, L.wo, att_.data(), o_dim_, m, o_.data(), E, act);
        if (opt.post_norms)
            for (int32_t t = 0; t < m; t++)
                ops_rmsnorm(o_.data() + t * E, L.post_attn_norm.data(), o_.data() + t * E, E, hp_.rms_eps);
        for (int64_t i = 0; i < (int64_t)m * E; i++) x_[(size_t)i] += o_[(size_t)i];

        for (int32_t t = 0; t < m; t++)
            ops_rmsnorm(x_.data() + t * E, L.ffn_norm.data(), h_.data() + t * E, E, hp_.rms_eps);
        matmul(&pool_, L.w_gate, h_.data(), E, m, gate_.data(), F, act);
        matmul(&pool_, L.w_up, h_.data(), E, m, up_.data(), F, act);
        if (opt.act == FfnAct::GeluTanh)
            ops_geglu(gate_.data(), up_.data(), (int64_t)m * F);
        else
            ops_swiglu(gate_.data(), up_.data(), (int64_t)m * F);
        matmul(&pool_, L.w_down, gate_.data(), F, m, o_.data(), E, act);
        if (opt.post_norms)
            for (int32_t t = 0; t < m; t++)
                ops_rmsnorm(o_.data() + t * E, L.post_ffn_norm.data(), o_.data() + t * E, E, hp_.rms_eps);
        for (int64_t i = 0; i < (int64_t)m * E; i++) x_[(size_t)i] += o_[(size_t)i];
    }
    return true;
}

void TransformerContext::output_logits(int32_t first, int32_t count, float* out) {
    const int64_t E = hp_.n_embd;
    for (int32_t t = 0; t < count; t++)
        ops_rmsnorm(x_.data() + (first + t) * E, w_.output_norm.data(), h_.data() + t * E, E, hp_.rms_eps);
    matmul(&pool_, w_.output, h_.data(), E, count, out, hp_.n_vocab, act_.data());
    if (hp_.opt.final_softcap > 0) ops_softcap(out, (int64_t)count * hp_.n_vocab, hp_.opt.final_softcap);
}

Status TransformerContext::decode(const int32_t* tokens, size_t n, bool all_logits, std::vector<float>* logits,
                            const std::atomic<bool>* cancel) {
    if (n == 0 || !tokens) return status_error("INVALID_ARGUMENT", "decode needs at least one token");
    for (size_t i = 0; i < n; i++) {
        if (tokens[i] < 0 || tokens[i] >= hp_.n_vocab)
            return status_error("INVALID_ARGUMENT", "token id " + std::to_string(tokens[i]) + " at index " +
                                                        std::to_string(i) + " is outside the vocabulary [0, " +
                                                        std::to_string(hp_.n_vocab) + ")");
    }
    if ((int64_t)pos_ + (int64_t)n > n_ctx_)
        return status_error("CONTEXT_FULL", "decoding " + std::to_string(n) + " tokens at position " +
                                                std::to_string(pos_) + " would exceed the context size " +
                                                std::to_string(n_ctx_) + "; reset the context or create a larger one");
    const size_t V = (size_t)hp_.n_vocab;
    if (logits) {
        try {
            logits->resize(all_logits ? n * V : V);
        } catch (const std::bad_alloc&) {
            return status_error("OUT_OF_MEMORY", "no memory for the logits of " + std::to_string(n) + " tokens");
        }
    }
    float* all_out = logits && all_logits ? logits->data() : nullptr;
    const int32_t pos_start = pos_;
    for (size_t c = 0; c < n; c += (size_t)n_batch_) {
        const int32_t m = (int32_t)std::min(n - c, (size_t)n_batch_);
        const bool last_chunk = c + (size_t)m == n;
        if ((cancel && cancel->load(std::memory_order_relaxed)) || !forward_layers(tokens + c, m, pos_, cancel)) {
            pos_ = pos_start;
            return status_error("ABORTED", "decode was cancelled");
        }
        std::copy(tokens + c, tokens + c + m, history_.begin() + pos_);
        pos_ += m;
        if (all_out) {
            output_logits(0, m, all_out + c * V);
            if (last_chunk) std::copy(all_out + (n - 1) * V, all_out + n * V, last_logits_.begin());
        } else if (last_chunk) {
            output_logits(m - 1, 1, last_logits_.data());
        }
    }
    has_logits_ = true;
    if (logits && !all_logits) std::copy(last_logits_.begin(), last_logits_.end(), logits->begin());
    return status_ok();
}

Status TransformerContext::sample(const SamplerParams& params, int32_t* token) {
    if (!has_logits_) return status_error("INVALID_ARGUMENT", "nothing to sample from: decode tokens first");
    return sampler_sample(&sampler_, params, last_logits_.data(), history_.data(), pos_, token);
}

}  // namespace

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

}  // namespace rl
