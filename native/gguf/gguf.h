// GGUF header parser (v2, v3). Hostile-input code: every count, length and offset is checked
// against the bytes available and the file size before use; failures are Status codes, never aborts.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "../util/status.h"

namespace rl {

enum GgufValueType : uint32_t {
    GGUF_TYPE_UINT8 = 0,
    GGUF_TYPE_INT8 = 1,
    GGUF_TYPE_UINT16 = 2,
    GGUF_TYPE_INT16 = 3,
    GGUF_TYPE_UINT32 = 4,
    GGUF_TYPE_INT32 = 5,
    GGUF_TYPE_FLOAT32 = 6,
    GGUF_TYPE_BOOL = 7,
    GGUF_TYPE_STRING = 8,
    GGUF_TYPE_ARRAY = 9,
    GGUF_TYPE_UINT64 = 10,
    GGUF_TYPE_INT64 = 11,
    GGUF_TYPE_FLOAT64 = 12,
    GGUF_TYPE_COUNT = 13,
};

const char* gguf_value_type_name(uint32_t type);

// Bytes of one element of a fixed-size value type; 0 for STRING and ARRAY.
uint32_t gguf_value_type_size(uint32_t type);

constexpr uint32_t GGUF_DEFAULT_ALIGNMENT = 32;
constexpr uint32_t GGUF_MAX_DIMS = 4;
constexpr uint32_t GGUF_MAX_ARRAY_DEPTH = 8;
// Sanity limits far above any real file (a 256k vocabulary, a few thousand tensors).
constexpr uint64_t GGUF_MAX_KV_COUNT = 1ull << 20;
constexpr uint64_t GGUF_MAX_TENSOR_COUNT = 1ull << 24;
constexpr uint64_t GGUF_MAX_ARRAY_COUNT = 1ull << 32;
constexpr uint64_t GGUF_MAX_STRING_LENGTH = 1ull << 30;

// A metadata value. Strings and array elements point into the parsed buffer, which the owner
// (GgufFile) keeps alive for the life of the header.
struct GgufValue {
    uint32_t type = 0;
    uint64_t u = 0;             // UINT8..UINT64 and BOOL
    int64_t i = 0;              // INT8..INT64
    double f = 0;               // FLOAT32, FLOAT64
    std::string_view str;       // STRING
    uint32_t elem_type = 0;     // ARRAY: element type
    uint64_t count = 0;         // ARRAY: element count
    const uint8_t* elems = nullptr;          // ARRAY of fixed-size elements: little-endian, unaligned
    std::vector<std::string_view> strings;   // ARRAY of STRING: (count)
    std::vector<GgufValue> arrays;           // ARRAY of ARRAY: (count)
};

struct GgufKV {
    std::string_view key;
    GgufValue value;
};

struct GgufTensorInfo {
    std::string_view name;
    uint32_t n_dims = 0;
    int64_t ne[GGUF_MAX_DIMS] = {1, 1, 1, 1};  // ggml order: ne[0] is the row length
    uint32_t type = 0;                          // GgmlType id
    uint64_t offset = 0;                        // relative to the data section
    uint64_t n_elements = 0;
    uint64_t n_bytes = 0;
};

struct GgufHeader {
    uint32_t version = 0;
    uint32_t alignment = GGUF_DEFAULT_ALIGNMENT;
    uint64_t header_bytes = 0;  // end of the tensor infos
    uint64_t data_offset = 0;   // start of the tensor data section (aligned)
    std::vector<GgufKV> kvs;
    std::vector<GgufTensorInfo> tensors;
    std::unordered_map<std::string_view, size_t> kv_index;
    std::unordered_map<std::string_view, size_t> tensor_index;

    const GgufValue* find(std::string_view key) const;
    const GgufTensorInfo* find_tensor(std::string_view name) const;
};

// Parses the header from `data` (the first `avail` bytes of a file of `file_size` bytes).
// When the header extends beyond `avail` but not beyond `file_size`, sets *need_more and
// returns an error: the caller reads more and calls again. Tensor extents are checked
// against `file_size`.
Status gguf_parse(const uint8_t* data, uint64_t avail, uint64_t file_size, GgufHeader* out,
                  bool* need_more);

// Reads a fixed-size array element as a double / int64 / uint64 (no range checks: elem_type known).
double gguf_array_get_f64(const GgufValue& v, uint64_t idx);
int64_t gguf_array_get_i64(const GgufValue& v, uint64_t idx);
uint64_t gguf_array_get_u64(const GgufValue& v, uint64_t idx);

}  // namespace rl
