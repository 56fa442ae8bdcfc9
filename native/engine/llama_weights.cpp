#include <cmath>
#include <string>

#include "../gguf/gguf_types.h"
#include "llama.h"

namespace rl {

static Status invalid(const std::string& msg) {
    return status_error("MODEL_INVALID", msg + "; the file is damaged or was not written for the llama architecture");
}

// Integer metadata value; *found false when absent. Wrong type or out of [lo, hi] is MODEL_INVALID.
static Status read_int(const GgufHeader& h, const std::string& key, int64_t lo, int64_t hi, int32_t* out,
                       bool* found) {
    const GgufValue* v = h.find(key);
    *found = v != nullptr;
    if (!v) return status_ok();
    int64_t x;
    switch (v->type) {
        case GGUF_TYPE_UINT8: case GGUF_TYPE_UINT16: case GGUF_TYPE_UINT32: case GGUF_TYPE_UINT64:
            x = v->u > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)v->u;
            break;
        case GGUF_TYPE_INT8: case GGUF_TYPE_INT16: case GGUF_TYPE_INT32: case GGUF_TYPE_INT64:
            x = v->i;
            break;
        default:
            return invalid("metadata '" + key + "' has type " + gguf_value_type_name(v->type) + ", expected an integer");
    }
    if (x < lo || x > hi)
        return invalid("metadata '" + key + "' = " + std::to_string(x) + " is outside [" + std::to_string(lo) + ", " +
                       std::to_string(hi) + "]");
    *out = (int32_t)x;
    return status_ok();
}

static Status read_float(const GgufHeader& h, const std::string& key, float* out, bool* found) {
    const GgufValue* v = h.find(key);
    *found = v != nullptr;
    if (!v) return status_ok();
    if (v->type != GGUF_TYPE_FLOAT32 && v->type != GGUF_TYPE_FLOAT64)
        return invalid("metadata '" + key + "' has type " + gguf_value_type_name(v->type) + ", expected a float");
    if (!std::isfinite(v->f)) return invalid("metadata '" + key + "' is not a finite number");
    *out = (float)v->f;
    return status_ok();
}

static Status require_int(const GgufHeader& h, const std::string& key, int64_t lo, int64_t hi, int32_t* out) {
    bool found;
    Status st = read_int(h, key, lo, hi, out, &found);
    if (st.ok() && !found) return invalid("metadata '" + key + "' is missing");
    return st;
}

static std::string shape_str(int64_t a, int64_t b) {
    return "[" + std::to_string(a) + ", " + std::to_string(b) + "]";
}

// Finds a tensor of exactly shape [ne0, ne1] (ne1 = 1: a vector) whose type we can compute.
static Status find_tensor(const Model& m, const std::string& name, int64_t ne0, int64_t ne1, const KernelTable* kt,
                          const GgufTensorInfo** info, const WeightKernels** kernels) {
    const GgufTensorInfo* t = m.file.header().find_tensor(name);
    if (!t) return invalid("tensor '" + name + "' is missing");
    if (t->ne[2] != 1 || t->ne[3] != 1 || t->ne[0] != ne0 || t->ne[1] != ne1) {
        std::string got = "[" + std::to_string(t->ne[0]);
        for (uint32_t d = 1; d < t->n_dims; d++) got += ", " + std::to_string(t->ne[d]);
        return invalid("tensor '" + name + "' has shape " + got + "], expected " +
                       (ne1 == 1 ? "[" + std::to_string(ne0) + "]" : shape_str(ne0, ne1)));
    }
    const GgmlTypeInfo* ti = ggml_type_info(t->type);
    const WeightKernels* k = ti && ti->computable ? weight_kernels(t->type, kt) : nullptr;
    if (!k)
        return status_error("MODEL_UNSUPPORTED_TYPE", "tensor '" + name + "' has type " + (ti ? ti->name : "unknown") +
                                                          ", which this version of ringllm cannot compute yet; use a "
                                                          "file quantized to a supported type");
    if (ne0 % ti->block_size != 0)
        return invalid("tensor '" + name + "' has rows of " + std::to_string(ne0) + " elements, not a multiple of " +
                       ti->name + "'s block of " + std::to_string(ti->block_size));
    uint64_t row_bytes = (uint64_t)ne0 / ti->block_size * ti->block_bytes;
    if (t->n_bytes != row_bytes * (uint64_t)ne1 || !m.file.tensor_data(*t))
        return invalid("tensor '" + name + "' has no data of the size its shape needs");
    *info = t;
    *kernels = k;
    return status_ok();
}

