// Tokenizer self-test: conformance vectors, round trips, streaming, hostile metadata, timings.
// Build (from the repository root):
//   g++ -std=c++17 -O2 -Wall -Wextra -o /tmp/tokenizer_selftest native/tokenizer/selftest/tokenizer_selftest.cpp
//       native/gguf/gguf.cpp native/gguf/gguf_types.cpp native/tokenizer/{vocab,tokenizer,spm,wpm,bpe,pretokenizer,regex,unicode,unicode_data}.cpp
//   /tmp/tokenizer_selftest [../shared/vocab]
#include <chrono>
#include <cstdio>
#include <cstring>
#include <deque>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "../../gguf/gguf.h"
#include "../../util/utf8.h"
#include "../tokenizer.h"
#include "../unicode.h"
#include "../vocab.h"
#include "../../util/selftest.h"

using namespace rl;

namespace {



bool read_file(const std::string& path, std::string* out) {
    std::ifstream f(path, std::ios::binary);
    if (!f) return false;
    std::ostringstream ss;
    ss << f.rdbuf();
    *out = ss.str();
    return true;
}

struct LoadedVocab {
    std::string bytes;  // the header's string views point here
    GgufHeader header;
    Vocab vocab;
};

bool load_vocab(const std::string& path, LoadedVocab* lv) {
    if (!read_file(path, &lv->bytes)) return false;
    bool need_more = false;
    Status st = gguf_parse((const uint8_t*)lv->bytes.data(), lv->bytes.size(), lv->bytes.size(), &lv->header, &need_more);
    if (!st.ok()) {
        std::printf("gguf_parse %s: %s %s\n", path.c_str(), st.code.c_str(), st.message.c_str());
        return false;
    }
    st = vocab_load(lv->header, &lv->vocab);
    if (!st.ok()) {
        std::printf("vocab_load %s: %s %s\n", path.c_str(), st.code.c_str(), st.message.c_str());
        return false;
    }
    return true;
}

struct Vector {
    std::string input;
    std::vector<int32_t> expected;
};

// Inputs joined by "\n__ggml_vocab_test__\n" (one more marker at the end); one line of ids per input.
bool read_vectors(const std::string& base, std::vector<Vector>* out) {
    std::string inp, exp;
    if (!read_file(base + ".inp", &inp) || !read_file(base + ".out", &exp)) return false;
    const std::string marker = "\n__ggml_vocab_test__\n";
    std::vector<std::string> inputs;
    size_t pos = 0;
    for (;;) {
        size_t at = inp.find(marker, pos);
        if (at == std::string::npos) {
            if (pos < inp.size()) inputs.push_back(inp.substr(pos));
            break;
        }
        inputs.push_back(inp.substr(pos, at - pos));
        pos = at + marker.size();
    }
    std::vector<std::string> lines;
    std::istringstream ls(exp);
    for (std::string line; std::getline(ls, line);) lines.push_back(line);
    if (lines.size() != inputs.size()) {
        std::printf("%s: %zu inputs but %zu lines\n", base.c_str(), inputs.size(), lines.size());
        return false;
    }
    for (size_t i = 0; i < inputs.size(); i++) {
        Vector v;
        v.input = inputs[i];
        std::istringstream ids(lines[i]);
        for (long x; ids >> x;) v.expected.push_back((int32_t)x);
        out->push_back(std::move(v));
    }
    return true;
}

std::string ids_str(const std::vector<int32_t>& ids) {
    std::string s;
    for (int32_t id : ids) s += (s.empty() ? "" : " ") + std::to_string(id);
    return s;
}

std::string escaped(const std::string& s) {
    std::string o;
    for (unsigned char c : s) {
        if (c == '\n') o += "\\n";
        else if (c == '\t') o += "\\t";
        else if (c < 0x20) o += "\\x" + std::to_string(c);
        else o += (char)c;
    }
    return o;
}

std::string detok(const Vocab& v, const std::vector<int32_t>& ids, DetokenizeOptions o = {}) {
    std::string s;
    Status st = detokenize(v, ids.data(), ids.size(), o, &s);
    CHECK(st.ok(), "detokenize: %s", st.message.c_str());
    return s;
}

std::string stream(const Vocab& v, const std::vector<int32_t>& ids, DetokenizeOptions o = {}) {
    StreamDecoder dec(&v, o);
    std::string s;
    for (int32_t id : ids) {
        Status st = dec.push(id, &s);
        CHECK(st.ok(), "push: %s", st.message.c_str());
    }
    dec.finish(&s);
    return s;
}

std::vector<int32_t> tok(const Vocab& v, const std::string& s, bool add_special = false, bool parse_special = false) {
    std::vector<int32_t> ids;
    TokenizeOptions o;
    o.add_special = add_special;
    o.parse_special = parse_special;
    Status st = tokenize(v, s, o, &ids);
    CHECK(st.ok(), "tokenize: %s", st.message.c_str());
    return ids;
}

// Checks stream == detokenize for every option combination.
void check_stream(const Vocab& v, const std::vector<int32_t>& ids, const std::string& what) {
    for (int k = 0; k < 4; k++) {
        DetokenizeOptions o;
        o.remove_special = k & 1;
        o.unparse_special = k & 2;
        std::string a = detok(v, ids, o), b = stream(v, ids, o);
        CHECK(a == b, "%s: stream differs (opts %d): '%s' vs '%s'", what.c_str(), k, escaped(a).c_str(),
              escaped(b).c_str());
    }
}

bool run_vectors(const std::string& dir, const char* name, bool round_trip_expected) {
    LoadedVocab lv;
    std::string base = dir + "/ggml-vocab-" + name + ".gguf";
    if (!load_vocab(base, &lv)) {
        g_failures++;
        return false;
    }
    std::vector<Vector> vecs;
    if (!read_vectors(base, &vecs)) {
        g_failures++;
        return false;
    }
    const Vocab& v = lv.vocab;
    size_t pass = 0, rt = 0;
    for (const Vector& vec : vecs) {
        std::vector<int32_t> got = tok(v, vec.input);
        if (got == vec.expected) {
            pass++;
        } else {
            std::printf("  %s mismatch on '%s'\n    expected %s\n    got      %s\n", name, escaped(vec.input).c_str(),
                        ids_str(vec.expected).c_str(), ids_str(got).c_str());
        }
        if (detok(v, got) == vec.input) rt++;
        else if (round_trip_expected) std::printf("  %s round trip differs on '%s': '%s'\n", name, escaped(vec.input).c_str(), escaped(detok(v, got)).c_str());
        check_stream(v, got, name);
        check_stream(v, tok(v, vec.input, true, true), name);
    }
    std::printf("%-14s vectors %zu/%zu pass, round trip %zu/%zu, warnings %zu\n", name, pass, vecs.size(), rt,
                vecs.size(), v.warnings.size());
    CHECK(pass == vecs.size(), "%s: %zu vectors fail", name, vecs.size() - pass);
    if (round_trip_expected) CHECK(rt == vecs.size(), "%s: round trip fails", name);
    return true;
}

std::string random_unicode(std::mt19937& rng, bool wide) {
    static const uint32_t pools[][2] = {
        {0x20, 0x7e}, {0x0a, 0x0a}, {0x20, 0x20}, {0xa0, 0x24f}, {0x370, 0x3ff}, {0x400, 0x4ff}, {0x590, 0x6ff},
        {0x900, 0x97f}, {0x3040, 0x30ff}, {0x4e00, 0x9fff}, {0xac00, 0xd7a3}, {0x1f300, 0x1f64f}, {0x300, 0x36f},
        {0x09, 0x0d}, {0x2000, 0x206f}, {0x10000, 0x10ffff},
    };
    const size_t n_pools = sizeof(pools) / sizeof(pools[0]) - (wide ? 0 : 3);
    std::string s;
    size_t n = 1 + rng() % 40;
    for (size_t i = 0; i < n; i++) {
        const uint32_t* p = pools[rng() % n_pools];
        uint32_t cp = p[0] + rng() % (p[1] - p[0] + 1);
        if (cp >= 0xD800 && cp <= 0xDFFF) cp = 0xFFFD;
        utf8_append(cp, &s);
    }
    return s;
}

void random_checks(const Vocab& v, const char* name, bool exact) {
    std::mt19937 rng(99);
    size_t rt = 0, rt_wide = 0, n = 2000;
    for (size_t i = 0; i < n; i++) {
        std::string s = random_unicode(rng, false);
        std::vector<int32_t> ids = tok(v, s);
        if (detok(v, ids) == s) rt++;
        else if (exact) std::printf("  %s random round trip differs: '%s' -> '%s'\n", name, escaped(s).c_str(), escaped(detok(v, ids)).c_str());
        check_stream(v, ids, name);
        std::string w = random_unicode(rng, true);  // all planes, controls: the vocabulary may lack some bytes
        std::vector<int32_t> wide_ids = tok(v, w);
        if (detok(v, wide_ids) == w) rt_wide++;
        check_stream(v, wide_ids, name);
    }
    // random bytes (invalid UTF-8 included) and random token sequences: no crash, stream == detokenize
    size_t n_bytes = 500;
    for (size_t i = 0; i < n_bytes; i++) {
        std::string s(rng() % 30, '\0');
        for (char& c : s) c = (char)(rng() % 256);
        check_stream(v, tok(v, s, true, true), name);
        std::vector<int32_t> ids(rng() % 20);
        for (int32_t& id : ids) id = (int32_t)(rng() % v.size());
        check_stream(v, ids, name);
        std::string out = detok(v, ids);
        CHECK(utf8_valid((const uint8_t*)out.data(), out.size()), "%s: detokenize output is not valid UTF-8", name);
    }
    std::printf("%-14s random Unicode round trip %zu/%zu (all planes: %zu/%zu); stream == detokenize on %zu random "
                "texts, %zu random byte strings and %zu random id sequences\n",
                name, rt, n, rt_wide, n, 2 * n, n_bytes, n_bytes);
    if (exact) CHECK(rt == n, "%s: random round trip", name);
}

// An in-memory header for hostile-metadata cases.
struct FakeHeader {
    std::deque<std::string> store;
    std::deque<std::vector<uint8_t>> blobs;
    GgufHeader h;

