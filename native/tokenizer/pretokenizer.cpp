// Pre-tokenizer families: the stage lists of the reference tokenizer.json pre_tokenizer definitions
// and the tokenizer.ggml.pre names that select them. Patterns are ASCII (\x{..} for other codepoints).
#include "pretokenizer.h"

#include <cstring>
#include <mutex>
#include <utility>

#include "regex.h"
#include "unicode.h"

namespace rl {

namespace {

// Stage kinds beyond regexes, for the Falcon pipeline, whose digit stages run after the byte-level
// mapping (so they see mapped characters: the self-mapped bytes B2 B3 B9 BC BD BE are \p{N} too).
const char* const kByteNumericRuns = "<byte-level \\p{N}+>";
const char* const kByteDigitTriples = "<byte-level [0-9][0-9][0-9]>";

// The byte-level BPE regex of GPT-2 (also the ByteLevel pre-tokenizer's use_regex pattern).
#define RL_GPT2 R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)"
#define RL_CONTRACTIONS_I R"((?i:'s|'t|'re|'ve|'m|'ll|'d))"
#define RL_PORO R"( ?[^(\s|.,!?\x{2026}\x{3002}\x{FF0C}\x{3001}\x{964}\x{6D4}\x{60C})]+)"
#define RL_CJK R"([\x{4E00}-\x{9FA5}\x{800}-\x{4E00}\x{AC00}-\x{D7FF}]+)"
#define RL_UPPERISH R"([\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}])"
#define RL_LOWERISH R"([\p{Ll}\p{Lm}\p{Lo}\p{M}])"

struct FamilyDef {
    PreTokenizer pre;
    const char* name;
    const char* stages[6];  // nullptr-terminated
};

const FamilyDef kFamilies[PRE_COUNT] = {
    // llama.cpp's list for "default" (files converted without a pre-tokenizer name): kept so such
    // files tokenize as llama.cpp tokenizes them.
    {PRE_DEFAULT, "default", {R"([\p{P}\$\+<=>\^~\|]+)", RL_GPT2, R"(\p{N}+)", R"([0-9][0-9][0-9])"}},
    {PRE_LLAMA3,
     "llama3",
     {RL_CONTRACTIONS_I R"(|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)"}},
    {PRE_DEEPSEEK_LLM,
     "deepseek-llm",
     {R"([\r\n])",
      R"(\s?[A-Za-z\x{B5}\x{C0}-\x{D6}\x{D8}-\x{F6}\x{F8}-\x{1BA}\x{1BC}-\x{1BF}\x{1C4}-\x{293}\x{295}-\x{2AF})"
      R"(\x{370}-\x{373}\x{376}\x{377}\x{37B}-\x{37D}\x{37F}\x{386}\x{388}-\x{38A}\x{38C}\x{38E}-\x{3A1})"
      R"(\x{3A3}-\x{3F5}\x{3F7}-\x{481}\x{48A}-\x{52F}\x{531}-\x{556}\x{10A0}-\x{10C5}\x{13A0}-\x{13F5})"
      R"(\x{13F8}-\x{13FD}\x{1C90}-\x{1CBA}\x{1CBD}-\x{1CBF}\x{1D00}-\x{1D2B}\x{1D6B}-\x{1D77}\x{1D79}-\x{1D9A})"
      R"(\x{1E00}-\x{1F15}\x{1F18}-\x{1F1D}\x{1F20}-\x{1F45}\x{1F48}-\x{1F4D}\x{1F50}-\x{1F57}\x{1F59}\x{1F5B})"
      R"(\x{1F5D}\x{1F5F}-\x{1F7D}\x{1F80}-\x{1FB4}\x{1FB6}-\x{1FBC}\x{1FBE}\x{1FC2}-\x{1FC4}\x{1FC6}-\x{1FCC})"
      R"(\x{1FD0}-\x{1FD3}\x{1FD6}-\x{1FDB}\x{1FE0}-\x{1FEC}\x{1FF2}-\x{1FF4}\x{1FF6}-\x{1FFC}\x{2102}\x{2107})"
      R"(\x{210A}-\x{2113}\x{2115}\x{2119}-\x{211D}\x{2124}\x{2126}\x{2128}\x{212A}-\x{212D}\x{212F}-\x{2134})"
      R"(\x{2139}\x{213C}-\x{213F}\x{2145}-\x{2149}\x{214E}\x{2183}\x{2184}\x{2C00}-\x{2C7B}\x{2C7E}-\x{2CE4})"
      R"(\x{2CEB}-\x{2CEE}\x{2CF2}\x{2CF3}\x{A640}-\x{A66D}\x{A680}-\x{A69B}\x{A722}-\x{A76F}\x{A771}-\x{A787})"
      R"(\x{A78B}-\x{A78E}\x{AB70}-\x{ABBF}\x{FB00}-\x{FB06}\x{FB13}-\x{FB17}\x{FF21}-\x{FF3A}\x{FF41}-\x{FF5A})"
      R"(\x{10400}-\x{1044F}\x{104B0}-\x{104D3}\x{104D8}-\x{104FB}\x{10C80}-\x{10CB2}\x{10CC0}-\x{10CF2})"
      R"(\x{118A0}-\x{118DF}\x{1E900}-\x{1E943}]+)",
      R"(\s?[!-/:-~\x{FF01}-\x{FF0F}\x{FF1A}-\x{FF5E}\x{2018}-\x{201F}\x{3000}-\x{3002}]+)", R"(\s+$)", RL_CJK,
      R"(\p{N}+)"}},
    {PRE_DEEPSEEK_CODER, "deepseek-coder", {R"([\r\n])", R"(\s?\p{L}+)", R"(\s?\p{P}+)", RL_CJK, R"(\p{N})"}},
    {PRE_FALCON, "falcon", {R"([\p{P}\$\+<=>\^~\|`]+)", RL_GPT2, kByteNumericRuns, kByteDigitTriples}},
    {PRE_STARCODER, "starcoder", {R"(\p{N})", RL_GPT2}},
    {PRE_QWEN2,
     "qwen2",
     {RL_CONTRACTIONS_I R"(|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)"}},
    {PRE_PORO, "poro-chat", {RL_PORO}},
    {PRE_CHATGLM4,
     "chatglm-bpe",
     {RL_CONTRACTIONS_I R"(|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)"}},
    {PRE_VIKING, "viking", {RL_PORO, R"(\p{N})"}},
    {PRE_TEKKEN,
     "tekken",
     {R"([^\r\n\p{L}\p{N}]?)" RL_UPPERISH "*" RL_LOWERISH R"(+|[^\r\n\p{L}\p{N}]?)" RL_UPPERISH "+" RL_LOWERISH
      R"(*|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)"}},
    {PRE_GPT4O,
     "gpt-4o",
     {R"([^\r\n\p{L}\p{N}]?)" RL_UPPERISH "*" RL_LOWERISH "+" RL_CONTRACTIONS_I R"(?|[^\r\n\p{L}\p{N}]?)" RL_UPPERISH
      "+" RL_LOWERISH "*" RL_CONTRACTIONS_I R"(?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)"}},
    {PRE_GPT2, "gpt-2", {RL_GPT2}},
};

// tokenizer.ggml.pre values written by the GGUF converters, by family.
const struct {
    const char* name;
    PreTokenizer pre;
} kNames[] = {
    {"default", PRE_DEFAULT},
    {"gpt-2", PRE_GPT2},
    {"phi-2", PRE_GPT2},
    {"jina-es", PRE_GPT2},
    {"jina-de", PRE_GPT2},
    {"jina-v1-en", PRE_GPT2},
    {"jina-v2-es", PRE_GPT2},
    {"jina-v2-de", PRE_GPT2},
    {"jina-v2-code", PRE_GPT2},
    {"roberta-bpe", PRE_GPT2},
    {"gigachat", PRE_GPT2},
    {"a.x-4.0", PRE_GPT2},
    {"mellum", PRE_GPT2},
    {"mpt", PRE_GPT2},
    {"olmo", PRE_GPT2},
    {"jais", PRE_GPT2},
    {"trillion", PRE_GPT2},
    {"granite-docling", PRE_GPT2},
    {"exaone4", PRE_GPT2},
    {"gpt-neox", PRE_GPT2},
    {"llama3", PRE_LLAMA3},
    {"llama-v3", PRE_LLAMA3},
    {"llama-bpe", PRE_LLAMA3},
    {"falcon3", PRE_LLAMA3},
    {"falcon-h1", PRE_LLAMA3},
    {"pixtral", PRE_LLAMA3},
    {"midm-2.0", PRE_LLAMA3},
    {"lfm2", PRE_LLAMA3},
    {"dbrx", PRE_LLAMA3},
    {"smaug-bpe", PRE_LLAMA3},
    {"deepseek-llm", PRE_DEEPSEEK_LLM},
    {"deepseek-coder", PRE_DEEPSEEK_CODER},
    {"falcon", PRE_FALCON},
    {"starcoder", PRE_STARCODER},
    {"refact", PRE_STARCODER},
    {"command-r", PRE_STARCODER},
    {"smollm", PRE_STARCODER},
    {"codeshell", PRE_STARCODER},
    {"exaone", PRE_STARCODER},
    {"minerva-7b", PRE_STARCODER},
    {"qwen2", PRE_QWEN2},
    {"deepseek-r1-qwen", PRE_QWEN2},
    {"kormo", PRE_QWEN2},
    {"megrez", PRE_QWEN2},
    {"stablelm2", PRE_QWEN2},
    {"hunyuan", PRE_QWEN2},
    {"bailingmoe", PRE_QWEN2},
    {"bailingmoe2", PRE_QWEN2},
    {"llada-moe", PRE_QWEN2},
    {"grok-2", PRE_QWEN2},
    {"poro-chat", PRE_PORO},
    {"bloom", PRE_PORO},
    {"gpt3-finnish", PRE_PORO},
    {"chatglm-bpe", PRE_CHATGLM4},
    {"glm4", PRE_CHATGLM4},
    {"viking", PRE_VIKING},
    {"tekken", PRE_TEKKEN},
    {"gpt-4o", PRE_GPT4O},
    {"llama4", PRE_GPT4O},
    {"minimax-m2", PRE_GPT4O},
};

struct Stage {
    const char* special = nullptr;  // kByteNumericRuns / kByteDigitTriples, else a regex stage
    Regex re;
};

struct Families {
    std::vector<Stage> stages[PRE_COUNT];
    Status status;
};

const Families& families() {
    static Families f;
    static std::once_flag once;
    std::call_once(once, [] {
        for (const FamilyDef& def : kFamilies) {
            for (const char* s : def.stages) {
                if (!s) break;
                Stage st;
                if (s == kByteNumericRuns || s == kByteDigitTriples) {
                    st.special = s;
                } else {
                    Status e = st.re.compile(s);
                    if (!e.ok()) {
                        if (f.status.ok()) f.status = e;
                        continue;
                    }
                }
                f.stages[def.pre].push_back(std::move(st));
            }
        }
    });
    return f;
}

// Bytes whose GPT-2 byte-level character is \p{N}: the ASCII digits and the self-mapped ¹ ² ³ ¼ ½ ¾.
bool byte_is_mapped_numeric(uint8_t b) {
    return (b >= '0' && b <= '9') || b == 0xB2 || b == 0xB3 || b == 0xB9 || b == 0xBC || b == 0xBD || b == 0xBE;
}

bool ascii_digit(uint8_t b) {
    return b >= '0' && b <= '9';
}

using Span = std::pair<uint32_t, uint32_t>;

// Emits the parts of [a, b) around the sorted, disjoint match spans `m` (all within [a, b)).
void emit_split(uint32_t a, uint32_t b, const std::vector<Span>& m, std::vector<Span>* out) {
    uint32_t at = a;
    for (const Span& s : m) {
        if (s.first > at) out->push_back({at, s.first});
        out->push_back(s);
        at = s.second;
    }
    if (b > at) out->push_back({at, b});
}

// Byte-level stages over the byte spans in `pieces`.
void apply_byte_stage(const char* kind, std::string_view text, std::vector<Span>* pieces) {
    const uint8_t* t = (const uint8_t*)text.data();
    std::vector<Span> out, matches;
    out.reserve(pieces->size());
    for (const Span& p : *pieces) {
        matches.clear();
        uint32_t i = p.first;
        while (i < p.second) {
            if (kind == kByteNumericRuns) {
                if (!byte_is_mapped_numeric(t[i])) {
                    i++;
                    continue;
                }
                uint32_t j = i;
                while (j < p.second && byte_is_mapped_numeric(t[j])) j++;
                matches.push_back({i, j});
                i = j;
            } else {
                if (i + 3 <= p.second && ascii_digit(t[i]) && ascii_digit(t[i + 1]) && ascii_digit(t[i + 2])) {
                    matches.push_back({i, i + 3});
                    i += 3;
                } else {
                    i++;
                }
            }
        }
        emit_split(p.first, p.second, matches, &out);
    }
    pieces->swap(out);
}

}  // namespace

PreTokenizer pretokenizer_from_name(std::string_view pre, bool* known) {
    for (const auto& n : kNames) {
        if (pre == n.name) {
            if (known) *known = true;
            return n.pre;
        }
    }
    if (known) *known = false;
    return PRE_DEFAULT;
}

const char* pretokenizer_name(PreTokenizer pre) {
    return (pre >= 0 && pre < PRE_COUNT) ? kFamilies[pre].name : "unknown";
}

Status pretokenizer_init() {
    return families().status;
}

void pretokenize(PreTokenizer pre, std::string_view text, std::vector<std::string_view>* pieces) {
    if (text.empty()) return;
    if (pre < 0 || pre >= PRE_COUNT) pre = PRE_DEFAULT;
    const std::vector<Stage>& stages = families().stages[pre];

    // Regex stages work on codepoint spans of the decoded text; byte stages (only after them) on bytes.
    std::vector<uint32_t> cps, offs;
    utf8_decode(text, &cps, &offs);
    const uint32_t n_cps = (uint32_t)cps.size();
    offs.push_back((uint32_t)text.size());

    std::vector<Span> cur{{0, n_cps}}, next, matches;
    size_t k = 0;
    for (; k < stages.size() && !stages[k].special; k++) {
        next.clear();
        next.reserve(cur.size() * 2);
        for (const Span& p : cur) {
            matches.clear();
            stages[k].re.find_all(cps.data() + p.first, p.second - p.first, &matches);
            for (Span& m : matches) {
                m.first += p.first;
                m.second += p.first;
            }
            emit_split(p.first, p.second, matches, &next);
        }
        cur.swap(next);
    }
    for (Span& p : cur) p = {offs[p.first], offs[p.second]};
    for (; k < stages.size(); k++) apply_byte_stage(stages[k].special, text, &cur);

    pieces->reserve(pieces->size() + cur.size());
    for (const Span& p : cur) pieces->push_back(text.substr(p.first, p.second - p.first));
}

}  // namespace rl
