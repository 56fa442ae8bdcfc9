// tokenize / detokenize / StreamDecoder: special-token partitioning, per-family dispatch, and
// UTF-8-sanitized rendering of pieces.
#include "tokenizer.h"

#include "bpe.h"
#include "spm.h"
#include "unicode.h"
#include "wpm.h"

namespace rl {

namespace {

constexpr size_t TOKENIZE_MAX_BYTES = (size_t)1 << 31;  // symbol offsets are 32-bit

// A piece of the input: raw text (id < 0) or a special token matched by its text.
struct Fragment {
    size_t off, len;
    int32_t id;
};

bool is_c_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

// Which bytes and adjacent byte pairs occur in the text: a cheap test that rules out most special tokens.
struct BytePairFilter {
    std::vector<uint64_t> pairs = std::vector<uint64_t>(65536 / 64, 0);
    uint64_t bytes[4] = {0, 0, 0, 0};

    explicit BytePairFilter(std::string_view s) {
        for (size_t i = 0; i < s.size(); i++) {
            uint8_t b = (uint8_t)s[i];
            bytes[b >> 6] |= 1ull << (b & 63);
            if (i + 1 < s.size()) {
                uint32_t p = (uint32_t)b << 8 | (uint8_t)s[i + 1];
                pairs[p >> 6] |= 1ull << (p & 63);
            }
        }
    }
    bool may_contain(const std::string& t) const {
        uint8_t b0 = (uint8_t)t[0];
        if (!(bytes[b0 >> 6] >> (b0 & 63) & 1)) return false;
        for (size_t i = 0; i + 1 < t.size(); i++) {
            uint32_t p = (uint32_t)(uint8_t)t[i] << 8 | (uint8_t)t[i + 1];
            if (!(pairs[p >> 6] >> (p & 63) & 1)) return false;
        }
        return true;
    }
};

// Splits the text at special tokens the way the reference does: tokens in order longest text first,
// each one matched left to right in every remaining raw fragment. CONTROL/UNKNOWN tokens only when
// parse_special; USER_DEFINED always. lstrip/rstrip tokens swallow adjacent ASCII whitespace.
void partition(const Vocab& v, std::string_view text, bool parse_special, std::vector<Fragment>* frags) {
    frags->clear();
    if (text.empty()) return;
    frags->push_back(Fragment{0, text.size(), -1});
    if (v.special_tokens.empty()) return;
    BytePairFilter filter(text);
    std::vector<Fragment> next;
    for (int32_t id : v.special_tokens) {
        int32_t type = v.types[id];
        if (!parse_special && (type == TOKEN_CONTROL || type == TOKEN_UNKNOWN)) continue;
        const std::string& tok = v.tokens[id];
        if (tok.size() > text.size() || !filter.may_contain(tok)) continue;
        next.clear();
        bool changed = false;
        for (const Fragment& f : *frags) {
            if (f.id >= 0 || f.len < tok.size()) {
                next.push_back(f);
                continue;
            }
            size_t base = f.off, len = f.len;
            for (;;) {
                size_t at = std::string_view(text.data() + base, len).find(tok);
                if (at == std::string_view::npos) break;
                changed = true;
                size_t left = at;
                if (v.lstrip[id]) {
                    while (left > 0 && is_c_space(text[base + left - 1])) left--;
                }
                if (left > 0) next.push_back(Fragment{base, left, -1});
                next.push_back(Fragment{base + at, tok.size(), id});
                base += at + tok.size();
                len -= at + tok.size();
                if (v.rstrip[id]) {
                    while (len > 0 && is_c_space(text[base])) base++, len--;
                }
            }
            if (len > 0) next.push_back(Fragment{base, len, -1});
        }
        if (changed) frags->swap(next);
    }
}

void spm_fragment(const Vocab& v, std::string_view raw, bool space_prefix, std::string* scratch,
                  std::vector<int32_t>* out) {
    scratch->clear();
    if (space_prefix) scratch->append("\xE2\x96\x81");
    for (char c : raw) {
        if (c == ' ') {
            scratch->append("\xE2\x96\x81");
        } else {
            scratch->push_back(c);
        }
    }
    spm_tokenize(v, *scratch, out);
}

// Appends in[0..) decoded as the WHATWG UTF-8 decoder does: each maximal invalid subpart becomes
// U+FFFD. Unless `final`, an incomplete sequence at the end is left unconsumed. Returns bytes consumed.
size_t utf8_sanitize(std::string_view in, bool final, std::string* out) {
    const uint8_t* p = (const uint8_t*)in.data();
    const size_t n = in.size();
    size_t i = 0;
    while (i < n) {
        uint8_t c = p[i];
        if (c < 0x80) {
            size_t j = i + 1;
            while (j < n && p[j] < 0x80) j++;
            out->append(in.data() + i, j - i);
            i = j;
            continue;
        }
        int need;
        uint8_t lo = 0x80, hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF) {
            need = 1;
        } else if (c >= 0xE0 && c <= 0xEF) {
            need = 2;
            if (c == 0xE0) lo = 0xA0;
            if (c == 0xED) hi = 0x9F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            need = 3;
            if (c == 0xF0) lo = 0x90;
            if (c == 0xF4) hi = 0x8F;
        } else {
            out->append("\xEF\xBF\xBD");
            i++;
            continue;
        }
        size_t j = i + 1;
        bool bad = false;
        for (int k = 0; k < need; k++, j++) {
            if (j >= n) {
                if (!final) return i;  // may still complete
                bad = true;
                break;
            }
            if (p[j] < lo || p[j] > hi) {
                bad = true;
                break;
            }
            lo = 0x80, hi = 0xBF;
        }
        if (bad) {
            out->append("\xEF\xBF\xBD");  // the maximal subpart [i, j); p[j] starts over
            i = j;
        } else {
            out->append(in.data() + i, j - i);
            i = j;
        }
    }
    return n;
}

int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

// Appends the raw bytes of one token (not yet UTF-8-sanitized).
void render_piece(const Vocab& v, int32_t id, bool unparse_special, bool strip_space, std::string* out) {
    const size_t start = out->size();
    const std::string& text = v.tokens[id];
    switch (v.types[id]) {
        case TOKEN_CONTROL:
        case TOKEN_UNKNOWN:
            if (unparse_special) out->append(text);
            break;
        case TOKEN_USER_DEFINED:
            out->append(text);
            break;
        case TOKEN_NORMAL:
            if (v.kind == VOCAB_BPE) {
                std::vector<uint32_t> cps;
                utf8_decode(text, &cps, nullptr);
                for (uint32_t cp : cps) {
                    uint8_t b;
                    if (bpe_unicode_to_byte(cp, &b)) {
                        out->push_back((char)b);
                    } else {
                        utf8_append(cp, out);  // not in the byte alphabet: keep the character
                    }
                }
            } else {
                for (size_t i = 0; i < text.size(); i++) {
                    if (text.compare(i, 3, "\xE2\x96\x81") == 0) {
                        out->push_back(' ');
                        i += 2;
                    } else {
                        out->push_back(text[i]);
                    }
                }
            }
            break;
        case TOKEN_BYTE:
            if (v.kind != VOCAB_BPE && text.size() == 6 && text.compare(0, 3, "<0x") == 0 && text[5] == '>' &&
                hex_digit(text[3]) >= 0 && hex_digit(text[4]) >= 0) {
                out->push_back((char)(hex_digit(text[3]) * 16 + hex_digit(text[4])));
            }
            break;
        default:
            break;  // UNDEFINED, UNUSED: nothing
    }
    if (strip_space && out->size() > start && (*out)[start] == ' ') out->erase(start, 1);
}

// Whether the tokenizer put a ' ' before the text that follows token `prev` (-1: start of text).
bool strips_after(const Vocab& v, int32_t prev) {
    if (!v.add_space_prefix) return false;
    return prev < 0 || v.types[prev] == TOKEN_CONTROL || v.types[prev] == TOKEN_USER_DEFINED;
}

Status bad_id(int32_t id, size_t n) {
    return status_error("INVALID_ARGUMENT",
                        "token id " + std::to_string(id) + " is out of range (vocabulary of " + std::to_string(n) + ")");
}

}  // namespace

