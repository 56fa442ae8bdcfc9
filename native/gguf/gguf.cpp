#include "gguf.h"

#include <algorithm>
#include <cstring>

#include "../util/utf8.h"
#include "gguf_types.h"

namespace rl {

static const char* const k_value_type_names[GGUF_TYPE_COUNT] = {
    "uint8", "int8", "uint16", "int16", "uint32", "int32", "float32",
    "bool",  "string", "array", "uint64", "int64", "float64",
};

static const uint32_t k_value_type_sizes[GGUF_TYPE_COUNT] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};

const char* gguf_value_type_name(uint32_t type) {
    return type < GGUF_TYPE_COUNT ? k_value_type_names[type] : "unknown";
}

uint32_t gguf_value_type_size(uint32_t type) { return type < GGUF_TYPE_COUNT ? k_value_type_sizes[type] : 0; }

const GgufValue* GgufHeader::find(std::string_view key) const {
    auto it = kv_index.find(key);
    return it == kv_index.end() ? nullptr : &kvs[it->second].value;
}

const GgufTensorInfo* GgufHeader::find_tensor(std::string_view name) const {
    auto it = tensor_index.find(name);
    return it == tensor_index.end() ? nullptr : &tensors[it->second];
}

namespace {

// Bounds-checked little-endian reader over the parsed prefix of the file.
struct Cursor {
    const uint8_t* data;
    uint64_t avail;      // bytes readable at data
    uint64_t file_size;  // bytes in the whole file (>= avail)
    uint64_t pos;
    bool* need_more;

    uint64_t left_in_file() const { return file_size - pos; }

    Status need(uint64_t n, const std::string& field) {
        if (n <= avail - pos) return status_ok();
        if (n <= file_size - pos && avail < file_size) {
            *need_more = true;
            return status_error("GGUF_TRUNCATED", "header continues past the bytes read so far");
        }
        return status_error("GGUF_TRUNCATED", "file ends at byte " + std::to_string(file_size) + " inside " +
                                                  field + " at byte " + std::to_string(pos) + " (needs " +
                                                  std::to_string(n) + " bytes); the file is truncated or corrupt");
    }

    template <typename T>
    Status read(T* out, const std::string& field) {
        Status st = need(sizeof(T), field);
        if (!st.ok()) return st;
        std::memcpy(out, data + pos, sizeof(T));
        pos += sizeof(T);
        return st;
    }

