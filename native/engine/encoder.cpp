// The encoder forward pass (see encoder.h). Texts are packed as rows: every matrix runs once over the
// rows of all texts of a batch (one pass over the weights), attention runs within each text.
//
//   x = LayerNorm(tok_embd[t] + token_types[0] + position_embd[p])      (no position_embd: nomic-bert)
//   per layer:  q, k, v = x Wq + bq, x Wk + bk, x Wv + bv               (nomic-bert: fused attn_qkv)
//               nomic-bert: RoPE (NEOX order) on q and k at the position in the text
//               a = softmax(q kᵀ / sqrt(head_dim)) v over the text's tokens (GQA by head index)
//               x = LayerNorm(x + a Wo + bo)                              (attn_output_norm)
//               f = GELU(x Wup + bup) Wdown + bdown                       (nomic-bert: SiLU(x Wgate) * x Wup)
//               x = LayerNorm(x + f)                                      (layer_output_norm)
//   pooled per text (mean / first / last / every row); no final norm.
#include "encoder.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <mutex>
#include <new>
#include <string>

#include "../gguf/gguf_types.h"
#include "../kernels/kernels.h"
#include "load_util.h"
#include "matmul.h"
#include "ops.h"
#include "repack.h"

namespace rl {

namespace {

struct EncoderLayer {
    WeightMatrix wq, wk, wv, wo, w_up, w_gate, w_down;  // w_gate: nomic-bert only
    std::vector<float> bq, bk, bv, bo, b_up, b_down;     // empty when the file has none
    std::vector<float> attn_norm_w, attn_norm_b;         // attn_output_norm
    std::vector<float> out_norm_w, out_norm_b;           // layer_output_norm
};

struct EncoderHparams {
    std::string arch;
    bool rope = false;     // nomic-bert: RoPE instead of learned positions, SwiGLU FFN
    bool causal = false;   // attention.causal (false for every published BERT)
    int32_t n_vocab = 0, n_embd = 0, n_layer = 0, n_ff = 0, n_head = 0, n_head_kv = 0, head_dim = 0, n_rot = 0;
    int32_t n_ctx_train = 0;
    float eps = 1e-12f;
    float rope_base = 10000.0f;
};

const char* const k_encoder_archs[] = {"bert", "nomic-bert"};

Status load_encoder(const Model& m, const KernelTable* kt, EncoderHparams* hp, WeightMatrix* tok_embd,
                    std::vector<float>* type0, WeightMatrix* pos_embd, std::vector<float>* norm_w,
                    std::vector<float>* norm_b, std::vector<EncoderLayer>* layers) {
    const GgufHeader& h = m.file.header();
    const std::string a = m.architecture + ".";
    hp->arch = m.architecture;
    hp->rope = m.architecture == "nomic-bert";
    const int32_t kMax = 1 << 20;
    Status st;
    bool found;
    if (!(st = require_int(h, a + "block_count", 1, 4096, &hp->n_layer)).ok()) return st;
    if (!(st = require_int(h, a + "embedding_length", 1, kMax, &hp->n_embd)).ok()) return st;
    if (!(st = require_int(h, a + "feed_forward_length", 1, kMax, &hp->n_ff)).ok()) return st;
    if (!(st = require_int(h, a + "attention.head_count", 1, 4096, &hp->n_head)).ok()) return st;
    if (!(st = require_int(h, a + "context_length", 1, kMax, &hp->n_ctx_train)).ok()) return st;
    hp->n_head_kv = hp->n_head;
    if (!(st = read_int(h, a + "attention.head_count_kv", 1, 4096, &hp->n_head_kv, &found)).ok()) return st;
    if (hp->n_embd % hp->n_head != 0 || hp->n_head % hp->n_head_kv != 0)
        return invalid("embedding_length " + std::to_string(hp->n_embd) + ", head_count " + std::to_string(hp->n_head) +
                       " and head_count_kv " + std::to_string(hp->n_head_kv) + " do not divide evenly");
    hp->head_dim = hp->n_embd / hp->n_head;
    if (!(st = read_float(h, a + "attention.layer_norm_epsilon", &hp->eps, &found)).ok()) return st;
    if (!found) return invalid("metadata '" + a + "attention.layer_norm_epsilon' is missing");
    if (!(hp->eps >= 0)) return invalid("attention.layer_norm_epsilon is negative");
    if (const GgufValue* c = h.find(a + "attention.causal")) {
        if (c->type != GGUF_TYPE_BOOL) return invalid("metadata '" + a + "attention.causal' is not a boolean");
        hp->causal = c->u != 0;
    }
    if (hp->rope) {
        hp->n_rot = hp->head_dim;
        if (!(st = read_int(h, a + "rope.dimension_count", 2, 65536, &hp->n_rot, &found)).ok()) return st;
        if (hp->n_rot > hp->head_dim || hp->n_rot % 2 != 0)
            return invalid("rope.dimension_count must be even and at most the head size");
        if (!(st = read_float(h, a + "rope.freq_base", &hp->rope_base, &found)).ok()) return st;
        if (!(hp->rope_base > 0)) return invalid("rope.freq_base must be positive");
    }

    const GgufTensorInfo* emb = h.find_tensor("token_embd.weight");
    if (!emb) return invalid("tensor 'token_embd.weight' is missing");
    if (emb->ne[1] < 1 || emb->ne[1] > INT32_MAX) return invalid("tensor 'token_embd.weight' has a bad vocabulary size");
    hp->n_vocab = (int32_t)emb->ne[1];
    const int64_t E = hp->n_embd, F = hp->n_ff, KD = (int64_t)hp->n_head_kv * hp->head_dim;
    if (!(st = load_matrix(m, "token_embd.weight", E, hp->n_vocab, kt, tok_embd)).ok()) return st;
    type0->clear();
    if (const GgufTensorInfo* t = h.find_tensor("token_types.weight")) {
        WeightMatrix types;
        if (t->ne[1] < 1 || t->ne[1] > 4096) return invalid("tensor 'token_types.weight' has a bad number of types");
        if (!(st = load_matrix(m, "token_types.weight", E, t->ne[1], kt, &types)).ok()) return st;
        type0->assign((size_t)E, 0.0f);
        matrix_get_row(types, 0, type0->data());  // every token is of type 0 ("sentence A")
    }
    if (!hp->rope && !(st = load_matrix(m, "position_embd.weight", E, hp->n_ctx_train, kt, pos_embd)).ok()) return st;
    if (!(st = load_vector(m, "token_embd_norm.weight", E, kt, norm_w)).ok()) return st;
    if (!(st = load_vector(m, "token_embd_norm.bias", E, kt, norm_b)).ok()) return st;

    layers->assign((size_t)hp->n_layer, EncoderLayer{});
    for (int32_t il = 0; il < hp->n_layer; il++) {
        EncoderLayer& L = (*layers)[(size_t)il];
        const std::string p = "blk." + std::to_string(il) + ".";
        if (h.find_tensor(p + "attn_qkv.weight")) {
            WeightMatrix qkv;
            if (!(st = load_matrix(m, p + "attn_qkv.weight", E, E + 2 * KD, kt, &qkv)).ok()) return st;
            L.wq = row_view(qkv, 0, E);
            L.wk = row_view(qkv, E, KD);
            L.wv = row_view(qkv, E + KD, KD);
            std::vector<float> bqkv;
            if (!(st = load_optional_vector(m, p + "attn_qkv.bias", E + 2 * KD, kt, &bqkv)).ok()) return st;
            if (!bqkv.empty()) {
                L.bq.assign(bqkv.begin(), bqkv.begin() + E);
                L.bk.assign(bqkv.begin() + E, bqkv.begin() + E + KD);
                L.bv.assign(bqkv.begin() + E + KD, bqkv.end());
            }
        } else {
            if (!(st = load_matrix(m, p + "attn_q.weight", E, E, kt, &L.wq)).ok()) return st;
            if (!(st = load_matrix(m, p + "attn_k.weight", E, KD, kt, &L.wk)).ok()) return st;
            if (!(st = load_matrix(m, p + "attn_v.weight", E, KD, kt, &L.wv)).ok()) return st;
            if (!(st = load_optional_vector(m, p + "attn_q.bias", E, kt, &L.bq)).ok()) return st;
            if (!(st = load_optional_vector(m, p + "attn_k.bias", KD, kt, &L.bk)).ok()) return st;
            if (!(st = load_optional_vector(m, p + "attn_v.bias", KD, kt, &L.bv)).ok()) return st;
        }
        if (!(st = load_matrix(m, p + "attn_output.weight", E, E, kt, &L.wo)).ok()) return st;
        if (!(st = load_optional_vector(m, p + "attn_output.bias", E, kt, &L.bo)).ok()) return st;
        if (!(st = load_vector(m, p + "attn_output_norm.weight", E, kt, &L.attn_norm_w)).ok()) return st;
        if (!(st = load_vector(m, p + "attn_output_norm.bias", E, kt, &L.attn_norm_b)).ok()) return st;
        if (!(st = load_matrix(m, p + "ffn_up.weight", E, F, kt, &L.w_up)).ok()) return st;
        if (!(st = load_optional_vector(m, p + "ffn_up.bias", F, kt, &L.b_up)).ok()) return st;
        if (hp->rope && !(st = load_matrix(m, p + "ffn_gate.weight", E, F, kt, &L.w_gate)).ok()) return st;
        if (!(st = load_matrix(m, p + "ffn_down.weight", F, E, kt, &L.w_down)).ok()) return st;
        if (!(st = load_optional_vector(m, p + "ffn_down.bias", E, kt, &L.b_down)).ok()) return st;
        if (!(st = load_vector(m, p + "layer_output_norm.weight", E, kt, &L.out_norm_w)).ok()) return st;
        if (!(st = load_vector(m, p + "layer_output_norm.bias", E, kt, &L.out_norm_b)).ok()) return st;
        for (WeightMatrix* mat : {&L.wq, &L.wk, &L.wv, &L.wo, &L.w_up, &L.w_gate, &L.w_down})
            if (mat->data && !(st = repack_matrix(m, mat)).ok()) return st;
    }
    return status_ok();
}

Status not_generative(const std::string& arch, const char* what) {
    return status_error("UNSUPPORTED", std::string(what) + ": '" + arch +
                                           "' is an embedding model (an encoder) and cannot generate text; use "
                                           "model.embed()");
}

void add_bias(float* y, const std::vector<float>& b, int64_t rows, int64_t stride) {
    ops_add_bias_rows(y, b.empty() ? nullptr : b.data(), rows, (int64_t)b.size(), stride);
}

// x = LayerNorm(o + x) with weight w and bias b, over rows of n (post-norm residual of a block).
void add_norm_rows(float* x, const float* o, const std::vector<float>& w, const std::vector<float>& b, int64_t rows,
                   int64_t n, float eps) {
    for (int64_t r = 0; r < rows; r++) {
        float* xr = x + r * n;
        const float* orow = o + r * n;
        for (int64_t e = 0; e < n; e++) xr[e] = orow[e] + xr[e];
        ops_layernorm_bias(xr, w.data(), b.data(), xr, n, eps);
    }
}

class EncoderContext final : public Context {
public:
    Status init(std::shared_ptr<Model> model, const ContextParams& params, const KernelTable* kt) {
        model_ = std::move(model);
        kt_ = kt;
        Status st = load_encoder(*model_, kt, &hp_, &tok_embd_, &type0_, &pos_embd_, &norm_w_, &norm_b_, &layers_);
        if (!st.ok()) return st;
        // texts longer than the learned positions cannot be embedded; RoPE models take the context size
        max_text_ = hp_.rope ? (params.n_ctx > 0 ? params.n_ctx : hp_.n_ctx_train) : hp_.n_ctx_train;
        n_batch_ = params.n_batch;
        kinds_.assign((size_t)hp_.n_layer, LayerKind{});
        stats_.repacked_bytes = (int64_t)packed_weights_bytes(*model_);
        return pool_.init(params.n_threads > 0 ? params.n_threads : 1);
    }