    std::string_view keep(const std::string& s) {
        store.push_back(s);
        return store.back();
    }
    void add(const std::string& key, GgufValue v) {
        h.kvs.push_back(GgufKV{keep(key), std::move(v)});
        h.kv_index[h.kvs.back().key] = h.kvs.size() - 1;
    }
    void str(const std::string& key, const std::string& val) {
        GgufValue v;
        v.type = GGUF_TYPE_STRING;
        v.str = keep(val);
        add(key, v);
    }
    void u32(const std::string& key, uint32_t x) {
        GgufValue v;
        v.type = GGUF_TYPE_UINT32;
        v.u = x;
        add(key, v);
    }
    void strings(const std::string& key, const std::vector<std::string>& xs) {
        GgufValue v;
        v.type = GGUF_TYPE_ARRAY;
        v.elem_type = GGUF_TYPE_STRING;
        v.count = xs.size();
        for (const std::string& x : xs) v.strings.push_back(keep(x));
        add(key, v);
    }
    template <typename T>
    void array(const std::string& key, uint32_t elem_type, const std::vector<T>& xs) {
        blobs.emplace_back(xs.size() * sizeof(T));
        if (!xs.empty()) std::memcpy(blobs.back().data(), xs.data(), xs.size() * sizeof(T));
        GgufValue v;
        v.type = GGUF_TYPE_ARRAY;
        v.elem_type = elem_type;
        v.count = xs.size();
        v.elems = blobs.back().data();
        add(key, v);
    }
};

void check_code(FakeHeader& f, const char* code, const char* mention, const char* what) {
    Vocab v;
    Status st = vocab_load(f.h, &v);
    CHECK(st.code == code && st.message.find(mention) != std::string::npos, "%s: got '%s' '%s'", what,
          st.code.c_str(), st.message.c_str());
}

void hostile_metadata_checks() {
    {
        FakeHeader f;
        f.str("general.architecture", "llama");
        check_code(f, "TOKENIZER_MISSING", "tokenizer", "no tokenizer");
    }
    {
        FakeHeader f;
        f.str("tokenizer.ggml.model", "sentencepiece-unigram-9000");
        f.strings("tokenizer.ggml.tokens", {"a", "b"});
        check_code(f, "TOKENIZER_UNSUPPORTED", "sentencepiece-unigram-9000", "unknown model");
    }
    {
        FakeHeader f;
        f.str("tokenizer.ggml.model", "llama");
        check_code(f, "TOKENIZER_MISSING", "tokenizer.ggml.tokens", "no tokens");
    }
    {
        FakeHeader f;
        f.str("tokenizer.ggml.model", "llama");
        f.strings("tokenizer.ggml.tokens", {"<unk>", "a"});
        f.array<float>("tokenizer.ggml.scores", GGUF_TYPE_FLOAT32, {0, 0});
        f.array<int32_t>("tokenizer.ggml.token_type", GGUF_TYPE_INT32, {2, 1});
        f.u32("tokenizer.ggml.bos_token_id", 7);
        // an out-of-range special id is ignored with a warning, as llama.cpp does
        Vocab v;
        Status st = vocab_load(f.h, &v);
        CHECK(st.ok() && v.bos == -1 && v.warnings.size() == 1 && v.warnings[0].find("bos_token_id") != std::string::npos,
              "bos out of range: %s", st.message.c_str());
    }
    {
        FakeHeader f;
        f.str("tokenizer.ggml.model", "llama");
        f.strings("tokenizer.ggml.tokens", {"<unk>", "a"});
        f.array<float>("tokenizer.ggml.scores", GGUF_TYPE_FLOAT32, {0, 0, 0});
        check_code(f, "TOKENIZER_INVALID", "tokenizer.ggml.scores", "scores length");
    }
    {
        FakeHeader f;
        f.str("tokenizer.ggml.model", "llama");
        f.strings("tokenizer.ggml.tokens", {"<unk>", "a"});
        f.array<int32_t>("tokenizer.ggml.token_type", GGUF_TYPE_INT32, {2, 99});
        check_code(f, "TOKENIZER_INVALID", "tokenizer.ggml.token_type", "bad token type");
    }
    {
        FakeHeader f;
        f.str("tokenizer.ggml.model", "llama");
        f.array<int32_t>("tokenizer.ggml.tokens", GGUF_TYPE_INT32, {1, 2});
        check_code(f, "TOKENIZER_INVALID", "tokenizer.ggml.tokens", "tokens not strings");
    }
    {
        FakeHeader f;
        f.u32("tokenizer.ggml.model", 3);
        check_code(f, "TOKENIZER_INVALID", "tokenizer.ggml.model", "model not a string");
    }
    {
        FakeHeader f;
        f.str("tokenizer.ggml.model", "gpt2");
        f.strings("tokenizer.ggml.tokens", {"a", "b", "ab"});
        check_code(f, "TOKENIZER_MISSING", "merges", "gpt2 without merges");
        f.strings("tokenizer.ggml.merges", {"ab"});
        check_code(f, "TOKENIZER_INVALID", "merges", "merge without a space");
    }
    {
        FakeHeader f;
        f.str("tokenizer.ggml.model", "gpt2");
        f.str("tokenizer.ggml.pre", "no-such-family");
        f.strings("tokenizer.ggml.tokens", {"a", "b", "ab"});
        f.strings("tokenizer.ggml.merges", {"a b"});
        Vocab v;
        Status st = vocab_load(f.h, &v);
        CHECK(st.ok(), "unknown pre: %s", st.message.c_str());
        CHECK(v.warnings.size() == 1 && v.warnings[0].find("no-such-family") != std::string::npos, "unknown pre warning");
        CHECK(tok(v, "ab") == std::vector<int32_t>{2}, "tiny BPE 'ab' -> %s", ids_str(tok(v, "ab")).c_str());
    }
    {
        // WordPiece over a tiny uncased vocabulary in GGUF form.
        FakeHeader f;
        f.str("tokenizer.ggml.model", "bert");
        f.strings("tokenizer.ggml.tokens", {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "\xE2\x96\x81" "hello", "\xE2\x96\x81" "world",
                                            "s", "\xE2\x96\x81,", "\xE2\x96\x81" "cafe", "\xE2\x96\x81\xE4\xB8\xAD"});
        f.array<int32_t>("tokenizer.ggml.token_type", GGUF_TYPE_INT32, {3, 2, 3, 3, 1, 1, 1, 1, 1, 1});
        f.u32("tokenizer.ggml.unknown_token_id", 1);
        f.u32("tokenizer.ggml.cls_token_id", 2);
        f.u32("tokenizer.ggml.seperator_token_id", 3);
        f.u32("tokenizer.ggml.padding_token_id", 0);
        Vocab v;
        Status st = vocab_load(f.h, &v);
        CHECK(st.ok(), "bert: %s", st.message.c_str());
        CHECK(v.wpm_uncased, "tiny bert vocabulary is uncased");
        std::vector<int32_t> got = tok(v, "Hello, worlds! Caf\xC3\xA9 \xE4\xB8\xAD\xE4\xB8\xAD xyz", true);
        std::vector<int32_t> want = {2, 4, 7, 5, 6, 1, 8, 9, 9, 1, 3};
        CHECK(got == want, "bert: got %s want %s", ids_str(got).c_str(), ids_str(want).c_str());
        CHECK(detok(v, {2, 4, 5, 6, 3}) == " hello worlds", "bert detokenize: '%s'", detok(v, {2, 4, 5, 6, 3}).c_str());
    }
}

void special_token_checks(const Vocab& v) {
    std::vector<int32_t> plain = tok(v, "hi <s> there");
    bool has_bos = false;
    for (int32_t id : plain) has_bos |= id == 1;
    CHECK(!has_bos, "parse_special off must not produce <s>");
    std::vector<int32_t> parsed = tok(v, "hi <s> there", false, true);
    has_bos = false;
    for (int32_t id : parsed) has_bos |= id == 1;
    CHECK(has_bos, "parse_special on must produce <s>");
    DetokenizeOptions unparse;
    unparse.unparse_special = true;
    CHECK(detok(v, parsed, unparse) == "hi <s> there", "unparse: '%s'", detok(v, parsed, unparse).c_str());
    std::vector<int32_t> hello = tok(v, "Hello", true);
    CHECK(!hello.empty() && hello[0] == 1, "add_special adds BOS");
    DetokenizeOptions remove;
    remove.remove_special = true;
    CHECK(detok(v, hello, remove) == "Hello", "remove_special: '%s'", detok(v, hello, remove).c_str());
    CHECK(detok(v, hello) == "Hello", "BOS renders empty: '%s'", detok(v, hello).c_str());
    std::string piece;
    CHECK(token_to_piece(v, 1, false, &piece).ok() && piece.empty(), "<s> piece");
    piece.clear();
    CHECK(token_to_piece(v, 1, true, &piece).ok() && piece == "<s>", "<s> unparsed piece");
    std::string text;
    int32_t bad = (int32_t)v.size();
    CHECK(detokenize(v, &bad, 1, {}, &text).code == "INVALID_ARGUMENT", "bad id");
    StreamDecoder dec(&v, {});
    CHECK(dec.push(-1, &text).code == "INVALID_ARGUMENT", "bad id streamed");
    // an emoji split over byte tokens streams out only when complete
    std::vector<int32_t> emoji = tok(v, "\xF0\x9F\x98\x81");
    StreamDecoder d2(&v, {});
    std::string acc;
    size_t i = 0;
    for (; i + 1 < emoji.size(); i++) d2.push(emoji[i], &acc);
    CHECK(acc.empty(), "incomplete character held back");
    d2.push(emoji[i], &acc);
    d2.finish(&acc);
    CHECK(acc == "\xF0\x9F\x98\x81", "emoji streamed: '%s'", acc.c_str());
    // lone continuation bytes and a truncated sequence become U+FFFD, maximal subparts
    std::vector<int32_t> bytes = {v.byte_tokens[0xE2], v.byte_tokens[0x82], v.byte_tokens[0x41], v.byte_tokens[0x80],
                                  v.byte_tokens[0xF0], v.byte_tokens[0x9F]};
    CHECK(detok(v, bytes) == "\xEF\xBF\xBD" "A\xEF\xBF\xBD\xEF\xBF\xBD", "sanitize: '%s'", escaped(detok(v, bytes)).c_str());
}

double ms_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

std::string english_mb() {
    std::string text;
    for (const char* f : {"/usr/share/common-licenses/GPL-3", "/usr/share/common-licenses/Apache-2.0",
                          "/usr/share/common-licenses/GPL-2", "/usr/share/common-licenses/LGPL-2.1"}) {
        std::string part;
        if (read_file(f, &part)) text += part + "\n";
    }
    if (text.empty()) {
        text = "The quick brown fox jumps over the lazy dog, and the dog does not seem to mind at all. ";
    }
    while (text.size() < (1u << 20)) text += text;
    text.resize(1u << 20);
    while (!text.empty() && ((uint8_t)text.back() & 0xC0) == 0x80) text.pop_back();
    return text;
}

void timings(const Vocab& v, const char* name) {
    struct Case { const char* what; std::string text; };
    std::string fire;
    for (int i = 0; i < 25000; i++) fire += "\xF0\x9F\x94\xA5";
    Case cases[] = {{"1 MB English", english_mb()}, {"100 KB 'x'", std::string(100000, 'x')},
                    {"100 KB ' '", std::string(100000, ' ')}, {"100 KB emoji", fire}};
    for (const Case& c : cases) {
        auto t0 = std::chrono::steady_clock::now();
        std::vector<int32_t> ids = tok(v, c.text);
        double t_tok = ms_since(t0);
        t0 = std::chrono::steady_clock::now();
        std::string back = detok(v, ids);
        double t_det = ms_since(t0);
        std::printf("%-14s %-14s tokenize %8.1f ms (%zu tokens), detokenize %6.1f ms%s\n", name, c.what, t_tok,
                    ids.size(), t_det, back == c.text ? "" : "  (round trip differs)");
        CHECK(back == c.text, "%s %s round trip", name, c.what);
    }
}

}  // namespace