    // A GGUF string: uint64 length, then bytes (no terminator).
    Status read_string(std::string_view* out, const std::string& field, bool require_utf8) {
        uint64_t len = 0;
        Status st = read(&len, field + " length");
        if (!st.ok()) return st;
        if (len > GGUF_MAX_STRING_LENGTH) {
            return status_error("GGUF_BAD_LENGTH", field + " claims " + std::to_string(len) + " bytes (limit " +
                                                       std::to_string(GGUF_MAX_STRING_LENGTH) + "); the file is corrupt");
        }
        if (len > left_in_file()) {
            return status_error("GGUF_TRUNCATED", field + " claims " + std::to_string(len) +
                                                      " bytes but only " + std::to_string(left_in_file()) +
                                                      " remain in the file (at byte " + std::to_string(pos) + ")");
        }
        st = need(len, field);
        if (!st.ok()) return st;
        if (require_utf8 && !utf8_valid(data + pos, (size_t)len)) {
            return status_error("GGUF_BAD_UTF8", field + " at byte " + std::to_string(pos) + " is not valid UTF-8");
        }
        *out = std::string_view((const char*)(data + pos), (size_t)len);
        pos += len;
        return status_ok();
    }
};

Status parse_value(Cursor& c, uint32_t type, GgufValue* v, const std::string& field, uint32_t depth);

Status truncated_count(const Cursor& c, const std::string& field, uint64_t count, uint64_t min_bytes) {
    return status_error("GGUF_TRUNCATED", field + " " + std::to_string(count) + " needs at least " +
                                              std::to_string(min_bytes) + " bytes each but only " +
                                              std::to_string(c.left_in_file()) +
                                              " bytes remain; the file is truncated or corrupt");
}

Status parse_array(Cursor& c, GgufValue* v, const std::string& field, uint32_t depth) {
    if (depth >= GGUF_MAX_ARRAY_DEPTH) {
        return status_error("GGUF_BAD_VALUE", field + " nests arrays deeper than " +
                                                  std::to_string(GGUF_MAX_ARRAY_DEPTH) + " levels");
    }
    uint32_t et = 0;
    Status st = c.read(&et, field + " element type");
    if (!st.ok()) return st;
    if (et >= GGUF_TYPE_COUNT) {
        return status_error("GGUF_BAD_TYPE", field + " has unknown element type " + std::to_string(et) +
                                                 " (expected 0..12)");
    }
    uint64_t count = 0;
    st = c.read(&count, field + " element count");
    if (!st.ok()) return st;
    v->elem_type = et;
    v->count = count;
    // Smallest possible encoding of one element bounds the count by the bytes left in the file,
    // so no allocation below can exceed the file's own size.
    uint64_t min_elem = et == GGUF_TYPE_STRING ? 8 : et == GGUF_TYPE_ARRAY ? 12 : gguf_value_type_size(et);
    if (count > GGUF_MAX_ARRAY_COUNT) {
        return status_error("GGUF_BAD_COUNT", field + " claims " + std::to_string(count) + " elements (limit " +
                                                  std::to_string(GGUF_MAX_ARRAY_COUNT) + "); the file is corrupt");
    }
    if (count > c.left_in_file() / min_elem) {
        return truncated_count(c, field + " element count", count, min_elem);
    }
    if (et == GGUF_TYPE_STRING) {
        v->strings.resize((size_t)count);
        for (uint64_t k = 0; k < count; k++) {
            st = c.read_string(&v->strings[(size_t)k], field + "[" + std::to_string(k) + "]", false);
            if (!st.ok()) return st;
        }
        return status_ok();
    }
    if (et == GGUF_TYPE_ARRAY) {
        v->arrays.resize((size_t)count);
        for (uint64_t k = 0; k < count; k++) {
            v->arrays[(size_t)k].type = GGUF_TYPE_ARRAY;
            st = parse_array(c, &v->arrays[(size_t)k], field + "[" + std::to_string(k) + "]", depth + 1);
            if (!st.ok()) return st;
        }
        return status_ok();
    }
    uint64_t bytes = count * min_elem;  // cannot overflow: count <= file_size / min_elem
    st = c.need(bytes, field);
    if (!st.ok()) return st;
    v->elems = c.data + c.pos;
    c.pos += bytes;
    return status_ok();
}

Status parse_value(Cursor& c, uint32_t type, GgufValue* v, const std::string& field, uint32_t depth) {
    v->type = type;
    Status st;
    switch (type) {
        case GGUF_TYPE_UINT8: { uint8_t x = 0; st = c.read(&x, field); v->u = x; break; }
        case GGUF_TYPE_INT8: { int8_t x = 0; st = c.read(&x, field); v->i = x; break; }
        case GGUF_TYPE_UINT16: { uint16_t x = 0; st = c.read(&x, field); v->u = x; break; }
        case GGUF_TYPE_INT16: { int16_t x = 0; st = c.read(&x, field); v->i = x; break; }
        case GGUF_TYPE_UINT32: { uint32_t x = 0; st = c.read(&x, field); v->u = x; break; }
        case GGUF_TYPE_INT32: { int32_t x = 0; st = c.read(&x, field); v->i = x; break; }
        case GGUF_TYPE_FLOAT32: { float x = 0; st = c.read(&x, field); v->f = x; break; }
        case GGUF_TYPE_BOOL: { uint8_t x = 0; st = c.read(&x, field); v->u = x != 0; break; }
        case GGUF_TYPE_UINT64: { uint64_t x = 0; st = c.read(&x, field); v->u = x; break; }
        case GGUF_TYPE_INT64: { int64_t x = 0; st = c.read(&x, field); v->i = x; break; }
        case GGUF_TYPE_FLOAT64: { double x = 0; st = c.read(&x, field); v->f = x; break; }
        case GGUF_TYPE_STRING: st = c.read_string(&v->str, field, false); break;
        case GGUF_TYPE_ARRAY: st = parse_array(c, v, field, depth); break;
        default:
            st = status_error("GGUF_BAD_TYPE", field + " has unknown value type " + std::to_string(type) +
                                                   " (expected 0..12)");
    }
    return st;
}

std::string quoted(std::string_view s) { return "'" + std::string(s) + "'"; }

Status parse_tensor_info(Cursor& c, uint64_t idx, GgufTensorInfo* t) {
    std::string field = "tensor[" + std::to_string(idx) + "]";
    Status st = c.read_string(&t->name, field + " name", true);
    if (!st.ok()) return st;
    field += " " + quoted(t->name);
    st = c.read(&t->n_dims, field + " n_dims");
    if (!st.ok()) return st;
    if (t->n_dims == 0 || t->n_dims > GGUF_MAX_DIMS) {
        return status_error("GGUF_BAD_SHAPE", field + " has " + std::to_string(t->n_dims) +
                                                  " dimensions (expected 1.." + std::to_string(GGUF_MAX_DIMS) + ")");
    }
    for (uint32_t d = 0; d < t->n_dims; d++) {
        st = c.read(&t->ne[d], field + " dims");
        if (!st.ok()) return st;
        if (t->ne[d] < 0) {
            return status_error("GGUF_BAD_SHAPE", field + " dimension " + std::to_string(d) + " is negative (" +
                                                      std::to_string(t->ne[d]) + ")");
        }
    }
    st = c.read(&t->type, field + " type");
    if (!st.ok()) return st;
    st = c.read(&t->offset, field + " offset");
    if (!st.ok()) return st;

    const GgmlTypeInfo* ti = ggml_type_info(t->type);
    if (!ti) {
        return status_error("GGUF_BAD_TYPE", field + " has unknown tensor type id " + std::to_string(t->type) +
                                                 "; the file may need a newer ringllm, or it is corrupt");
    }
    uint64_t n = 1;
    for (uint32_t d = 0; d < t->n_dims; d++) {
        uint64_t e = (uint64_t)t->ne[d];
        if (e != 0 && n > (uint64_t)INT64_MAX / e) {
            return status_error("GGUF_BAD_SHAPE", field + " has more elements than fit in 63 bits");
        }
        n *= e;
    }
    if (t->ne[0] % ti->block_size != 0) {
        return status_error("GGUF_BAD_SHAPE", field + " row length " + std::to_string(t->ne[0]) +
                                                  " is not a multiple of the " + ti->name + " block size " +
                                                  std::to_string(ti->block_size));
    }
    uint64_t blocks = n / ti->block_size;
    if (blocks > UINT64_MAX / ti->block_bytes) {
        return status_error("GGUF_BAD_SHAPE", field + " byte size overflows 64 bits");
    }
    t->n_elements = n;
    t->n_bytes = blocks * ti->block_bytes;
    return status_ok();
}

Status check_tensor_extents(GgufHeader* h, uint64_t file_size) {
    if (!h->tensors.empty() && h->data_offset > file_size) {
        return status_error("GGUF_TRUNCATED", "the tensor data section starts at byte " +
                                                  std::to_string(h->data_offset) + " (header end aligned to " +
                                                  std::to_string(h->alignment) + ") but the file has only " +
                                                  std::to_string(file_size) + " bytes");
    }
    uint64_t data_bytes = file_size > h->data_offset ? file_size - h->data_offset : 0;
    for (size_t k = 0; k < h->tensors.size(); k++) {
        const GgufTensorInfo& t = h->tensors[k];
        std::string field = "tensor[" + std::to_string(k) + "] " + quoted(t.name);
        if (t.offset % h->alignment != 0) {
            return status_error("GGUF_MISALIGNED", field + " data offset " + std::to_string(t.offset) +
                                                       " is not a multiple of the alignment " +
                                                       std::to_string(h->alignment));
        }
        if (t.offset > data_bytes) {
            return status_error("GGUF_BAD_OFFSET", field + " data offset " + std::to_string(t.offset) +
                                                       " lies past the end of the " + std::to_string(data_bytes) +
                                                       "-byte data section; the file is corrupt");
        }
        if (t.n_bytes > data_bytes - t.offset) {
            return status_error("GGUF_TRUNCATED", field + " data [" + std::to_string(t.offset) + ", +" +
                                                      std::to_string(t.n_bytes) + ") runs past the end of the " +
                                                      std::to_string(data_bytes) +
                                                      "-byte data section; the file is truncated");
        }
    }
    std::vector<size_t> order(h->tensors.size());
    for (size_t k = 0; k < order.size(); k++) order[k] = k;
    std::sort(order.begin(), order.end(),
              [h](size_t a, size_t b) { return h->tensors[a].offset < h->tensors[b].offset; });
    for (size_t k = 1; k < order.size(); k++) {
        const GgufTensorInfo& prev = h->tensors[order[k - 1]];
        const GgufTensorInfo& cur = h->tensors[order[k]];
        if (prev.n_bytes > 0 && cur.n_bytes > 0 && prev.offset + prev.n_bytes > cur.offset) {
            return status_error("GGUF_OVERLAP", "tensor " + quoted(prev.name) + " [" + std::to_string(prev.offset) +
                                                    ", +" + std::to_string(prev.n_bytes) + ") overlaps tensor " +
                                                    quoted(cur.name) + " at " + std::to_string(cur.offset));
        }
    }
    return status_ok();
}

}  // namespace

