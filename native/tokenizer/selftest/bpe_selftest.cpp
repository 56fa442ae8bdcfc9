// Standalone self-test of the Unicode tables, regex engine, pre-tokenizers and byte-level BPE.
// Build (from the repository root):
//   g++ -std=c++17 -O2 -Wall -Wextra -o /tmp/bpe_selftest native/tokenizer/selftest/bpe_selftest.cpp
//     native/gguf/gguf.cpp native/gguf/gguf_types.cpp
//     native/tokenizer/{unicode,unicode_data,regex,pretokenizer,bpe}.cpp
// Run: /tmp/bpe_selftest [VOCAB_DIR]   (VOCAB_DIR defaults to ../shared/vocab)
// Checks ggml-vocab-{gpt-2,deepseek-llm,starcoder}.gguf against their .inp/.out vectors and times
// 1 MB of English-like text and a 100 KB run of one character.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "../../gguf/gguf.h"
#include "../bpe.h"
#include "../pretokenizer.h"
#include "../regex.h"
#include "../unicode.h"
#include "../vocab.h"
#include "../../util/selftest.h"

using namespace rl;



static std::string join_spans(const std::vector<uint32_t>& cps, const std::vector<std::pair<uint32_t, uint32_t>>& m) {
    std::string s;
    for (size_t i = 0; i < m.size(); i++) {
        if (i) s += "|";
        for (uint32_t k = m[i].first; k < m[i].second; k++) utf8_append(cps[k], &s);
    }
    return s;
}

// All matches of `re` in `text`, joined by '|'.
static std::string matches(const char* re, const char* text) {
    Regex r;
    Status st = r.compile(re);
    if (!st.ok()) return "ERROR: " + st.message;
    std::vector<uint32_t> cps;
    utf8_decode(text, &cps, nullptr);
    std::vector<std::pair<uint32_t, uint32_t>> m;
    r.find_all(cps.data(), cps.size(), &m);
    return join_spans(cps, m);
}

static void expect_matches(const char* re, const char* text, const char* want) {
    std::string got = matches(re, text);
    CHECK(got == want, "/%s/ on \"%s\": got \"%s\", want \"%s\"", re, text, got.c_str(), want);
}