static Status load_matrix(const Model& m, const std::string& name, int64_t n_in, int64_t n_out, const KernelTable* kt,
                          WeightMatrix* out) {
    const GgufTensorInfo* t;
    const WeightKernels* k;
    Status st = find_tensor(m, name, n_in, n_out, kt, &t, &k);
    if (!st.ok()) return st;
    out->data = m.file.tensor_data(*t);
    out->n_in = n_in;
    out->n_out = n_out;
    out->row_bytes = (size_t)(t->n_bytes / (uint64_t)n_out);
    out->k = k;
    return status_ok();
}

// 1-D tensors (norms, rope factors) are small: dequantized once into owned f32.
static Status load_vector(const Model& m, const std::string& name, int64_t n, const KernelTable* kt,
                          std::vector<float>* out) {
    const GgufTensorInfo* t;
    const WeightKernels* k;
    Status st = find_tensor(m, name, n, 1, kt, &t, &k);
    if (!st.ok()) return st;
    out->assign((size_t)n, 0.0f);
    k->dequantize_row(m.file.tensor_data(*t), out->data(), n);
    return status_ok();
}

Status llama_load(const Model& m, const KernelTable* kt, LlamaHparams* hp, LlamaWeights* w) {
    const GgufHeader& h = m.file.header();
    const int32_t kMax = 1 << 20;  // any real dimension is far below this
    Status st;
    bool found;
    if (!(st = require_int(h, "llama.block_count", 1, 4096, &hp->n_layer)).ok()) return st;
    if (!(st = require_int(h, "llama.embedding_length", 1, kMax, &hp->n_embd)).ok()) return st;
    if (!(st = require_int(h, "llama.feed_forward_length", 1, kMax, &hp->n_ff)).ok()) return st;
    if (!(st = require_int(h, "llama.attention.head_count", 1, 4096, &hp->n_head)).ok()) return st;
    hp->n_head_kv = hp->n_head;
    if (!(st = read_int(h, "llama.attention.head_count_kv", 1, 4096, &hp->n_head_kv, &found)).ok()) return st;
    if (hp->n_head % hp->n_head_kv != 0)
        return invalid("attention.head_count " + std::to_string(hp->n_head) + " is not a multiple of head_count_kv " +
                       std::to_string(hp->n_head_kv));
    hp->head_dim_k = hp->head_dim_v = hp->n_embd / hp->n_head;
    if (!(st = read_int(h, "llama.attention.key_length", 1, 65536, &hp->head_dim_k, &found)).ok()) return st;
    if (!found && hp->n_embd % hp->n_head != 0)
        return invalid("embedding_length " + std::to_string(hp->n_embd) + " is not a multiple of head_count " +
                       std::to_string(hp->n_head));
    if (!(st = read_int(h, "llama.attention.value_length", 1, 65536, &hp->head_dim_v, &found)).ok()) return st;
    if (hp->head_dim_k < 1 || hp->head_dim_v < 1) return invalid("attention head size is 0");
    hp->n_rot = hp->head_dim_k;
    if (!(st = read_int(h, "llama.rope.dimension_count", 0, 65536, &hp->n_rot, &found)).ok()) return st;
    if (hp->n_rot > hp->head_dim_k || hp->n_rot % 2 != 0)
        return invalid("rope.dimension_count " + std::to_string(hp->n_rot) + " must be even and at most the head size " +
                       std::to_string(hp->head_dim_k));
    hp->n_ctx_train = 2048;
    if (!(st = read_int(h, "llama.context_length", 1, INT32_MAX, &hp->n_ctx_train, &found)).ok()) return st;
    if (!(st = read_float(h, "llama.attention.layer_norm_rms_epsilon", &hp->rms_eps, &found)).ok()) return st;
    if (hp->rms_eps < 0) return invalid("attention.layer_norm_rms_epsilon is negative");
    if (!(st = read_float(h, "llama.rope.freq_base", &hp->rope_base, &found)).ok()) return st;
    if (hp->rope_base <= 0) return invalid("rope.freq_base must be positive");

    const GgufTensorInfo* emb = h.find_tensor("token_embd.weight");
    if (!emb) return invalid("tensor 'token_embd.weight' is missing");
    if (emb->ne[1] < 1 || emb->ne[1] > INT32_MAX) return invalid("tensor 'token_embd.weight' has a bad vocabulary size");
    hp->n_vocab = (int32_t)emb->ne[1];
    const int64_t E = hp->n_embd, V = hp->n_vocab;
    const int64_t q_dim = (int64_t)hp->n_head * hp->head_dim_k, k_dim = (int64_t)hp->n_head_kv * hp->head_dim_k;
    const int64_t v_dim = (int64_t)hp->n_head_kv * hp->head_dim_v, o_dim = (int64_t)hp->n_head * hp->head_dim_v;

    if (!(st = load_matrix(m, "token_embd.weight", E, V, kt, &w->tok_embd)).ok()) return st;
    if (h.find_tensor("output.weight")) {
        if (!(st = load_matrix(m, "output.weight", E, V, kt, &w->output)).ok()) return st;
    } else {
        w->output = w->tok_embd;  // tied embeddings
    }
    if (!(st = load_vector(m, "output_norm.weight", E, kt, &w->output_norm)).ok()) return st;
    w->rope_freqs.clear();
    if (h.find_tensor("rope_freqs.weight")) {
        if (!(st = load_vector(m, "rope_freqs.weight", hp->n_rot / 2, kt, &w->rope_freqs)).ok()) return st;
        for (float f : w->rope_freqs)
            if (!(f > 0) || !std::isfinite(f)) return invalid("tensor 'rope_freqs.weight' holds a non-positive factor");
    }
    w->layers.assign((size_t)hp->n_layer, LlamaLayer{});
    for (int32_t il = 0; il < hp->n_layer; il++) {
        LlamaLayer& L = w->layers[(size_t)il];
        const std::string p = "blk." + std::to_string(il) + ".";
        if (!(st = load_vector(m, p + "attn_norm.weight", E, kt, &L.attn_norm)).ok()) return st;
        if (!(st = load_matrix(m, p + "attn_q.weight", E, q_dim, kt, &L.wq)).ok()) return st;
        if (!(st = load_matrix(m, p + "attn_k.weight", E, k_dim, kt, &L.wk)).ok()) return st;
        if (!(st = load_matrix(m, p + "attn_v.weight", E, v_dim, kt, &L.wv)).ok()) return st;
        if (!(st = load_matrix(m, p + "attn_output.weight", o_dim, E, kt, &L.wo)).ok()) return st;
        if (!(st = load_vector(m, p + "ffn_norm.weight", E, kt, &L.ffn_norm)).ok()) return st;
        if (!(st = load_matrix(m, p + "ffn_gate.weight", E, hp->n_ff, kt, &L.w_gate)).ok()) return st;
        if (!(st = load_matrix(m, p + "ffn_up.weight", E, hp->n_ff, kt, &L.w_up)).ok()) return st;
        if (!(st = load_matrix(m, p + "ffn_down.weight", hp->n_ff, E, kt, &L.w_down)).ok()) return st;
    }
    return status_ok();
}

}  // namespace rl