Status gguf_parse(const uint8_t* data, uint64_t avail, uint64_t file_size, GgufHeader* out, bool* need_more) {
    *need_more = false;
    *out = GgufHeader();
    if (avail > file_size) avail = file_size;
    Cursor c{data, avail, file_size, 0, need_more};

    Status st = c.need(4, "magic");
    if (!st.ok()) return st;
    if (std::memcmp(data, "GGUF", 4) != 0) {
        return status_error("GGUF_BAD_MAGIC", "not a GGUF file: it starts with bytes other than 'GGUF'");
    }
    c.pos = 4;
    st = c.read(&out->version, "version");
    if (!st.ok()) return st;
    if (out->version != 2 && out->version != 3) {
        std::string hint = out->version == 1 ? " (GGUF v1 is obsolete; re-convert the model)"
                           : (out->version & 0xFFFF) == 0 ? " (the file looks big-endian; use a little-endian GGUF)"
                                                           : "";
        return status_error("GGUF_VERSION", "GGUF version " + std::to_string(out->version) +
                                                " is not supported; expected 2 or 3" + hint);
    }
    uint64_t n_tensors = 0, n_kv = 0;
    st = c.read(&n_tensors, "tensor_count");
    if (!st.ok()) return st;
    st = c.read(&n_kv, "kv_count");
    if (!st.ok()) return st;
    // Counts beyond any real file are corruption; counts that merely exceed the bytes left mean the
    // file was cut short. Both checks bound every allocation below by the file's own size.
    if (n_kv > GGUF_MAX_KV_COUNT) {
        return status_error("GGUF_BAD_COUNT", "kv_count " + std::to_string(n_kv) + " exceeds the limit of " +
                                                  std::to_string(GGUF_MAX_KV_COUNT) + "; the file is corrupt");
    }
    if (n_tensors > GGUF_MAX_TENSOR_COUNT) {
        return status_error("GGUF_BAD_COUNT", "tensor_count " + std::to_string(n_tensors) + " exceeds the limit of " +
                                                  std::to_string(GGUF_MAX_TENSOR_COUNT) + "; the file is corrupt");
    }
    if (n_kv > c.left_in_file() / 13) return truncated_count(c, "kv_count", n_kv, 13);
    if (n_tensors > c.left_in_file() / 32) return truncated_count(c, "tensor_count", n_tensors, 32);

    out->kvs.resize((size_t)n_kv);
    out->kv_index.reserve((size_t)n_kv);
    for (uint64_t k = 0; k < n_kv; k++) {
        GgufKV& kv = out->kvs[(size_t)k];
        std::string field = "kv[" + std::to_string(k) + "]";
        st = c.read_string(&kv.key, field + " key", true);
        if (!st.ok()) return st;
        field += " " + quoted(kv.key);
        if (!out->kv_index.emplace(kv.key, (size_t)k).second) {
            return status_error("GGUF_DUPLICATE_KEY", "metadata key " + quoted(kv.key) + " appears twice (" + field + ")");
        }
        uint32_t type = 0;
        st = c.read(&type, field + " value type");
        if (!st.ok()) return st;
        st = parse_value(c, type, &kv.value, field, 0);
        if (!st.ok()) return st;
    }

    if (const GgufValue* a = out->find("general.alignment")) {
        if (a->type != GGUF_TYPE_UINT32) {
            return status_error("GGUF_BAD_ALIGNMENT", std::string("general.alignment must be a uint32, found ") +
                                                          gguf_value_type_name(a->type));
        }
        if (a->u == 0 || (a->u & (a->u - 1)) != 0) {
            return status_error("GGUF_BAD_ALIGNMENT", "general.alignment " + std::to_string(a->u) +
                                                          " is not a power of two");
        }
        out->alignment = (uint32_t)a->u;
    }

    out->tensors.resize((size_t)n_tensors);
    out->tensor_index.reserve((size_t)n_tensors);
    for (uint64_t k = 0; k < n_tensors; k++) {
        GgufTensorInfo& t = out->tensors[(size_t)k];
        st = parse_tensor_info(c, k, &t);
        if (!st.ok()) return st;
        if (!out->tensor_index.emplace(t.name, (size_t)k).second) {
            return status_error("GGUF_DUPLICATE_TENSOR", "tensor name " + quoted(t.name) + " appears twice");
        }
    }

    out->header_bytes = c.pos;
    uint64_t a = out->alignment;
    out->data_offset = c.pos + (a - c.pos % a) % a;
    return check_tensor_extents(out, file_size);
}