static void test_unicode() {
    CHECK(unicode_category('A') == UC_LU && unicode_category('a') == UC_LL && unicode_category('1') == UC_ND, "ascii");
    CHECK(unicode_category(0x4E00) == UC_LO && unicode_category(0x9FFF) == UC_LO, "CJK range expanded");
    CHECK(unicode_category(0xAC00) == UC_LO && unicode_category(0xD7A3) == UC_LO, "Hangul range");
    CHECK(unicode_category(0x0378) == UC_CN && unicode_category(0x10FFFF) == UC_CN, "unassigned is Cn");
    CHECK(unicode_category(0xE000) == UC_CO && unicode_category(0xD800) == UC_CS, "private use, surrogate");
    CHECK(unicode_category(0x0301) == UC_MN && unicode_category(0x00BD) == UC_NO, "mark, No");
    CHECK(unicode_category(0x1F600) == UC_SO && unicode_category(0x20AC) == UC_SC, "symbols");
    CHECK(unicode_is_whitespace(0x85) && unicode_is_whitespace(0xA0) && unicode_is_whitespace(0x3000) &&
              unicode_is_whitespace(0x2028) && !unicode_is_whitespace(0x200B) && !unicode_is_whitespace(0x1C),
          "White_Space");
    CHECK(unicode_tolower('A') == 'a' && unicode_tolower(0x0130) == 'i' + 0 - 'i' + 0x69 &&
              unicode_tolower(0x391) == 0x3B1,
          "tolower");
    CHECK(unicode_casefold(0x17F) == 's' && unicode_casefold(0x212A) == 'k', "casefold");
    std::vector<uint32_t> out;
    unicode_nfd({0xE9, 0xD55C, 0x1E69, 'x'}, &out);
    std::vector<uint32_t> want = {'e', 0x301, 0x1112, 0x1161, 0x11AB, 's', 0x323, 0x307, 'x'};
    CHECK(out == want, "NFD (é, 한, ṩ)");
    out.clear();
    unicode_nfd({'a', 0x307, 0x323}, &out);  // canonical reordering: dot below (220) before dot above (230)
    CHECK((out == std::vector<uint32_t>{'a', 0x323, 0x307}), "NFD canonical ordering");

    std::vector<uint32_t> cps, offs;
    utf8_decode(std::string("a\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80", 10), &cps, &offs);
    CHECK((cps == std::vector<uint32_t>{'a', 0xE9, 0x20AC, 0x1F600}) && (offs == std::vector<uint32_t>{0, 1, 3, 6}),
          "utf8 valid");
    cps.clear();
    // overlong C0 80, truncated E2 82, lone continuation 80, surrogate ED A0 80, F5
    utf8_decode(std::string("\xC0\x80|\xE2\x82|\x80|\xED\xA0\x80|\xF5", 13), &cps, nullptr);
    std::vector<uint32_t> w2 = {0xFFFD, 0xFFFD, '|',    0xFFFD, 0xFFFD, '|',   0xFFFD,
                                '|',    0xFFFD, 0xFFFD, 0xFFFD, '|',    0xFFFD};
    CHECK(cps == w2, "utf8 invalid bytes each become U+FFFD");
    cps.clear();
    utf8_decode(std::string("\xF4\x90\x80\x80", 4), &cps, nullptr);
    CHECK(cps.size() == 4 && cps[0] == 0xFFFD, "utf8 above U+10FFFF");
    std::string enc;
    utf8_append(0x1F600, &enc);
    CHECK(enc == "\xF0\x9F\x98\x80", "utf8_append");
}

