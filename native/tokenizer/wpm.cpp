// WordPiece: BERT normalization and pre-tokenization, then greedy longest-match-first per word.
#include "wpm.h"

#include <string>

#include "unicode.h"

namespace rl {

namespace {

constexpr size_t WPM_MAX_WORD_CHARS = 100;  // longer words are [UNK], as in the reference WordPiece

// CJK Unified Ideographs blocks (the ranges BERT isolates as single-character words).
bool wpm_is_cjk(uint32_t cp) {
    return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0x20000 && cp <= 0x2A6DF) ||
           (cp >= 0x2A700 && cp <= 0x2B73F) || (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B820 && cp <= 0x2CEAF) ||
           (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

// BERT punctuation: every ASCII non-alphanumeric printable character, and Unicode P*.
bool wpm_is_punct(uint32_t cp) {
    if ((cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) || (cp >= 123 && cp <= 126)) {
        return true;
    }
    return unicode_is_punct(cp);
}

// Dropped before anything else: NUL, U+FFFD and \p{C} other than \t \n \r.
bool wpm_is_dropped(uint32_t cp) {
    if (cp == '\t' || cp == '\n' || cp == '\r') return false;
    if (cp == 0 || cp == UNICODE_REPLACEMENT) return true;
    return unicode_category(cp) >= UC_CC;
}

// Greedy longest-first match of one word (codepoints) against the vocabulary.
void wpm_word(const Vocab& vocab, const std::vector<uint32_t>& word, std::vector<int32_t>* out) {
    if (word.empty()) return;
    if (word.size() > WPM_MAX_WORD_CHARS) {
        if (vocab.unk >= 0) out->push_back(vocab.unk);
        return;
    }
    std::vector<size_t> ends(word.size() + 1);  // byte offset of each character end within `bytes`
    std::string bytes;
    for (size_t i = 0; i < word.size(); i++) {
        ends[i] = bytes.size();
        utf8_append(word[i], &bytes);
    }
    ends[word.size()] = bytes.size();

    size_t n_before = out->size();
    std::string key;
    for (size_t start = 0; start < word.size();) {
        size_t end = word.size();
        int32_t found = -1;
        for (; end > start; end--) {
            key.clear();
            if (start == 0) key = "\xE2\x96\x81";  // word-start pieces carry U+2581
            key.append(bytes, ends[start], ends[end] - ends[start]);
            auto it = vocab.token_to_id.find(key);
            if (it != vocab.token_to_id.end()) {
                found = it->second;
                break;
            }
        }
        if (found < 0) {
            out->resize(n_before);
            if (vocab.unk >= 0) out->push_back(vocab.unk);
            return;
        }
        out->push_back(found);
        start = end;
    }
}

}  // namespace

void wpm_tokenize(const Vocab& vocab, std::string_view text, std::vector<int32_t>* out) {
    std::vector<uint32_t> cps;
    utf8_decode(text, &cps, nullptr);
    if (vocab.wpm_uncased) {
        std::vector<uint32_t> nfd;
        unicode_nfd(cps, &nfd);
        cps.clear();
        for (uint32_t cp : nfd) {
            if (unicode_category(cp) != UC_MN) cps.push_back(unicode_tolower(cp));
        }
    }
    std::vector<uint32_t> word;
    for (uint32_t cp : cps) {
        if (wpm_is_dropped(cp)) continue;
        if (unicode_is_whitespace(cp)) {
            wpm_word(vocab, word, out);
            word.clear();
        } else if (wpm_is_punct(cp) || wpm_is_cjk(cp)) {
            wpm_word(vocab, word, out);
            word.assign(1, cp);
            wpm_word(vocab, word, out);
            word.clear();
        } else {
            word.push_back(cp);
        }
    }
    wpm_word(vocab, word, out);
}

}  // namespace rl
