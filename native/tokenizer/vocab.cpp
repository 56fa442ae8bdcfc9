// vocab_load: tokenizer.ggml.* metadata -> Vocab, with the reference loader's per-family defaults.
// Hostile-input code: every type, length and id is checked; failures are Status codes.
#include "vocab.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>

#include "pretokenizer.h"
#include "unicode.h"

namespace rl {

namespace {

const char* const K_MODEL = "tokenizer.ggml.model";
const char* const K_PRE = "tokenizer.ggml.pre";
const char* const K_TOKENS = "tokenizer.ggml.tokens";
const char* const K_SCORES = "tokenizer.ggml.scores";
const char* const K_TYPES = "tokenizer.ggml.token_type";
const char* const K_MERGES = "tokenizer.ggml.merges";

Status invalid(const std::string& key, const std::string& what) {
    return status_error("TOKENIZER_INVALID", "GGUF metadata '" + key + "' " + what);
}

bool is_integer_type(uint32_t t) {
    return t == GGUF_TYPE_UINT8 || t == GGUF_TYPE_INT8 || t == GGUF_TYPE_UINT16 || t == GGUF_TYPE_INT16 ||
           t == GGUF_TYPE_UINT32 || t == GGUF_TYPE_INT32 || t == GGUF_TYPE_UINT64 || t == GGUF_TYPE_INT64;
}

bool is_signed_type(uint32_t t) {
    return t == GGUF_TYPE_INT8 || t == GGUF_TYPE_INT16 || t == GGUF_TYPE_INT32 || t == GGUF_TYPE_INT64;
}

bool is_number_type(uint32_t t) {
    return is_integer_type(t) || t == GGUF_TYPE_FLOAT32 || t == GGUF_TYPE_FLOAT64;
}

// Optional STRING key; *present false when absent.
Status read_string(const GgufHeader& h, const char* key, std::string* out, bool* present) {
    const GgufValue* v = h.find(key);
    *present = v != nullptr;
    if (!v) return status_ok();
    if (v->type != GGUF_TYPE_STRING) {
        return invalid(key, std::string("must be a string, got ") + gguf_value_type_name(v->type));
    }
    out->assign(v->str.data(), v->str.size());
    return status_ok();
}

// Optional BOOL key; *out unchanged when absent.
Status read_bool(const GgufHeader& h, const std::string& key, bool* out) {
    const GgufValue* v = h.find(key);
    if (!v) return status_ok();
    if (v->type != GGUF_TYPE_BOOL) {
        return invalid(key, std::string("must be a bool, got ") + gguf_value_type_name(v->type));
    }
    *out = v->u != 0;
    return status_ok();
}

// Optional token id key; *out unchanged when absent. -1 (signed, or 0xFFFFFFFF as uint32) means
// "no such token". An id outside the vocabulary is ignored with a warning, as llama.cpp does, so
// files with a stray special id (common for padding) still load.
Status read_id(const GgufHeader& h, const std::string& key, size_t n_vocab, int32_t* out,
               std::vector<std::string>* warnings) {
    const GgufValue* v = h.find(key);
    if (!v) return status_ok();
    if (!is_integer_type(v->type)) {
        return invalid(key, std::string("must be an integer token id, got ") + gguf_value_type_name(v->type));
    }
    bool none = is_signed_type(v->type) ? v->i == -1 : (v->u == 0xFFFFFFFFull || v->u == UINT64_MAX);
    if (none) {
        *out = -1;
        return status_ok();
    }
    bool in_range = is_signed_type(v->type) ? (v->i >= 0 && (uint64_t)v->i < n_vocab) : v->u < n_vocab;
    if (!in_range) {
        std::string value = is_signed_type(v->type) ? std::to_string(v->i) : std::to_string(v->u);
        warnings->push_back("GGUF metadata '" + key + "' = " + value + " is not a token id (vocabulary of " +
                            std::to_string(n_vocab) + "); ignoring it");
        *out = -1;
        return status_ok();
    }
    *out = is_signed_type(v->type) ? (int32_t)v->i : (int32_t)v->u;
    return status_ok();
}

// Numeric array of exactly n elements (or absent: *present false).
Status numeric_array(const GgufHeader& h, const char* key, size_t n, const GgufValue** out) {
    const GgufValue* v = h.find(key);
    *out = nullptr;
    if (!v) return status_ok();
    if (v->type != GGUF_TYPE_ARRAY || !is_number_type(v->elem_type)) {
        return invalid(key, "must be an array of numbers");
    }
    if (v->count != n) {
        return invalid(key, "has " + std::to_string(v->count) + " entries but tokenizer.ggml.tokens has " +
                                std::to_string(n));
    }
    if (n > 0 && v->elems == nullptr) return invalid(key, "has no element data");
    *out = v;
    return status_ok();
}

bool in_list(std::string_view s, std::initializer_list<const char*> list) {
    for (const char* x : list) {
        if (s == x) return true;
    }
    return false;
}

bool contains_any(const std::string& s, std::initializer_list<const char*> list) {
    for (const char* x : list) {
        if (s.find(x) != std::string::npos) return true;
    }
    return false;
}

// Per-pre-tokenizer flags of the reference loader (tokenizer.ggml.pre names).
void apply_pre_defaults(std::string_view pre, Vocab* v) {
    if (in_list(pre, {"llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2"})) {
        v->ignore_merges = true;
        v->add_bos = true;
    } else if (in_list(pre, {"tekken"})) {
        v->ignore_merges = true;
        v->add_bos = true;
        v->clean_spaces = false;
    } else if (in_list(pre, {"chameleon"})) {
        v->add_bos = true;
        v->clean_spaces = false;
    } else if (in_list(pre, {"deepseek-llm", "deepseek-coder", "deepseek-v3", "command-r", "qwen2",
                             "deepseek-r1-qwen", "megrez", "poro-chat", "viking", "smollm", "gpt-4o", "llama4",
                             "seed-coder", "kimi-k2", "hunyuan", "grok-2"})) {
        v->clean_spaces = false;
    }
    if (in_list(pre, {"chatglm-bpe", "glm4"})) v->bos = -1;
}

// Special-token texts the reference recognizes as end-of-turn when no eot id is stored, in priority order.
const char* const k_eot_texts[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|end_of_text|>", "<EOT>", "_<EOT>",
    "<\xEF\xBD\x9C" "end\xE2\x96\x81" "of\xE2\x96\x81" "sentence\xEF\xBD\x9C>",  // DeepSeek
    "[EOT]", "<end_of_utterance>",
};

int32_t find_token(const Vocab& v, const std::string& text) {
    auto it = v.token_to_id.find(text);
    return it == v.token_to_id.end() ? -1 : it->second;
}

std::string lower_ascii(std::string s) {
    for (char& c : s) c = (char)std::tolower((unsigned char)c);
    return s;
}

// An uncased BERT vocabulary has (almost) no pieces with uppercase letters; a cased one has thousands.
bool wpm_vocab_is_uncased(const Vocab& v) {
    size_t n_upper = 0;
    std::vector<uint32_t> cps;
    for (size_t i = 0; i < v.size(); i++) {
        if (v.types[i] != TOKEN_NORMAL) continue;
        cps.clear();
        utf8_decode(v.tokens[i], &cps, nullptr);
        for (uint32_t cp : cps) {
            UnicodeCategory c = unicode_category(cp);
            if (c == UC_LU || c == UC_LT) {
                n_upper++;
                break;
            }
        }
    }
    return n_upper * 1000 <= v.size();
}

}  // namespace

Status vocab_load(const GgufHeader& h, Vocab* out) {
    Vocab v;
    std::string model;
    bool present = false;
    Status st = read_string(h, K_MODEL, &model, &present);
    if (!st.ok()) return st;
    if (!present || model == "none" || model == "no_vocab") {
        return status_error("TOKENIZER_MISSING", "the model file has no tokenizer (tokenizer.ggml.model is " +
                                                     std::string(present ? "'" + model + "'" : "absent") + ")");
    }
    if (model == "llama") {
        v.kind = VOCAB_SPM;
    } else if (model == "gpt2") {
        v.kind = VOCAB_BPE;
    } else if (model == "bert") {
        v.kind = VOCAB_WPM;
    } else {
        return status_error("TOKENIZER_UNSUPPORTED", "tokenizer.ggml.model '" + model +
                                                         "' is not supported (supported: llama, gpt2, bert)");
    }
    v.model = model;

    const GgufValue* tokens = h.find(K_TOKENS);
    if (!tokens) return status_error("TOKENIZER_MISSING", "the model file has no tokenizer.ggml.tokens");
    if (tokens->type != GGUF_TYPE_ARRAY || tokens->elem_type != GGUF_TYPE_STRING) {
        return invalid(K_TOKENS, "must be an array of strings");
    }
    if (tokens->count == 0 || tokens->strings.size() != tokens->count) {
        return invalid(K_TOKENS, "is empty");
    }
    if (tokens->count > (uint64_t)INT32_MAX) return invalid(K_TOKENS, "has too many entries");
    const size_t n = tokens->count;

    const GgufValue* scores = nullptr;
    const GgufValue* types = nullptr;
    if (!(st = numeric_array(h, K_SCORES, n, &scores)).ok()) return st;
    if (!(st = numeric_array(h, K_TYPES, n, &types)).ok()) return st;
    if (types && !is_integer_type(types->elem_type)) return invalid(K_TYPES, "must be an array of integers");

    v.tokens.resize(n);
    v.scores.assign(n, 0.0f);
    v.types.assign(n, TOKEN_NORMAL);
    v.token_to_id.reserve(n);
    for (size_t i = 0; i < n; i++) {
        v.tokens[i].assign(tokens->strings[i].data(), tokens->strings[i].size());
        if (scores) {
            double s = gguf_array_get_f64(*scores, i);
            if (std::isnan(s)) return invalid(K_SCORES, "[" + std::to_string(i) + "] is NaN");
            v.scores[i] = (float)s;
        }
        if (types) {
            int64_t t = gguf_array_get_i64(*types, i);
            if (t < TOKEN_UNDEFINED || t > TOKEN_BYTE) {
                return invalid(K_TYPES, "[" + std::to_string(i) + "] = " + std::to_string(t) +
                                            " is not a token type (0..6)");
            }
            v.types[i] = (int32_t)t;
        }
        v.token_to_id[v.tokens[i]] = (int32_t)i;  // duplicates: the last id wins, as in the reference
    }

    // Family defaults, then the file's explicit values.
    auto in_range = [n](int32_t id) { return id >= 0 && (size_t)id < n ? id : -1; };
    if (v.kind == VOCAB_SPM) {
        v.bos = in_range(1), v.eos = in_range(2), v.unk = in_range(0);
        v.add_bos = true;
        v.add_space_prefix = true;
    } else if (v.kind == VOCAB_BPE) {
        v.bos = in_range(11), v.eos = in_range(11);
        v.clean_spaces = true;
    } else {
        v.bos = v.cls = in_range(101), v.unk = in_range(100), v.sep = in_range(102), v.pad = in_range(0);
        v.mask = in_range(103);
        v.add_bos = true;  // WPM: [CLS] first
        v.add_eos = true;  // WPM: [SEP] last
        v.clean_spaces = true;
    }

    std::string pre;
    if (!(st = read_string(h, K_PRE, &pre, &present)).ok()) return st;
    v.pre = present ? pre : "default";
    if (v.kind == VOCAB_BPE) {
        if (!present) {
            v.warnings.push_back("tokenizer.ggml.pre is missing: using the default pre-tokenizer; the "
                                 "tokenization may differ from the model's own");
        }
        bool known = false;
        v.pre_type = pretokenizer_from_name(v.pre, &known);
        if (!known) {
            v.warnings.push_back("unknown pre-tokenizer '" + v.pre + "' (tokenizer.ggml.pre): using the default");
            v.pre_type = PRE_DEFAULT;
        } else {
            apply_pre_defaults(v.pre, &v);
        }
    }

    if (v.kind == VOCAB_BPE) {
        const GgufValue* merges = h.find(K_MERGES);
        if (!merges) return status_error("TOKENIZER_MISSING", "a gpt2 tokenizer needs tokenizer.ggml.merges");
        if (merges->type != GGUF_TYPE_ARRAY || merges->elem_type != GGUF_TYPE_STRING ||
            merges->strings.size() != merges->count) {
            return invalid(K_MERGES, "must be an array of strings");
        }
        if (merges->count > (uint64_t)INT32_MAX) return invalid(K_MERGES, "has too many entries");
        v.merge_ranks.reserve(merges->count);
        for (size_t i = 0; i < merges->count; i++) {
            std::string_view m = merges->strings[i];
            size_t sp = m.size() > 1 ? m.find(' ', 1) : std::string_view::npos;
            if (sp == std::string_view::npos) {
                return invalid(K_MERGES, "[" + std::to_string(i) + "] is not two tokens separated by a space");
            }
            v.merge_ranks.emplace(std::string(m), (int32_t)i);  // duplicates: the first rank wins
        }
    }

    struct IdKey { const char* name; int32_t* id; };
    const IdKey ids[] = {
        {"bos_token_id", &v.bos},     {"eos_token_id", &v.eos},        {"eot_token_id", &v.eot},
        {"eom_token_id", &v.eom},     {"unknown_token_id", &v.unk},    {"padding_token_id", &v.pad},
        {"seperator_token_id", &v.sep}, {"cls_token_id", &v.cls},      {"mask_token_id", &v.mask},
    };
    for (const IdKey& k : ids) {
        if (!(st = read_id(h, std::string("tokenizer.ggml.") + k.name, n, k.id, &v.warnings)).ok()) return st;
    }
    if (!(st = read_bool(h, "tokenizer.ggml.add_bos_token", &v.add_bos)).ok()) return st;
    if (!(st = read_bool(h, "tokenizer.ggml.add_eos_token", &v.add_eos)).ok()) return st;
    if (!(st = read_bool(h, "tokenizer.ggml.add_space_prefix", &v.add_space_prefix)).ok()) return st;
    if (v.kind == VOCAB_WPM && v.cls < 0) v.cls = v.bos;

    // End-of-turn / end-of-message by well-known text; such tokens are control tokens whatever the file says.
    if (v.eot < 0) {
        for (const char* text : k_eot_texts) {
            int32_t id = find_token(v, text);
            if (id >= 0) {
                v.eot = id;
                break;
            }
        }
        if (v.eot >= 0) v.types[v.eot] = TOKEN_CONTROL;
    }
    if (v.eom < 0) {
        v.eom = find_token(v, "<|eom_id|>");
        if (v.eom >= 0) v.types[v.eom] = TOKEN_CONTROL;
    }

    for (int b = 0; b < 256; b++) {
        char name[8];
        std::snprintf(name, sizeof(name), "<0x%02X>", b);
        v.byte_tokens[b] = find_token(v, name);
    }
    if (v.kind == VOCAB_SPM) {
        v.linefeed = v.byte_tokens['\n'] >= 0 ? v.byte_tokens['\n'] : find_token(v, "\n");
    } else if (v.kind == VOCAB_BPE) {
        v.linefeed = find_token(v, "\xC4\x8A");  // U+010A: byte 0x0A in the byte-level alphabet
    } else {
        v.linefeed = find_token(v, "\n");
    }

    for (size_t i = 0; i < n; i++) {
        int32_t t = v.types[i];
        if ((t == TOKEN_CONTROL || t == TOKEN_USER_DEFINED || t == TOKEN_UNKNOWN) && !v.tokens[i].empty()) {
            v.special_tokens.push_back((int32_t)i);
        }
    }
    std::stable_sort(v.special_tokens.begin(), v.special_tokens.end(),
                     [&](int32_t a, int32_t b) { return v.tokens[a].size() > v.tokens[b].size(); });

    // Strip flags the reference sets by model name (general.name, tokenizer.ggml.pre, architecture).
    v.lstrip.assign(n, 0);
    v.rstrip.assign(n, 0);
    std::string name, arch;
    if (!(st = read_string(h, "general.name", &name, &present)).ok()) name.clear();
    if (!(st = read_string(h, "general.architecture", &arch, &present)).ok()) arch.clear();
    name = lower_ascii(name);
    auto set_flag = [&](std::vector<uint8_t>& flags, const char* text, uint8_t on) {
        int32_t id = find_token(v, text);
        if (id >= 0) flags[id] = on;
    };
    if (contains_any(v.pre, {"jina-v2-de", "jina-v2-es", "jina-v2-code"}) ||
        contains_any(arch, {"nomic-bert-moe", "jina-bert-v3"})) {
        set_flag(v.lstrip, "<mask>", 1);
    } else if (contains_any(name, {"phi-3", "phi3"})) {
        for (int32_t id : v.special_tokens) v.rstrip[id] = 1;
        set_flag(v.rstrip, "</s>", 1);
        for (const char* t : {"<unk>", "<s>", "<|endoftext|>"}) set_flag(v.rstrip, t, 0);
    }

    if (v.kind == VOCAB_WPM) v.wpm_uncased = wpm_vocab_is_uncased(v);

    *out = std::move(v);
    return status_ok();
}

}  // namespace rl