static void test_regex() {
    expect_matches("abc", "xabcabc", "abc|abc");
    expect_matches("a|ab", "ab", "a");  // leftmost-first, not longest
    expect_matches("ab|a", "ab", "ab");
    expect_matches("\\s+", "a \t\nb", " \t\n");
    expect_matches("\\S+", "ab  cd", "ab|cd");
    expect_matches("\\d+", "a12b3\xD9\xA3", "12|3\xD9\xA3");  // \d is Unicode Nd (U+0663)
    expect_matches("\\r\\n|\\t", "a\r\nb\tc", "\r\n|\t");
    expect_matches("a.c", "abc a\nc", "abc");
    expect_matches("[a-c]+", "abcdcba", "abc|cba");
    expect_matches("[^a-c]+", "abcdecba", "de");
    expect_matches("[\\x{4E00}-\\x{9FA5}]+",
                   "ab\xE4\xB8\x80\xE4\xBA\x8C"
                   "c",
                   "\xE4\xB8\x80\xE4\xBA\x8C");
    expect_matches("[一-龥]+", "x\xE4\xB8\xADy", "\xE4\xB8\xAD");  // UTF-8 range in the pattern
    expect_matches("\\p{L}+", "ab1\xC3\xA9z", "ab|\xC3\xA9z");
    expect_matches("\\p{N}+", "a12\xC2\xBD", "12\xC2\xBD");
    expect_matches("\\p{P}+", "a,.b!", ",.|!");
    expect_matches("\\p{S}+", "a+$b", "+$");
    expect_matches("\\p{M}", "e\xCC\x81", "\xCC\x81");
    expect_matches("\\p{Lu}+", "aBCd", "BC");
    expect_matches("\\p{Ll}+", "aBCd", "a|d");
    expect_matches("\\p{Lt}", "\xC7\x85x", "\xC7\x85");
    expect_matches("\\p{Lm}", "x\xCA\xB0", "\xCA\xB0");
    expect_matches("\\p{Lo}", "x\xE4\xB8\x80", "\xE4\xB8\x80");
    expect_matches("\\P{L}+", "ab12cd", "12");
    expect_matches("[\\P{L}]+", "ab12cd", "12");
    expect_matches("[^\\s\\p{L}\\p{N}]+", "a!? b1#", "!?|#");
    expect_matches("[\\p{Lu}\\p{Lt}]+", "aBc", "B");
    expect_matches("(ab)+", "ababa", "abab");
    expect_matches("(?:ab|cd)+x", "abcdx abx", "abcdx|abx");
    expect_matches("(?i:'s|'t)", "'S 's 'T '\xC5\xBF", "'S|'s|'T|'\xC5\xBF");  // ſ folds to s
    expect_matches("(?i:ab)c", "ABc ABC", "ABc");
    expect_matches("a?b", "ab b", "ab|b");
    expect_matches("a*", "aaa", "aaa");
    expect_matches("a{3}", "aaaaaaa", "aaa|aaa");
    expect_matches("\\p{N}{1,3}", "1234567", "123|456|7");
    expect_matches("a{2,}", "a aa aaaa", "aa|aaaa");
    expect_matches("(ab){1,2}", "ababab", "abab|ab");
    expect_matches("\\s+(?!\\S)", "a   b", "  ");
    expect_matches("\\s+(?!\\S)|\\s+", "a   b", "  | ");
    expect_matches("a(?=b)", "ab ac", "a");
    expect_matches("\\s+$", "a  b  ", "  ");
    expect_matches("^a", "aa\na", "a|a");
    expect_matches("a+ab", "aaaab", "aaaab");  // backtracking into a greedy loop
    expect_matches("x*y", "xxay", "y");        // a failed leading loop skips its run, not later starts
    expect_matches("[a-z]+1", "abc abc1", "abc1");
    expect_matches("\\s+$", "  a   ", "   ");
    expect_matches("(a|ab)(c|bcd)d", "abcdd", "abcdd");
    expect_matches("[\\r\\n]", "a\r\nb", "\r|\n");
    expect_matches("[!-/:-~]+", "1!/2:~", "!/|:~");
    expect_matches(" ?[^(\\s|.,!?)]+", "hi there, (x)", "hi| there|x");
    expect_matches("[\\p{P}\\$\\+<=>\\^~\\|`]+", "a+b<=>c`", "+|<=>|`");
    expect_matches("\\x41\\u0042\\x{43}", "ABC", "ABC");
    expect_matches("[-a]+", "a-b", "a-");
    expect_matches("[a\\-z]+", "a-b", "a-");

    const char* bad[] = {"(ab",     "ab)",    "[ab",   "a**",    "\\p{Xx}", "*a",
                         "(?<n>a)", "a{2,1}", "(a*)*", "[a&&b]", "\\q",     "a+?"};
    for (const char* b : bad) {
        Regex r;
        CHECK(!r.compile(b).ok(), "pattern /%s/ should be rejected", b);
    }
}

static std::string pieces_of(PreTokenizer pre, const char* text) {
    std::vector<std::string_view> pieces;
    pretokenize(pre, text, &pieces);
    std::string s;
    for (size_t i = 0; i < pieces.size(); i++) {
        if (i) s += "|";
        s += pieces[i];
    }
    return s;
}

static void expect_pieces(PreTokenizer pre, const char* text, const char* want) {
    std::string got = pieces_of(pre, text);
    CHECK(got == want, "%s on \"%s\": got \"%s\", want \"%s\"", pretokenizer_name(pre), text, got.c_str(), want);
}