// float -> int64 without undefined behaviour: NaN is 0, out-of-range values saturate.
static int64_t saturate_i64(double x) {
    if (!(x == x)) return 0;
    if (x >= 9223372036854775807.0) return INT64_MAX;
    if (x <= -9223372036854775808.0) return INT64_MIN;
    return (int64_t)x;
}

template <typename T>
static T load_elem(const GgufValue& v, uint64_t idx) {
    T x;
    std::memcpy(&x, v.elems + idx * sizeof(T), sizeof(T));
    return x;
}

double gguf_array_get_f64(const GgufValue& v, uint64_t idx) {
    switch (v.elem_type) {
        case GGUF_TYPE_FLOAT32: return load_elem<float>(v, idx);
        case GGUF_TYPE_FLOAT64: return load_elem<double>(v, idx);
        case GGUF_TYPE_INT8: case GGUF_TYPE_INT16: case GGUF_TYPE_INT32: case GGUF_TYPE_INT64:
            return (double)gguf_array_get_i64(v, idx);
        default: return (double)gguf_array_get_u64(v, idx);
    }
}

int64_t gguf_array_get_i64(const GgufValue& v, uint64_t idx) {
    switch (v.elem_type) {
        case GGUF_TYPE_INT8: return load_elem<int8_t>(v, idx);
        case GGUF_TYPE_INT16: return load_elem<int16_t>(v, idx);
        case GGUF_TYPE_INT32: return load_elem<int32_t>(v, idx);
        case GGUF_TYPE_INT64: return load_elem<int64_t>(v, idx);
        case GGUF_TYPE_FLOAT32: return saturate_i64(load_elem<float>(v, idx));
        case GGUF_TYPE_FLOAT64: return saturate_i64(load_elem<double>(v, idx));
        default: return (int64_t)gguf_array_get_u64(v, idx);
    }
}

uint64_t gguf_array_get_u64(const GgufValue& v, uint64_t idx) {
    switch (v.elem_type) {
        case GGUF_TYPE_UINT8: return load_elem<uint8_t>(v, idx);
        case GGUF_TYPE_BOOL: return load_elem<uint8_t>(v, idx) != 0;
        case GGUF_TYPE_UINT16: return load_elem<uint16_t>(v, idx);
        case GGUF_TYPE_UINT32: return load_elem<uint32_t>(v, idx);
        case GGUF_TYPE_UINT64: return load_elem<uint64_t>(v, idx);
        default: return 0;  // strings and arrays have no numeric value
    }
}

}  // namespace rl