    Status decode(const int32_t*, size_t, bool, std::vector<float>*, const std::atomic<bool>*) override {
        return not_generative(hp_.arch, "decode");
    }
    Status sample(const SamplerParams&, int32_t*) override { return not_generative(hp_.arch, "sample"); }
    void set_seed(uint64_t) override {}
    int64_t position() const override { return 0; }
    int64_t n_ctx() const override { return max_text_; }
    int32_t n_vocab() const override { return hp_.n_vocab; }
    void reset() override {}
    Status truncate(int64_t n) override {
        if (n != 0) return status_error("INVALID_ARGUMENT", "truncate: an encoder context holds no tokens");
        return status_ok();
    }
    bool tokens(std::vector<int32_t>* out) const override {
        out->clear();
        return true;
    }
    const std::vector<LayerKind>& layer_kinds() const override { return kinds_; }
    Status save_state(StateSink*, int32_t) const override {
        return status_error("UNSUPPORTED", "saveState: an encoder context (" + hp_.arch + ") keeps no state to save");
    }
    Status load_state(StateSource*, int32_t*) override {
        return status_error("UNSUPPORTED", "loadState: an encoder context (" + hp_.arch + ") keeps no state to load");
    }
    ContextStats stats() const override {
        std::lock_guard<std::mutex> lock(stats_mutex_);
        return stats_;
    }
    Status kv_slots(int32_t, int32_t, std::vector<int64_t>*, std::vector<double>*) const override {
        return status_error("INVALID_ARGUMENT", "an encoder context has no KV cache");
    }