static void test_pretokenizers() {
    Status st = pretokenizer_init();
    CHECK(st.ok(), "all family regexes compile: %s", st.message.c_str());
    bool known = true;
    CHECK(pretokenizer_from_name("llama-bpe", &known) == PRE_LLAMA3 && known, "llama-bpe");
    CHECK(pretokenizer_from_name("smaug-bpe", &known) == PRE_LLAMA3 && known, "smaug-bpe");
    CHECK(pretokenizer_from_name("command-r", &known) == PRE_STARCODER && known, "command-r");
    CHECK(pretokenizer_from_name("stablelm2", &known) == PRE_QWEN2 && known, "stablelm2");
    CHECK(pretokenizer_from_name("bloom", &known) == PRE_PORO && known, "bloom");
    CHECK(pretokenizer_from_name("chatglm-bpe", &known) == PRE_CHATGLM4 && known, "chatglm-bpe");
    CHECK(pretokenizer_from_name("gpt-4o", &known) == PRE_GPT4O && known, "gpt-4o");
    CHECK(pretokenizer_from_name("no-such-pre", &known) == PRE_DEFAULT && !known, "unknown");

    expect_pieces(PRE_GPT2, "Hello world's  end!!\n\n 123", "Hello| world|'s| | end|!!|\n\n| 123");
    expect_pieces(PRE_GPT2, "a\tb   ", "a|\t|b|   ");
    // llama.cpp's "default" list: punctuation runs first, then GPT-2, then digit runs and triples.
    expect_pieces(PRE_DEFAULT, "Hello world's  end!!\n\n 1234", "Hello| world|'|s| | end|!!|\n\n| |123|4");
    expect_pieces(PRE_LLAMA3, "I'M HERE 12345 ...\n\nok  x", "I|'M| HERE| |123|45| ...\n\n|ok| | x");
    expect_pieces(PRE_LLAMA3, "$hello \r\n  x", "$hello| \r\n| | x");
    expect_pieces(PRE_QWEN2, "ab 123 c", "ab| |1|2|3| c");
    expect_pieces(PRE_STARCODER, "abc 123x", "abc| |1|2|3|x");
    expect_pieces(PRE_FALCON, "Hi, world 1234567!", "Hi|,| world| |123|456|7|!");
    // The digit stages see byte-mapped text: U+043C (D0 BC) splits at the self-mapped '\xBC' (¼).
    expect_pieces(PRE_FALCON, "\xD0\xBC", "\xD0|\xBC");
    expect_pieces(PRE_DEEPSEEK_LLM, "Hello, world!\n12 \xE4\xB8\xAD\xE6\x96\x87  ",
                  "Hello|,| world|!|\n|12| |\xE4\xB8\xAD\xE6\x96\x87|  ");
    expect_pieces(PRE_DEEPSEEK_CODER, "foo(x1) bar", "foo|(|x|1|)| bar");
    expect_pieces(PRE_PORO, "Hei maailma, mit\xC3\xA4 kuuluu?", "Hei| maailma|,| mit\xC3\xA4| kuuluu|?");
    expect_pieces(PRE_VIKING, "abc 123.", "abc| |1|2|3|.");
    expect_pieces(PRE_CHATGLM4, "you're 1234", "you|'re| |123|4");
    expect_pieces(PRE_TEKKEN, "HelloWorld ABCdef x/\n", "Hello|World| ABCdef| x|/\n");
    expect_pieces(PRE_GPT4O, "HelloWorld's 12345 I'M", "Hello|World's| |123|45| I'M");
    expect_pieces(PRE_GPT4O, "a//\n", "a|//\n");
    // Invalid UTF-8 stays in the pieces; the pieces cover the text.
    expect_pieces(PRE_GPT2,
                  "a\xFF"
                  "b",
                  "a|\xFF|b");
}

struct TestVocab {
    Vocab v;
    std::string bytes;
};