Status tokenize(const Vocab& vocab, std::string_view text, const TokenizeOptions& opts, std::vector<int32_t>* out) {
    if (vocab.size() == 0) return status_error("TOKENIZER_MISSING", "the vocabulary is empty");
    if (text.size() >= TOKENIZE_MAX_BYTES) {
        return status_error("INVALID_ARGUMENT", "text of " + std::to_string(text.size()) +
                                                    " bytes is too long to tokenize (limit 2 GiB)");
    }
    std::vector<Fragment> frags;
    partition(vocab, text, opts.parse_special, &frags);

    int32_t first = vocab.bos, last = vocab.eos;
    if (vocab.kind == VOCAB_WPM) {
        first = vocab.cls >= 0 ? vocab.cls : vocab.bos;
        last = vocab.sep >= 0 ? vocab.sep : vocab.eos;
    }
    if (opts.add_special && vocab.add_bos && first >= 0) out->push_back(first);

    std::string scratch;
    bool prev_special = true;  // SPM: the first raw fragment gets the space prefix too
    for (const Fragment& f : frags) {
        if (f.id >= 0) {
            out->push_back(f.id);
            prev_special = true;
            continue;
        }
        std::string_view raw = text.substr(f.off, f.len);
        switch (vocab.kind) {
            case VOCAB_SPM: spm_fragment(vocab, raw, vocab.add_space_prefix && prev_special, &scratch, out); break;
            case VOCAB_BPE: bpe_tokenize(vocab, raw, out); break;
            case VOCAB_WPM: wpm_tokenize(vocab, raw, out); break;
        }
        prev_special = false;
    }

    if (opts.add_special && vocab.add_eos && last >= 0) out->push_back(last);
    return status_ok();
}

