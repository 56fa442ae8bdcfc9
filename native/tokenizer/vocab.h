// A tokenizer vocabulary read from GGUF `tokenizer.ggml.*` metadata.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "../gguf/gguf.h"
#include "../util/status.h"

namespace rl {

// tokenizer.ggml.token_type values.
enum TokenType : int32_t {
    TOKEN_UNDEFINED = 0,
    TOKEN_NORMAL = 1,
    TOKEN_UNKNOWN = 2,
    TOKEN_CONTROL = 3,
    TOKEN_USER_DEFINED = 4,
    TOKEN_UNUSED = 5,
    TOKEN_BYTE = 6,
};

enum VocabKind : int32_t {
    VOCAB_SPM,  // tokenizer.ggml.model = "llama": SentencePiece BPE with byte fallback
    VOCAB_BPE,  // "gpt2": byte-level BPE with a pre-tokenizer
    VOCAB_WPM,  // "bert": WordPiece
};

// Pre-tokenizer families of byte-level BPE (tokenizer.ggml.pre), see pretokenizer.h.
enum PreTokenizer : int32_t {
    PRE_DEFAULT,  // "default" and unknown names: llama.cpp's default stage list (as for files without "pre")
    PRE_LLAMA3,   // "llama3", "llama-bpe", "smaug-bpe", ...
    PRE_DEEPSEEK_LLM,
    PRE_DEEPSEEK_CODER,
    PRE_FALCON,
    PRE_STARCODER,  // "starcoder", "refact", "command-r", "smollm", "codeshell", ...
    PRE_QWEN2,      // "qwen2", "stablelm2", ...
    PRE_PORO,       // "poro-chat", "bloom", "gpt3-finnish"
    PRE_CHATGLM4,
    PRE_VIKING,
    PRE_TEKKEN,
    PRE_GPT4O,
    PRE_GPT2,  // "gpt-2", "phi-2", "jina-*", "roberta-bpe", "mpt", "olmo", "jais", "gpt-neox", ...
    PRE_COUNT,
};

struct Vocab {
    VocabKind kind = VOCAB_SPM;
    std::string model;  // tokenizer.ggml.model as written
    std::string pre;    // tokenizer.ggml.pre as written ("default" when absent)
    PreTokenizer pre_type = PRE_DEFAULT;

    std::vector<std::string> tokens;  // (n_vocab) token text as stored (SPM: spaces as U+2581; BPE: byte-mapped)
    std::vector<float> scores;        // (n_vocab) 0 when absent
    std::vector<int32_t> types;       // (n_vocab) TokenType; NORMAL when absent
    std::unordered_map<std::string, int32_t> token_to_id;
    // BPE merges: key is left + ' ' + right, value is the merge's rank (lower merges first)
    std::unordered_map<std::string, int32_t> merge_ranks;

    int32_t bos = -1, eos = -1, eot = -1, eom = -1, unk = -1, pad = -1, sep = -1, cls = -1, mask = -1;
    int32_t linefeed = -1;  // "\n" token (SPM: <0x0A>)
    int32_t byte_tokens[256];  // SPM byte fallback ids of "<0xXX>", -1 when absent

    bool add_bos = false;
    bool add_eos = false;
    bool add_space_prefix = false;  // SPM: prepend ' ' to text (tokenizer.ggml.add_space_prefix)
    bool ignore_merges = false;     // BPE (llama3 family): a whole pre-token found in the vocab is one token
    bool clean_spaces = false;      // detokenizer clean-up of spaces before punctuation (BPE/WPM families)
    bool wpm_uncased = false;       // WPM: no word pieces with uppercase letters -> NFD, strip accents, lowercase

    // Tokens matched as special text when parsing specials (CONTROL, USER_DEFINED, UNKNOWN with
    // non-empty text), ordered longest text first. USER_DEFINED ones are matched even when
    // parse_special is off (as the reference tokenizers do).
    std::vector<int32_t> special_tokens;
    std::vector<uint8_t> lstrip, rstrip;  // (n_vocab) special token absorbs spaces on its left/right

    std::vector<std::string> warnings;  // e.g. unknown pre-tokenizer fell back to default

    size_t size() const { return tokens.size(); }
    bool is_control(int32_t id) const { return types[id] == TOKEN_CONTROL; }
};

// Builds the vocabulary from a parsed header. Missing tokenizer metadata -> TOKENIZER_MISSING;
// unknown tokenizer.ggml.model -> TOKENIZER_UNSUPPORTED naming it; malformed arrays (wrong type,
// lengths that disagree, special ids out of range) -> TOKENIZER_INVALID naming the key.
Status vocab_load(const GgufHeader& h, Vocab* out);

}  // namespace rl