    Status embed(const int32_t* tokens, size_t n, Pooling pooling, std::vector<float>* out,
                 const std::atomic<bool>* cancel) override {
        if (n > (size_t)INT32_MAX) return status_error("INVALID_ARGUMENT", "embed: too many tokens");
        const int32_t len = (int32_t)n;
        return embed_batch(tokens, &len, 1, pooling, out, cancel);
    }

    Status embed_batch(const int32_t* tokens, const int32_t* lengths, size_t n_texts, Pooling pooling,
                       std::vector<float>* out, const std::atomic<bool>* cancel) override {
        size_t total = 0;
        for (size_t i = 0; i < n_texts; i++) {
            if (lengths[i] < 1) return status_error("INVALID_ARGUMENT", "embed needs at least one token per text");
            if (lengths[i] > max_text_)
                return status_error("CONTEXT_FULL", "a text of " + std::to_string(lengths[i]) + " tokens is longer than " +
                                                        (hp_.rope ? "the context size " : "the model's positions ") +
                                                        std::to_string(max_text_) + "; split or shorten it");
            total += (size_t)lengths[i];
        }
        Status st = check_token_ids("embed", tokens, total, hp_.n_vocab);
        if (!st.ok()) return st;
        const int64_t E = hp_.n_embd;
        try {
            out->assign(pooling == Pooling::None ? total * (size_t)E : n_texts * (size_t)E, 0.0f);
            // texts in batches of about n_batch rows (a longer text alone: its attention needs all of it)
            size_t first = 0, at = 0, out_at = 0;
            while (first < n_texts) {
                size_t last = first, rows = 0;
                while (last < n_texts && (last == first || rows + (size_t)lengths[last] <= (size_t)n_batch_))
                    rows += (size_t)lengths[last++];
                if (cancel && cancel->load(std::memory_order_relaxed)) return status_error("ABORTED", "embed was cancelled");
                if (!forward(tokens + at, lengths + first, last - first, (int32_t)rows, cancel))
                    return status_error("ABORTED", "embed was cancelled");
                pool(lengths + first, last - first, pooling, out->data() + out_at);
                for (size_t i = first; i < last; i++) out_at += pooling == Pooling::None ? (size_t)lengths[i] * E : (size_t)E;
                at += rows;
                first = last;
            }
        } catch (const std::bad_alloc&) {
            return status_error("OUT_OF_MEMORY", "no memory to embed " + std::to_string(total) + " tokens");
        }
        std::lock_guard<std::mutex> lock(stats_mutex_);
        stats_.tokens += (int64_t)total;
        return status_ok();
    }

private:
    // Grows the scratch to `rows` rows (throws bad_alloc).
    void reserve(int32_t rows, int32_t longest) {
        const size_t R = (size_t)rows, E = (size_t)hp_.n_embd, F = (size_t)hp_.n_ff;
        const size_t KD = (size_t)hp_.n_head_kv * hp_.head_dim;
        if (x_.size() < R * E) {
            x_.resize(R * E);
            q_.resize(R * E);
            att_.resize(R * E);
            o_.resize(R * E);
            k_.resize(R * KD);
            v_.resize(R * KD);
            up_.resize(R * F);
            if (hp_.rope) gate_.resize(R * F);
            size_t act = 0;
            for (const EncoderLayer& L : layers_)
                for (const WeightMatrix* m : {&L.wq, &L.wk, &L.wv, &L.wo, &L.w_up, &L.w_gate, &L.w_down})
                    if (m->data) act = std::max(act, matmul_act_bytes(*m, rows));
            act_.resize(act + 64);
        }
        if (scores_stride_ < (size_t)longest) {
            scores_stride_ = (size_t)longest;
            scores_.resize((size_t)pool_.n_threads() * scores_stride_);
        }
        if (hp_.rope && rope_rows_ < longest) {
            const size_t half = (size_t)hp_.n_rot / 2;
            rope_cs_.resize((size_t)longest * half * 2);
            for (int32_t p = rope_rows_; p < longest; p++)
                ops_rope_cache(rope_cs_.data() + (size_t)p * half * 2, hp_.n_rot, p, 1.0f, hp_.rope_base, nullptr);
            rope_rows_ = longest;
        }
    }

