// Hyper-parameters and weights of every supported architecture. Tensor names, metadata keys and
// per-architecture conventions follow the GGUF files llama.cpp's converter writes (see the table).
#include <cmath>
#include <cstring>
#include <string>

#include "../gguf/gguf_types.h"
#include "load_util.h"
#include "repack.h"
#include "transformer.h"

namespace rl {

namespace {

enum class Output { Optional, Tied };  // output.weight read when present, or never (always token_embd)

// Per-architecture conventions; the shared graph reads only ArchOptions.
struct ArchSpec {
    const char* name;
    RopeOrder rope;
    FfnAct act;
    Output output;
    bool fused_ffn_up;   // ffn_up holds gate (first n_ff rows) then up; no ffn_gate (phi3)
    bool embd_scale;     // embeddings scaled by sqrt(n_embd) (gemma*)
    bool post_norms;     // post_attention_norm, post_ffw_norm (gemma2, gemma3)
    bool qk_norm;        // attn_q_norm, attn_k_norm: per-head RMSNorm before RoPE (qwen3, gemma3)
    bool softcaps;       // attn_logit_softcapping, final_logit_softcapping (gemma2)
    int32_t swa_pattern;        // 0: no sliding layers; n: layer il slides unless il % n == n - 1
    int32_t big_model_layers;   // n_layer of the variant whose query scale is 1/sqrt(n_embd/n_head) (0: none)
    bool local_rope_base;  // sliding layers use rope.freq_base_swa (default 10000), unscaled (gemma3)
    bool cohere;  // LayerNorm, parallel attention + FFN, RoPE on sliding layers only, logit_scale (cohere2)
};

// The GGUF converter already stores gemma's RMSNorm weights as (1 + w), so every RMSNorm here is
// the plain y = x / rms(x) * w.
//
// cohere2 (Command R7B), as llama.cpp reads it (llama-model.cpp hparams/tensors, llama_rope_type,
// models/cohere2-iswa.cpp; gguf-py MODEL_TENSORS; convert_hf_to_gguf.py Cohere2Model) and as HF
// transformers' modeling_cohere2.py computes it:
//  - required keys: cohere2.attention.sliding_window, cohere2.logit_scale (0 means none),
//    cohere2.attention.layer_norm_epsilon; the converter writes no sliding_window_pattern:
//    llama.cpp fixes the period at 4 (layers 3, 7, ... global), as HF's (il + 1) % 4 == 0.
//  - norms: LayerNorm (mean-subtracted, weight, no bias) for attn_norm and output_norm; no ffn_norm.
//  - block: h = norm(x); x + attn(h) + ffn(h) (parallel), SwiGLU FFN, no biases.
//  - RoPE in NORM order (adjacent pairs; HF interleaves), applied only on sliding layers: the global
//    layers use no positional encoding. Queries scaled by 1/sqrt(head_dim).
//  - no output.weight: logits = token_embd . norm(x), times logit_scale.
const ArchSpec k_archs[] = {
    {"llama", RopeOrder::Norm, FfnAct::Silu, Output::Optional, false, false, false, false, false, 0, 0, false, false},
    {"qwen2", RopeOrder::Neox, FfnAct::Silu, Output::Optional, false, false, false, false, false, 0, 0, false, false},
    {"qwen3", RopeOrder::Neox, FfnAct::Silu, Output::Optional, false, false, false, true, false, 0, 0, false, false},
    {"phi3", RopeOrder::Neox, FfnAct::Silu, Output::Optional, true, false, false, false, false, 0, 0, false, false},
    {"gemma", RopeOrder::Neox, FfnAct::GeluTanh, Output::Tied, false, true, false, false, false, 0, 0, false, false},
    {"gemma2", RopeOrder::Neox, FfnAct::GeluTanh, Output::Tied, false, true, true, false, true, 2, 46, false, false},
    {"gemma3", RopeOrder::Neox, FfnAct::GeluTanh, Output::Optional, false, true, true, true, false, 6, 62, true, false},
    {"cohere2", RopeOrder::Norm, FfnAct::Silu, Output::Tied, false, false, false, false, false, 4, 0, false, true},
};

const ArchSpec* find_arch(const std::string& name) {
    for (const ArchSpec& a : k_archs)
        if (name == a.name) return &a;
    return nullptr;
}

}  // namespace

const char* transformer_supported_archs() { return "llama, qwen2, qwen3, phi3, gemma, gemma2, gemma3, cohere2"; }

bool transformer_arch_supported(const std::string& arch) { return find_arch(arch) != nullptr; }

// Hyper-parameters under `<arch>.`: dimensions, norms, rope, and the per-layer kinds.
static Status load_hparams(const GgufHeader& h, const ArchSpec& spec, TransformerHparams* hp) {
    const int32_t kMax = 1 << 20;  // any real dimension is far below this
    const std::string a = std::string(spec.name) + ".";
    Status st;
    bool found;
    hp->arch = spec.name;
    if (!(st = require_int(h, a + "block_count", 1, 4096, &hp->n_layer)).ok()) return st;
    if (!(st = require_int(h, a + "embedding_length", 1, kMax, &hp->n_embd)).ok()) return st;
    if (!(st = require_int(h, a + "feed_forward_length", 1, kMax, &hp->n_ff)).ok()) return st;
    if (!(st = require_int(h, a + "attention.head_count", 1, 4096, &hp->n_head)).ok()) return st;
    hp->n_head_kv = hp->n_head;
    if (!(st = read_int(h, a + "attention.head_count_kv", 1, 4096, &hp->n_head_kv, &found)).ok()) return st;
    if (hp->n_head % hp->n_head_kv != 0)
        return invalid("attention.head_count " + std::to_string(hp->n_head) + " is not a multiple of head_count_kv " +
                       std::to_string(hp->n_head_kv));
    hp->head_dim_k = hp->head_dim_v = hp->n_embd / hp->n_head;
    if (!(st = read_int(h, a + "attention.key_length", 1, 65536, &hp->head_dim_k, &found)).ok()) return st;
    if (!found && hp->n_embd % hp->n_head != 0)
        return invalid("embedding_length " + std::to_string(hp->n_embd) + " is not a multiple of head_count " +
                       std::to_string(hp->n_head));
    if (!(st = read_int(h, a + "attention.value_length", 1, 65536, &hp->head_dim_v, &found)).ok()) return st;
    if (hp->head_dim_k < 1 || hp->head_dim_v < 1) return invalid("attention head size is 0");
    hp->n_rot = hp->head_dim_k;
    if (!(st = read_int(h, a + "rope.dimension_count", 0, 65536, &hp->n_rot, &found)).ok()) return st;
    if (hp->n_rot > hp->head_dim_k || hp->n_rot % 2 != 0)
        return invalid("rope.dimension_count " + std::to_string(hp->n_rot) + " must be even and at most the head size " +
                       std::to_string(hp->head_dim_k));
    hp->n_ctx_train = 2048;
    if (!(st = read_int(h, a + "context_length", 1, INT32_MAX, &hp->n_ctx_train, &found)).ok()) return st;
    const std::string eps_key = spec.cohere ? "attention.layer_norm_epsilon" : "attention.layer_norm_rms_epsilon";
    if (!(st = read_float(h, a + eps_key, &hp->rms_eps, &found)).ok()) return st;
    if (!found && spec.cohere) return invalid("metadata '" + a + eps_key + "' is missing");
    if (hp->rms_eps < 0) return invalid(eps_key + " is negative");
    if (!(st = read_float(h, a + "rope.freq_base", &hp->rope_base, &found)).ok()) return st;
    if (hp->rope_base <= 0) return invalid("rope.freq_base must be positive");

    // RoPE scaling: "linear" divides positions by the factor; "yarn" mixes interpolated and
    // extrapolated frequencies (ops.h RopeYarn) from the original context length and beta_fast /
    // beta_slow. Other types (e.g. phi3's "longrope" factors) are refused rather than run wrong.
    float rope_scale = 1.0f;
    std::string scaling;
    if (!(st = read_string(h, a + "rope.scaling.type", &scaling, &found)).ok()) return st;
    if (scaling == "linear" || scaling == "yarn") {
        float factor = 1.0f;
        if (!(st = read_float(h, a + "rope.scaling.factor", &factor, &found)).ok()) return st;
        if (!(factor > 0)) return invalid("rope.scaling.factor must be positive");
        rope_scale = 1.0f / factor;
    } else if (!scaling.empty() && scaling != "none") {
        return status_error("MODEL_UNSUPPORTED_TYPE", "RoPE scaling type '" + scaling + "' (" + a +
                                                          "rope.scaling.type) is not supported; supported: none, linear, yarn");
    }
    if (scaling == "yarn" && rope_scale != 1.0f) {
        int32_t n_ctx_orig = hp->n_ctx_train;
        float beta_fast = 32.0f, beta_slow = 1.0f, ext = 1.0f, attn = 1.0f;
        if (!(st = read_int(h, a + "rope.scaling.original_context_length", 1, INT32_MAX, &n_ctx_orig, &found)).ok()) return st;
        if (!(st = read_float(h, a + "rope.scaling.yarn_beta_fast", &beta_fast, &found)).ok()) return st;
        if (!(st = read_float(h, a + "rope.scaling.yarn_beta_slow", &beta_slow, &found)).ok()) return st;
        if (!(st = read_float(h, a + "rope.scaling.yarn_ext_factor", &ext, &found)).ok()) return st;
        if (!(st = read_float(h, a + "rope.scaling.attn_factor", &attn, &found)).ok()) return st;
        if (!(st = read_float(h, a + "rope.scaling.yarn_attn_factor", &attn, &found)).ok()) return st;
        if (!(beta_fast > 0) || !(beta_slow > 0) || !(attn > 0) || ext < 0)
            return invalid("YaRN parameters (yarn_beta_fast, yarn_beta_slow, attn_factor, yarn_ext_factor) out of range");
        hp->yarn.ext_factor = ext;
        hp->yarn.attn_factor = attn;
        ops_rope_yarn_dims(hp->n_rot, n_ctx_orig, hp->rope_base, beta_fast, beta_slow, &hp->yarn.low, &hp->yarn.high);
    }

    ArchOptions& o = hp->opt;
    o.rope = spec.rope;
    o.act = spec.act;
    o.embd_scale = spec.embd_scale ? std::sqrt((float)hp->n_embd) : 1.0f;
    o.post_norms = spec.post_norms;
    o.qk_norm = spec.qk_norm;
    // Gemma's 27B variants scale queries by 1/sqrt(n_embd/n_head) (query_pre_attn_scalar), the
    // others by 1/sqrt(head_dim); the GGUF has no key for it, so the layer count identifies them.
    o.attn_scale = 1.0f / std::sqrt((float)hp->head_dim_k);
    if (spec.big_model_layers != 0 && hp->n_layer == spec.big_model_layers)
        o.attn_scale = 1.0f / std::sqrt((float)(hp->n_embd / hp->n_head));
    if (spec.cohere) {
        o.norm = NormKind::Layer;
        o.parallel_ffn = true;
        o.rope_window_only = true;
        float scale = 0.0f;
        if (!(st = read_float(h, a + "logit_scale", &scale, &found)).ok()) return st;
        if (!found) return invalid("metadata '" + a + "logit_scale' is missing");
        o.logit_scale = scale != 0.0f ? scale : 1.0f;  // llama.cpp skips a zero scale
    }
    if (spec.softcaps) {
        o.attn_softcap = 50.0f;  // gemma2's published defaults when the keys are absent
        o.final_softcap = 30.0f;
        if (!(st = read_float(h, a + "attn_logit_softcapping", &o.attn_softcap, &found)).ok()) return st;
        if (!(st = read_float(h, a + "final_logit_softcapping", &o.final_softcap, &found)).ok()) return st;
        if (o.attn_softcap < 0 || o.final_softcap < 0) return invalid("logit soft-capping values must be >= 0");
    }

    // Sliding windows. gemma2/gemma3/cohere2 always have them (pattern from the table; window 4096
    // by default, required for cohere2); any architecture may declare `attention.sliding_window`
    // (Mistral v0.1 files are `llama` with it: every layer slides unless
    // `attention.sliding_window_pattern` says otherwise, as a period n (layer il slides when
    // il % n < n - 1) or a per-layer bool array). qwen2/qwen3 files may carry a window their models do
    // not use unless `use_sliding_window` is true.
    int32_t window = 0;
    float local_base = 10000.0f;  // gemma3's sliding layers keep the original RoPE base
    if (spec.swa_pattern > 0) window = 4096;  // gemma2's default
    if (!(st = read_int(h, a + "attention.sliding_window", 0, INT32_MAX, &window, &found)).ok()) return st;
    // cohere2's sliding layers are also its RoPE layers, so they need a window (llama.cpp requires the key).
    if (spec.cohere && (!found || window < 1))
        return invalid("metadata '" + a + "attention.sliding_window' is " + (found ? "0" : "missing") +
                       "; cohere2 needs a window of at least 1");
    if (found && (hp->arch == "qwen2" || hp->arch == "qwen3")) {
        const GgufValue* use = h.find(a + "use_sliding_window");
        if (!use || use->type != GGUF_TYPE_BOOL || use->u == 0) window = 0;
    }
    if (spec.local_rope_base) {
        if (!(st = read_float(h, a + "rope.freq_base_swa", &local_base, &found)).ok()) return st;
        if (local_base <= 0) return invalid("rope.freq_base_swa must be positive");
    }
    std::vector<bool> sliding((size_t)hp->n_layer, window > 0);
    int32_t period = spec.swa_pattern;
    const GgufValue* pattern = h.find(a + "attention.sliding_window_pattern");
    if (pattern && pattern->type == GGUF_TYPE_ARRAY) {
        if (pattern->elem_type != GGUF_TYPE_BOOL || pattern->count != (uint64_t)hp->n_layer)
            return invalid("metadata '" + a + "attention.sliding_window_pattern' must be an array of " +
                           std::to_string(hp->n_layer) + " booleans (one per layer)");
        for (int32_t il = 0; il < hp->n_layer; il++) sliding[(size_t)il] = window > 0 && pattern->elems[il] != 0;
        period = 0;
    } else if (pattern) {
        if (!(st = read_int(h, a + "attention.sliding_window_pattern", 1, 65536, &period, &found)).ok()) return st;
    }
    if (period > 0)
        for (int32_t il = 0; il < hp->n_layer; il++) sliding[(size_t)il] = window > 0 && il % period != period - 1;
    hp->layer_kinds.assign((size_t)hp->n_layer, LayerKind{});
    for (int32_t il = 0; il < hp->n_layer; il++) {
        LayerKind& k = hp->layer_kinds[(size_t)il];
        k.window = sliding[(size_t)il] ? window : 0;
        // gemma2 uses one base everywhere; gemma3's local layers use their own, unscaled.
        const bool local_rope = k.window > 0 && spec.local_rope_base;
        k.rope_base = local_rope ? local_base : hp->rope_base;
        k.rope_scale = local_rope ? 1.0f : rope_scale;
        k.yarn = !local_rope && hp->yarn.ext_factor != 0.0f;
    }
    return status_ok();
}

Status transformer_load(const Model& m, const KernelTable* kt, TransformerHparams* hp, TransformerWeights* w) {
    const ArchSpec* spec = find_arch(m.architecture);
    if (!spec) return status_error("MODEL_UNSUPPORTED_ARCH", "architecture '" + m.architecture + "' is not supported");
    const GgufHeader& h = m.file.header();
    Status st = load_hparams(h, *spec, hp);
    if (!st.ok()) return st;
    if (h.find_tensor("rope_factors_long.weight") || h.find_tensor("rope_factors_short.weight"))
        return status_error("MODEL_UNSUPPORTED_ARCH",
                            std::string(spec->name) + " files with long-context RoPE factors (rope_factors_long / "
                                                      "rope_factors_short, e.g. Phi-3 128k) are not supported yet");

    const GgufTensorInfo* emb = h.find_tensor("token_embd.weight");
    if (!emb) return invalid("tensor 'token_embd.weight' is missing");
    if (emb->ne[1] < 1 || emb->ne[1] > INT32_MAX) return invalid("tensor 'token_embd.weight' has a bad vocabulary size");
    hp->n_vocab = (int32_t)emb->ne[1];
    const int64_t E = hp->n_embd, V = hp->n_vocab, F = hp->n_ff, HK = hp->head_dim_k;
    const int64_t q_dim = (int64_t)hp->n_head * hp->head_dim_k, k_dim = (int64_t)hp->n_head_kv * hp->head_dim_k;
    const int64_t v_dim = (int64_t)hp->n_head_kv * hp->head_dim_v, o_dim = (int64_t)hp->n_head * hp->head_dim_v;

    if (!(st = load_matrix(m, "token_embd.weight", E, V, kt, &w->tok_embd)).ok()) return st;
    if (spec->output == Output::Optional && h.find_tensor("output.weight")) {
        if (!(st = load_matrix(m, "output.weight", E, V, kt, &w->output)).ok()) return st;
    } else {
        w->output = w->tok_embd;  // tied embeddings
    }
    if (!(st = load_vector(m, "output_norm.weight", E, kt, &w->output_norm)).ok()) return st;
    if (!(st = load_optional_vector(m, "rope_freqs.weight", hp->n_rot / 2, kt, &w->rope_freqs)).ok()) return st;
    for (float f : w->rope_freqs)
        if (!(f > 0) || !std::isfinite(f)) return invalid("tensor 'rope_freqs.weight' holds a non-positive factor");

    w->layers.assign((size_t)hp->n_layer, TransformerLayer{});
    for (int32_t il = 0; il < hp->n_layer; il++) {
        TransformerLayer& L = w->layers[(size_t)il];
        const std::string p = "blk." + std::to_string(il) + ".";
        if (!(st = load_vector(m, p + "attn_norm.weight", E, kt, &L.attn_norm)).ok()) return st;
        if (h.find_tensor(p + "attn_qkv.weight")) {
            WeightMatrix qkv;
            if (!(st = load_matrix(m, p + "attn_qkv.weight", E, q_dim + k_dim + v_dim, kt, &qkv)).ok()) return st;
            L.wq = row_view(qkv, 0, q_dim);
            L.wk = row_view(qkv, q_dim, k_dim);
            L.wv = row_view(qkv, q_dim + k_dim, v_dim);
        } else {
            if (!(st = load_matrix(m, p + "attn_q.weight", E, q_dim, kt, &L.wq)).ok()) return st;
            if (!(st = load_matrix(m, p + "attn_k.weight", E, k_dim, kt, &L.wk)).ok()) return st;
            if (!(st = load_matrix(m, p + "attn_v.weight", E, v_dim, kt, &L.wv)).ok()) return st;
        }
        if (!(st = load_optional_vector(m, p + "attn_q.bias", q_dim, kt, &L.bq)).ok()) return st;
        if (!(st = load_optional_vector(m, p + "attn_k.bias", k_dim, kt, &L.bk)).ok()) return st;
        if (!(st = load_optional_vector(m, p + "attn_v.bias", v_dim, kt, &L.bv)).ok()) return st;
        if (spec->qk_norm) {
            if (!(st = load_vector(m, p + "attn_q_norm.weight", HK, kt, &L.q_norm)).ok()) return st;
            if (!(st = load_vector(m, p + "attn_k_norm.weight", HK, kt, &L.k_norm)).ok()) return st;
        }
        if (!(st = load_matrix(m, p + "attn_output.weight", o_dim, E, kt, &L.wo)).ok()) return st;
        if (spec->post_norms) {
            if (!(st = load_vector(m, p + "post_attention_norm.weight", E, kt, &L.post_attn_norm)).ok()) return st;
            if (!(st = load_vector(m, p + "post_ffw_norm.weight", E, kt, &L.post_ffn_norm)).ok()) return st;
        }
        if (!spec->cohere)
            if (!(st = load_vector(m, p + "ffn_norm.weight", E, kt, &L.ffn_norm)).ok()) return st;
        if (spec->fused_ffn_up && !h.find_tensor(p + "ffn_gate.weight")) {
            WeightMatrix up;
            if (!(st = load_matrix(m, p + "ffn_up.weight", E, 2 * F, kt, &up)).ok()) return st;
            L.w_gate = row_view(up, 0, F);
            L.w_up = row_view(up, F, F);
        } else {
            if (!(st = load_matrix(m, p + "ffn_gate.weight", E, F, kt, &L.w_gate)).ok()) return st;
            if (!(st = load_matrix(m, p + "ffn_up.weight", E, F, kt, &L.w_up)).ok()) return st;
        }
        if (!(st = load_matrix(m, p + "ffn_down.weight", F, E, kt, &L.w_down)).ok()) return st;
    }
    return status_ok();
}

Status transformer_repack(const Model& m, TransformerWeights* w, int32_t n_layers, bool output) {
    Status st;
    for (int32_t il = 0; il < n_layers && il < (int32_t)w->layers.size(); il++) {
        TransformerLayer& L = w->layers[(size_t)il];
        for (WeightMatrix* mat : {&L.wq, &L.wk, &L.wv, &L.wo, &L.w_gate, &L.w_up, &L.w_down})
            if (!(st = repack_matrix(m, mat)).ok()) return st;
    }
    return output ? repack_matrix(m, &w->output) : status_ok();
}

}  // namespace rl