int main(int argc, char** argv) {
    std::string dir = argc > 1 ? argv[1] : "../shared/vocab";
    hostile_metadata_checks();

    LoadedVocab spm;
    if (!load_vocab(dir + "/ggml-vocab-llama-spm.gguf", &spm)) return 1;
    run_vectors(dir, "llama-spm", true);
    special_token_checks(spm.vocab);
    random_checks(spm.vocab, "llama-spm", true);

    LoadedVocab bpe[3];
    const char* bpe_names[] = {"gpt-2", "deepseek-llm", "starcoder"};
    for (int i = 0; i < 3; i++) {
        run_vectors(dir, bpe_names[i], true);
        if (load_vocab(dir + "/ggml-vocab-" + bpe_names[i] + ".gguf", &bpe[i])) random_checks(bpe[i].vocab, bpe_names[i], true);
    }

    bool quick = std::getenv("SELFTEST_NO_TIMING") != nullptr;
    if (!quick) {
        timings(spm.vocab, "llama-spm");
        for (int i = 0; i < 3; i++) timings(bpe[i].vocab, bpe_names[i]);
    }

    std::printf(g_failures ? "tokenizer selftest: %d FAILURES\n" : "tokenizer selftest: all checks pass\n", g_failures);
    return g_failures ? 1 : 0;
}