    // Rows of n texts (lengths) through every layer; the result in x_. false when cancelled.
    bool forward(const int32_t* tokens, const int32_t* lengths, size_t n, int32_t rows, const std::atomic<bool>* cancel) {
        const int32_t longest = *std::max_element(lengths, lengths + n);
        reserve(rows, longest);
        const int64_t E = hp_.n_embd, F = hp_.n_ff, KD = (int64_t)hp_.n_head_kv * hp_.head_dim;
        float* x = x_.data();
        for (size_t i = 0, r = 0; i < n; i++)
            for (int32_t p = 0; p < lengths[i]; p++, r++) {
                float* row = x + r * E;
                matrix_get_row(tok_embd_, tokens[r], row);
                if (!type0_.empty())
                    for (int64_t e = 0; e < E; e++) row[e] += type0_[(size_t)e];
                if (!hp_.rope) {
                    matrix_get_row(pos_embd_, p, o_.data());
                    for (int64_t e = 0; e < E; e++) row[e] = o_[(size_t)e] + row[e];
                }
                ops_layernorm_bias(row, norm_w_.data(), norm_b_.data(), row, E, hp_.eps);
            }
        uint8_t* act = act_.data();
        for (const EncoderLayer& L : layers_) {
            if (cancel && cancel->load(std::memory_order_relaxed)) return false;
            const MatmulOut qkv[3] = {{&L.wq, q_.data(), E}, {&L.wk, k_.data(), KD}, {&L.wv, v_.data(), KD}};
            matmul_many(&pool_, qkv, 3, x, E, rows, act);
            add_bias(q_.data(), L.bq, rows, E);
            add_bias(k_.data(), L.bk, rows, KD);
            add_bias(v_.data(), L.bv, rows, KD);
            if (hp_.rope) {
                const size_t half = (size_t)hp_.n_rot / 2;
                for (size_t i = 0, r = 0; i < n; i++)
                    for (int32_t p = 0; p < lengths[i]; p++, r++) {
                        const float* cs = rope_cs_.data() + (size_t)p * half * 2;
                        ops_rope_apply_neox(q_.data() + r * E, hp_.n_head, hp_.head_dim, hp_.n_rot, cs);
                        ops_rope_apply_neox(k_.data() + r * KD, hp_.n_head_kv, hp_.head_dim, hp_.n_rot, cs);
                    }
            }
            attention(lengths, n);
            matmul(&pool_, L.wo, att_.data(), E, rows, o_.data(), E, act);
            add_bias(o_.data(), L.bo, rows, E);
            add_norm_rows(x, o_.data(), L.attn_norm_w, L.attn_norm_b, rows, E, hp_.eps);
            if (hp_.rope) {
                const MatmulOut gu[2] = {{&L.w_gate, gate_.data(), F}, {&L.w_up, up_.data(), F}};
                matmul_many(&pool_, gu, 2, x, E, rows, act);
                ops_swiglu(gate_.data(), up_.data(), (int64_t)rows * F);
                matmul(&pool_, L.w_down, gate_.data(), F, rows, o_.data(), E, act);
            } else {
                matmul(&pool_, L.w_up, x, E, rows, up_.data(), F, act);
                add_bias(up_.data(), L.b_up, rows, F);
                ops_gelu(up_.data(), (int64_t)rows * F);
                matmul(&pool_, L.w_down, up_.data(), F, rows, o_.data(), E, act);
            }
            add_bias(o_.data(), L.b_down, rows, E);
            add_norm_rows(x, o_.data(), L.out_norm_w, L.out_norm_b, rows, E, hp_.eps);
        }
        return true;
    }

