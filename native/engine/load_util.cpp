// Metadata and tensor readers shared by the architecture loaders (transformer_load.cpp,
// encoder.cpp): every read checks type, range and shape and reports MODEL_INVALID naming the key or
// tensor, so a hostile file never reaches the forward pass.
#include "load_util.h"

#include <cmath>
#include <string>

#include "../gguf/gguf_types.h"

namespace rl {

Status invalid(const std::string& msg) {
    return status_error("MODEL_INVALID", msg + "; the file is damaged or was not written for its architecture");
}

// Integer metadata value; *found false when absent. Wrong type or out of [lo, hi] is MODEL_INVALID.
Status read_int(const GgufHeader& h, const std::string& key, int64_t lo, int64_t hi, int32_t* out,
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

Status read_float(const GgufHeader& h, const std::string& key, float* out, bool* found) {
    const GgufValue* v = h.find(key);
    *found = v != nullptr;
    if (!v) return status_ok();
    if (v->type != GGUF_TYPE_FLOAT32 && v->type != GGUF_TYPE_FLOAT64)
        return invalid("metadata '" + key + "' has type " + gguf_value_type_name(v->type) + ", expected a float");
    if (!std::isfinite(v->f)) return invalid("metadata '" + key + "' is not a finite number");
    *out = (float)v->f;
    return status_ok();
}

Status require_int(const GgufHeader& h, const std::string& key, int64_t lo, int64_t hi, int32_t* out) {
    bool found;
    Status st = read_int(h, key, lo, hi, out, &found);
    if (st.ok() && !found) return invalid("metadata '" + key + "' is missing");
    return st;
}

static std::string shape_str(int64_t a, int64_t b) {
    return "[" + std::to_string(a) + ", " + std::to_string(b) + "]";
}

// Finds a tensor of exactly shape [ne0, ne1] (ne1 = 1: a vector) whose type we can compute.
Status find_tensor(const Model& m, const std::string& name, int64_t ne0, int64_t ne1, const KernelTable* kt,
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

Status load_matrix(const Model& m, const std::string& name, int64_t n_in, int64_t n_out, const KernelTable* kt,
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
Status load_vector(const Model& m, const std::string& name, int64_t n, const KernelTable* kt,
                          std::vector<float>* out) {
    const GgufTensorInfo* t;
    const WeightKernels* k;
    Status st = find_tensor(m, name, n, 1, kt, &t, &k);
    if (!st.ok()) return st;
    out->assign((size_t)n, 0.0f);
    k->dequantize_row(m.file.tensor_data(*t), out->data(), n);
    return status_ok();
}


Status read_string(const GgufHeader& h, const std::string& key, std::string* out, bool* found) {
    const GgufValue* v = h.find(key);
    *found = v != nullptr;
    if (!v) return status_ok();
    if (v->type != GGUF_TYPE_STRING)
        return invalid("metadata '" + key + "' has type " + gguf_value_type_name(v->type) + ", expected a string");
    *out = std::string(v->str);
    return status_ok();
}

// Rows [first, first + n) of a matrix: the parts of a fused tensor (phi3's attn_qkv, ffn_up).
WeightMatrix row_view(const WeightMatrix& m, int64_t first, int64_t n) {
    WeightMatrix v = m;
    v.data = m.data + (size_t)first * m.row_bytes;
    v.n_out = n;
    return v;
}

Status load_optional_vector(const Model& m, const std::string& name, int64_t n, const KernelTable* kt,
                                   std::vector<float>* out) {
    out->clear();
    if (!m.file.header().find_tensor(name)) return status_ok();
    return load_vector(m, name, n, kt, out);
}

}  // namespace rl
