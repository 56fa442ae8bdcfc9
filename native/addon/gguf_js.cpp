#include "gguf_js.h"

#include <charconv>
#include <cstdlib>
#include <string>

#include "../gguf/gguf_types.h"

namespace rl {

static Napi::Value u64_to_js(Napi::Env env, uint64_t x) {
    if (x <= 9007199254740991ull) return Napi::Number::New(env, (double)x);
    return Napi::BigInt::New(env, x);
}

static Napi::Value i64_to_js(Napi::Env env, int64_t x) {
    if (x <= 9007199254740991ll && x >= -9007199254740991ll) return Napi::Number::New(env, (double)x);
    return Napi::BigInt::New(env, x);
}

// A float32 as the shortest decimal that reads back to the same float (1e-5, not 9.99999974e-6).
static double f32_to_double(double x) {
    char buf[32];
    auto r = std::to_chars(buf, buf + sizeof(buf) - 1, (float)x);
    if (r.ec != std::errc()) return x;
    *r.ptr = '\0';
    return std::strtod(buf, nullptr);
}

static Napi::String str_to_js(Napi::Env env, std::string_view s) {
    return Napi::String::New(env, s.data(), s.size());  // invalid UTF-8 becomes U+FFFD
}

static std::string type_label(const GgufValue& v) {
    if (v.type != GGUF_TYPE_ARRAY) return gguf_value_type_name(v.type);
    if (v.elem_type == GGUF_TYPE_ARRAY) {
        std::string inner = v.arrays.empty() ? "unknown" : type_label(v.arrays[0]);
        return "array<" + inner + ">";
    }
    return std::string("array<") + gguf_value_type_name(v.elem_type) + ">";
}

Napi::Value gguf_value_to_js(Napi::Env env, const GgufValue& v, uint32_t max_array) {
    switch (v.type) {
        case GGUF_TYPE_UINT8: case GGUF_TYPE_UINT16: case GGUF_TYPE_UINT32: case GGUF_TYPE_UINT64:
            return u64_to_js(env, v.u);
        case GGUF_TYPE_INT8: case GGUF_TYPE_INT16: case GGUF_TYPE_INT32: case GGUF_TYPE_INT64:
            return i64_to_js(env, v.i);
        case GGUF_TYPE_FLOAT32:
            return Napi::Number::New(env, f32_to_double(v.f));
        case GGUF_TYPE_FLOAT64:
            return Napi::Number::New(env, v.f);
        case GGUF_TYPE_BOOL:
            return Napi::Boolean::New(env, v.u != 0);
        case GGUF_TYPE_STRING:
            return str_to_js(env, v.str);
        default:
            break;
    }
    // ARRAY
    if (v.count > max_array) {
        Napi::Object marker = Napi::Object::New(env);
        marker.Set("kind", "array");
        marker.Set("type", type_label(v));
        marker.Set("length", Napi::Number::New(env, (double)v.count));
        marker.Set("truncated", Napi::Boolean::New(env, true));
        return marker;
    }
    Napi::Array arr = Napi::Array::New(env, (size_t)v.count);
    for (uint32_t k = 0; k < (uint32_t)v.count; k++) {
        Napi::Value e;
        switch (v.elem_type) {
            case GGUF_TYPE_STRING: e = str_to_js(env, v.strings[k]); break;
            case GGUF_TYPE_ARRAY: e = gguf_value_to_js(env, v.arrays[k], max_array); break;
            case GGUF_TYPE_FLOAT32: e = Napi::Number::New(env, f32_to_double(gguf_array_get_f64(v, k))); break;
            case GGUF_TYPE_FLOAT64: e = Napi::Number::New(env, gguf_array_get_f64(v, k)); break;
            case GGUF_TYPE_BOOL: e = Napi::Boolean::New(env, gguf_array_get_u64(v, k) != 0); break;
            case GGUF_TYPE_INT8: case GGUF_TYPE_INT16: case GGUF_TYPE_INT32: case GGUF_TYPE_INT64:
                e = i64_to_js(env, gguf_array_get_i64(v, k));
                break;
            default: e = u64_to_js(env, gguf_array_get_u64(v, k)); break;
        }
        arr.Set(k, e);
    }
    return arr;
}

Napi::Object gguf_header_to_js(Napi::Env env, const GgufHeader& h, uint64_t file_size, uint32_t max_array) {
    Napi::Object out = Napi::Object::New(env);
    out.Set("version", Napi::Number::New(env, h.version));
    out.Set("alignment", Napi::Number::New(env, h.alignment));
    out.Set("headerBytes", Napi::Number::New(env, (double)h.header_bytes));
    out.Set("dataOffset", Napi::Number::New(env, (double)h.data_offset));
    out.Set("fileSize", Napi::Number::New(env, (double)file_size));

    Napi::Object meta = Napi::Object::New(env);
    Napi::Object types = Napi::Object::New(env);
    for (const GgufKV& kv : h.kvs) {
        Napi::String key = str_to_js(env, kv.key);
        meta.Set(key, gguf_value_to_js(env, kv.value, max_array));
        types.Set(key, type_label(kv.value));
    }
    out.Set("metadata", meta);
    out.Set("metadataTypes", types);

    Napi::Array tensors = Napi::Array::New(env, h.tensors.size());
    for (size_t k = 0; k < h.tensors.size(); k++) {
        const GgufTensorInfo& t = h.tensors[k];
        const GgmlTypeInfo* ti = ggml_type_info(t.type);  // non-null: the parser checked it
        Napi::Object o = Napi::Object::New(env);
        o.Set("name", str_to_js(env, t.name));
        o.Set("type", ti ? ti->name : "unknown");
        o.Set("typeId", Napi::Number::New(env, t.type));
        Napi::Array shape = Napi::Array::New(env, t.n_dims);
        for (uint32_t d = 0; d < t.n_dims; d++) shape.Set(d, Napi::Number::New(env, (double)t.ne[d]));
        o.Set("shape", shape);
        o.Set("elements", Napi::Number::New(env, (double)t.n_elements));
        o.Set("offset", Napi::Number::New(env, (double)(h.data_offset + t.offset)));
        o.Set("sizeBytes", Napi::Number::New(env, (double)t.n_bytes));
        tensors.Set((uint32_t)k, o);
    }
    out.Set("tensors", tensors);
    return out;
}

}  // namespace rl