    // att_ = softmax(q kᵀ * scale) v per text and head (keys of the same text only; causal when the
    // model says so). One work item per (text, head); each query row's scores in the worker's scratch.
    void attention(const int32_t* lengths, size_t n) {
        const int32_t H = hp_.n_head, D = hp_.head_dim, G = hp_.n_head / hp_.n_head_kv;
        const int64_t E = hp_.n_embd, KD = (int64_t)hp_.n_head_kv * D;
        const float scale = 1.0f / std::sqrt((float)D);
        std::vector<int64_t> starts(n + 1, 0);
        int64_t work = 0;
        for (size_t i = 0; i < n; i++) {
            starts[i + 1] = starts[i] + lengths[i];
            work += (int64_t)lengths[i] * lengths[i];
        }
        const int64_t items = (int64_t)n * H;
        pool_.parallel_for_work(items, work / (int64_t)n * D * 2 + 1, [&](int64_t begin, int64_t end, int worker) {
            float* s = scores_.data() + (size_t)worker * scores_stride_;
            for (int64_t it = begin; it < end; it++) {
                const size_t t = (size_t)(it / H);
                const int32_t h = (int32_t)(it % H), hk = h / G;
                const int64_t r0 = starts[t], len = lengths[t];
                for (int64_t i = 0; i < len; i++) {
                    const float* q = q_.data() + (r0 + i) * E + (int64_t)h * D;
                    const int64_t keys = hp_.causal ? i + 1 : len;
                    for (int64_t j = 0; j < keys; j++)
                        s[j] = kt_->dot_f32(q, k_.data() + (r0 + j) * KD + (int64_t)hk * D, D) * scale;
                    ops_softmax(s, keys);
                    float* o = att_.data() + (r0 + i) * E + (int64_t)h * D;
                    std::fill(o, o + D, 0.0f);
                    for (int64_t j = 0; j < keys; j++) kt_->axpy_f32(o, s[j], v_.data() + (r0 + j) * KD + (int64_t)hk * D, D);
                }
            }
        });
    }