static bool load_vocab(const std::string& path, TestVocab* tv) {
    std::ifstream f(path, std::ios::binary);
    if (!f) return false;
    tv->bytes.assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
    GgufHeader h;
    bool need_more = false;
    Status st = gguf_parse((const uint8_t*)tv->bytes.data(), tv->bytes.size(), tv->bytes.size(), &h, &need_more);
    if (!st.ok()) {
        std::printf("gguf_parse %s: %s\n", path.c_str(), st.message.c_str());
        return false;
    }
    const GgufValue* toks = h.find("tokenizer.ggml.tokens");
    const GgufValue* merges = h.find("tokenizer.ggml.merges");
    const GgufValue* pre = h.find("tokenizer.ggml.pre");
    if (!toks || !merges) return false;
    Vocab& v = tv->v;
    v.kind = VOCAB_BPE;
    v.pre = pre ? std::string(pre->str) : "default";
    bool known = false;
    v.pre_type = pretokenizer_from_name(v.pre, &known);
    v.ignore_merges = v.pre_type == PRE_LLAMA3 || v.pre_type == PRE_TEKKEN;
    for (size_t i = 0; i < toks->strings.size(); i++) {
        v.tokens.emplace_back(toks->strings[i]);
        v.token_to_id.emplace(v.tokens.back(), (int32_t)i);
    }
    for (size_t i = 0; i < merges->strings.size(); i++)
        v.merge_ranks.emplace(std::string(merges->strings[i]), (int32_t)i);
    return known;
}

