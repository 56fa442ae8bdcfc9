// libFuzzer target for the GGUF header parser and, on headers that parse, the vocabulary loader and
// tokenizer (hostile tokenizer metadata). scripts/fuzz.sh builds and runs it.
// Any crash, sanitizer report, leak or hang here is a bug: the parser must turn every input into
// either a header or a Status.
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "../../tokenizer/tokenizer.h"
#include "../gguf.h"
#include "../gguf_types.h"

using namespace rl;

static uint64_t walk_value(const GgufValue& v) {
    uint64_t acc = v.u + (uint64_t)v.i + v.str.size();
    if (v.type != GGUF_TYPE_ARRAY) return acc;
    if (v.elem_type == GGUF_TYPE_STRING) {
        for (const auto& s : v.strings) acc += s.size() ? (uint8_t)s[s.size() - 1] : 0;
    } else if (v.elem_type == GGUF_TYPE_ARRAY) {
        for (const auto& a : v.arrays) acc += walk_value(a);
    } else {
        for (uint64_t k = 0; k < v.count; k++) {
            double f = gguf_array_get_f64(v, k);
            uint64_t bits;
            std::memcpy(&bits, &f, 8);
            acc += gguf_array_get_u64(v, k) + (uint64_t)gguf_array_get_i64(v, k) + bits;
        }
    }
    return acc;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    GgufHeader h;
    bool need_more = false;
    Status st = gguf_parse(data, size, size, &h, &need_more);
    volatile uint64_t sink = 0;
    if (st.ok()) {
        for (const GgufKV& kv : h.kvs) sink = sink + walk_value(kv.value) + kv.key.size();
        for (const GgufTensorInfo& t : h.tensors) {
            // every extent the parser accepted must lie inside the input
            if (h.data_offset + t.offset + t.n_bytes > size) __builtin_trap();
            if (t.n_bytes) sink = sink + data[h.data_offset + t.offset + t.n_bytes - 1];
            if (!ggml_type_info(t.type)) __builtin_trap();
        }
        Vocab vocab;
        if (vocab_load(h, &vocab).ok()) {
            std::vector<int32_t> ids;
            TokenizeOptions topts;
            topts.add_special = true;
            topts.parse_special = true;
            if (tokenize(vocab, "Hello world 123 <s> \xe2\x96\x81x \xff", topts, &ids).ok()) {
                std::string text;
                DetokenizeOptions dopts;
                dopts.unparse_special = true;
                detokenize(vocab, ids.data(), ids.size(), dopts, &text);
                StreamDecoder dec(&vocab, dopts);
                for (int32_t id : ids) dec.push(id, &text);
                dec.finish(&text);
            }
        }
    } else if (need_more) {
        __builtin_trap();  // avail == file_size: "read more" is impossible
    }
    // Prefix mode (readGgufInfo reads the header in growing chunks): must never read past avail.
    GgufHeader h2;
    size_t half = size / 2;
    gguf_parse(data, half, size, &h2, &need_more);
    (void)sink;
    return 0;
}