Status detokenize(const Vocab& vocab, const int32_t* ids, size_t n, const DetokenizeOptions& opts, std::string* out) {
    for (size_t i = 0; i < n; i++) {
        if (ids[i] < 0 || (size_t)ids[i] >= vocab.size()) return bad_id(ids[i], vocab.size());
    }
    size_t start = 0, end = n;
    if (opts.remove_special && vocab.add_bos && end > start && ids[start] == vocab.bos) start++;
    if (opts.remove_special && vocab.add_eos && end > start && ids[end - 1] == vocab.eos) end--;
    std::string raw;
    int32_t prev = -1;
    for (size_t i = start; i < end; i++) {
        render_piece(vocab, ids[i], opts.unparse_special, strips_after(vocab, prev), &raw);
        prev = ids[i];
    }
    utf8_sanitize(raw, true, out);
    return status_ok();
}

Status token_to_piece(const Vocab& vocab, int32_t id, bool unparse_special, std::string* out) {
    if (id < 0 || (size_t)id >= vocab.size()) return bad_id(id, vocab.size());
    std::string raw;
    render_piece(vocab, id, unparse_special, false, &raw);
    utf8_sanitize(raw, true, out);
    return status_ok();
}

StreamDecoder::StreamDecoder(const Vocab* vocab, const DetokenizeOptions& opts) : vocab_(vocab), opts_(opts) {}

Status StreamDecoder::push(int32_t id, std::string* text_out) {
    const Vocab& v = *vocab_;
    if (id < 0 || (size_t)id >= v.size()) return bad_id(id, v.size());
    const bool first = n_pushed_++ == 0;
    if (first && opts_.remove_special && v.add_bos && id == v.bos) return status_ok();  // dropped, prev stays -1
    if (held_eos_) {  // it was not the last token after all
        render_piece(v, v.eos, opts_.unparse_special, held_strip_, &pending_);
        held_eos_ = false;
    }
    const bool strip = strips_after(v, prev_id_);
    prev_id_ = id;
    if (opts_.remove_special && v.add_eos && id == v.eos) {
        held_eos_ = true;
        held_strip_ = strip;
    } else {
        render_piece(v, id, opts_.unparse_special, strip, &pending_);
    }
    size_t used = utf8_sanitize(pending_, false, text_out);
    pending_.erase(0, used);
    return status_ok();
}

void StreamDecoder::finish(std::string* text_out) {
    utf8_sanitize(pending_, true, text_out);  // a held EOS is the last token: dropped
    pending_.clear();
    n_pushed_ = 0;
    prev_id_ = -1;
    held_eos_ = false;
    held_strip_ = false;
}

}  // namespace rl