static std::string read_file(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

static void test_vocab_vectors(const std::string& dir, const char* name, TestVocab* tv) {
    std::string base = dir + "/ggml-vocab-" + name + ".gguf";
    if (!load_vocab(base, tv)) {
        CHECK(false, "cannot load %s", base.c_str());
        return;
    }
    std::string inp = read_file(base + ".inp"), outp = read_file(base + ".out");
    const std::string sep = "\n__ggml_vocab_test__\n";
    std::vector<std::string> inputs;
    size_t at = 0;
    while (at <= inp.size()) {
        size_t k = inp.find(sep, at);
        if (k == std::string::npos) break;
        inputs.push_back(inp.substr(at, k - at));
        at = k + sep.size();
    }
    std::vector<std::vector<int32_t>> expected;
    std::istringstream lines(outp);
    std::string line;
    while (std::getline(lines, line)) {
        std::istringstream ids(line);
        std::vector<int32_t> e;
        int32_t id;
        while (ids >> id) e.push_back(id);
        expected.push_back(e);
    }
    int pass = 0;
    for (size_t i = 0; i < inputs.size() && i < expected.size(); i++) {
        std::vector<int32_t> got;
        bpe_tokenize(tv->v, inputs[i], &got);
        if (got == expected[i]) {
            pass++;
            continue;
        }
        std::string g, w;
        for (int32_t x : got) g += " " + std::to_string(x);
        for (int32_t x : expected[i]) w += " " + std::to_string(x);
        std::printf("  %s vector %zu \"%s\":\n    got %s\n    want%s\n", name, i, inputs[i].c_str(), g.c_str(),
                    w.c_str());
    }
    std::printf("%-14s pre=%-14s %d/%zu vectors pass (%zu expected lines)\n", name, tv->v.pre.c_str(), pass,
                inputs.size(), expected.size());
    CHECK(pass == (int)inputs.size() && inputs.size() == expected.size() && !inputs.empty(), "%s vectors", name);
}

static double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Timings are printed, never asserted (speed is shown by benchmarks; CI machines are shared).
static void test_timing(const Vocab& gpt2) {
    std::string corpus;
    const char* files[] = {"/usr/share/common-licenses/GPL-3", "/usr/share/common-licenses/Apache-2.0",
                           "/usr/share/common-licenses/LGPL-2.1", "/usr/share/common-licenses/Artistic"};
    for (const char* f : files) corpus += read_file(f);
    if (corpus.empty()) corpus = "The quick brown fox jumps over the lazy dog's back, 1234 times!\n";
    std::string text;
    while (text.size() < (1u << 20)) text += corpus;
    text.resize(1u << 20);
    // Do not cut a UTF-8 sequence in half at the end.
    while (!text.empty() && ((uint8_t)text.back() & 0xC0) == 0x80) text.pop_back();

    for (int pre = 0; pre < PRE_COUNT; pre++) {
        std::vector<std::string_view> pieces;
        auto t0 = std::chrono::steady_clock::now();
        pretokenize((PreTokenizer)pre, text, &pieces);
        double s = seconds_since(t0);
        size_t total = 0;
        for (auto p : pieces) total += p.size();
        CHECK(total == text.size(), "%s pieces cover the text", pretokenizer_name((PreTokenizer)pre));
        std::printf("pretokenize %-14s 1 MB: %7.1f ms, %zu pieces\n", pretokenizer_name((PreTokenizer)pre), s * 1e3,
                    pieces.size());
    }

    std::vector<int32_t> ids;
    auto t0 = std::chrono::steady_clock::now();
    bpe_tokenize(gpt2, text, &ids);
    double s = seconds_since(t0);
    std::printf("bpe_tokenize gpt-2 1 MB English: %.1f ms, %zu tokens\n", s * 1e3, ids.size());

    // 100 KB runs of one character, then adversarial mixes for the backtracking regexes.
    const char* reps[] = {"a", " ", "1", "!", "\n", "\xE4\xB8\x80", "\xC2\xA0", " a", "\r\n", "A", "'"};
    for (int r = 0; r < (int)(sizeof(reps) / sizeof(reps[0])) + 2; r++) {
        std::string run;
        if (r < (int)(sizeof(reps) / sizeof(reps[0]))) {
            while (run.size() < 100 * 1024) run += reps[r];
        } else {
            run.assign(100 * 1024, ' ');
            run += r == (int)(sizeof(reps) / sizeof(reps[0])) ? "\xE4\xB8\x80" : "x";
        }
        unsigned c = (uint8_t)run[run.size() - 1];
        ids.clear();
        t0 = std::chrono::steady_clock::now();
        bpe_tokenize(gpt2, run, &ids);
        s = seconds_since(t0);
        std::printf("bpe_tokenize gpt-2 100 KB run #%d (last byte 0x%02X): %.1f ms, %zu tokens\n", r, c, s * 1e3,
                    ids.size());
        for (int pre = 0; pre < PRE_COUNT; pre++) {
            std::vector<std::string_view> pieces;
            t0 = std::chrono::steady_clock::now();
            pretokenize((PreTokenizer)pre, run, &pieces);
            s = seconds_since(t0);
            if (s > 0.5) std::printf("note: pretokenize %s 100 KB run #%d took %.1f ms\n", pretokenizer_name((PreTokenizer)pre), r, s * 1e3);
        }
    }
}

int main(int argc, char** argv) {
    std::string dir = argc > 1 ? argv[1] : "../shared/vocab";
    std::printf("Unicode %s\n", unicode_version());
    test_unicode();
    test_regex();
    test_pretokenizers();
    TestVocab gpt2, deepseek, starcoder;
    test_vocab_vectors(dir, "gpt-2", &gpt2);
    test_vocab_vectors(dir, "deepseek-llm", &deepseek);
    test_vocab_vectors(dir, "starcoder", &starcoder);

    // Byte mapping round trip.
    bool ok = true;
    for (int b = 0; b < 256; b++) {
        std::string s;
        bpe_byte_to_unicode((uint8_t)b, &s);
        std::vector<uint32_t> cps;
        utf8_decode(s, &cps, nullptr);
        uint8_t back = 0;
        ok = ok && cps.size() == 1 && bpe_unicode_to_byte(cps[0], &back) && back == b;
    }
    uint8_t dummy;
    CHECK(ok && !bpe_unicode_to_byte(0x144, &dummy) && !bpe_unicode_to_byte(0x20, &dummy), "byte map round trip");
    std::string sp;
    bpe_byte_to_unicode(' ', &sp);
    CHECK(sp == "\xC4\xA0", "space maps to U+0120");

    if (!gpt2.v.tokens.empty() && !std::getenv("SELFTEST_NO_TIMING")) test_timing(gpt2.v);
    std::printf("%d checks passed, %d failed\n", g_checks - g_failures, g_failures);
    return g_failures ? 1 : 0;
}