    void pool(const int32_t* lengths, size_t n, Pooling pooling, float* out) const {
        const int64_t E = hp_.n_embd;
        const float* x = x_.data();
        for (size_t i = 0; i < n; i++) {
            const int64_t len = lengths[i];
            switch (pooling) {
                case Pooling::None:
                    std::copy(x, x + len * E, out);
                    out += len * E;
                    break;
                case Pooling::Mean:
                    for (int64_t e = 0; e < E; e++) {
                        double sum = 0.0;
                        for (int64_t r = 0; r < len; r++) sum += x[r * E + e];
                        out[e] = (float)(sum / (double)len);
                    }
                    out += E;
                    break;
                case Pooling::Cls: std::copy(x, x + E, out); out += E; break;
                case Pooling::Last: std::copy(x + (len - 1) * E, x + len * E, out); out += E; break;
            }
            x += len * E;
        }
    }

    std::shared_ptr<Model> model_;
    const KernelTable* kt_ = nullptr;
    EncoderHparams hp_;
    WeightMatrix tok_embd_, pos_embd_;
    std::vector<float> type0_, norm_w_, norm_b_;
    std::vector<EncoderLayer> layers_;
    std::vector<LayerKind> kinds_;
    ThreadPool pool_;
    int64_t max_text_ = 0;
    int32_t n_batch_ = 512;
    mutable std::mutex stats_mutex_;
    ContextStats stats_;

    // scratch, grown to the largest batch seen
    std::vector<float> x_, q_, k_, v_, att_, o_, up_, gate_;
    std::vector<uint8_t> act_;
    std::vector<float> scores_;  // per worker: one query's scores
    size_t scores_stride_ = 0;
    std::vector<float> rope_cs_;  // (positions, n_rot/2, 2)
    int32_t rope_rows_ = 0;
};

}  // namespace

bool encoder_arch_supported(const std::string& arch) {
    for (const char* a : k_encoder_archs)
        if (arch == a) return true;
    return false;
}

const char* encoder_supported_archs() { return "bert, nomic-bert"; }

Status encoder_context_create(std::shared_ptr<Model> model, const ContextParams& params, const KernelTable* kt,
                              std::unique_ptr<Context>* out) {
    try {
        auto ctx = std::make_unique<EncoderContext>();
        Status st = ctx->init(std::move(model), params, kt);
        if (!st.ok()) return st;
        *out = std::move(ctx);
        return status_ok();
    } catch (const std::bad_alloc&) {
        return status_error("OUT_OF_MEMORY", "not enough memory for an encoder context");
    }
}

}  // namespace rl
