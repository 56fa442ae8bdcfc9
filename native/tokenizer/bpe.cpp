// Byte-level BPE: byte mapping, per-piece merging with a rank-ordered heap, and a per-call piece cache.
#include "bpe.h"

#include <algorithm>
#include <unordered_map>
#include <utility>

#include "pretokenizer.h"
#include "unicode.h"

namespace rl {

namespace {

bool byte_self_mapped(uint8_t b) {
    return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
}

struct ByteMap {
    uint32_t cp[256];
    char utf8[256][2];
    uint8_t len[256];
    uint8_t shifted_byte[68];  // byte of U+0100 + n
};

const ByteMap& byte_map() {
    static const ByteMap m = [] {
        ByteMap bm{};
        uint32_t n = 0;
        for (int b = 0; b < 256; b++) {
            if (byte_self_mapped((uint8_t)b)) {
                bm.cp[b] = (uint32_t)b;
            } else {
                bm.shifted_byte[n] = (uint8_t)b;
                bm.cp[b] = 0x100 + n++;
            }
            std::string s;
            utf8_append(bm.cp[b], &s);
            bm.len[b] = (uint8_t)s.size();
            for (size_t k = 0; k < s.size(); k++) bm.utf8[b][k] = s[k];
        }
        return bm;
    }();
    return m;
}

struct Symbol {
    uint32_t start, len;  // bytes of the mapped word; len 0 once merged into its left neighbour
    int32_t prev, next;
};

struct Candidate {
    int32_t rank;
    int32_t left, right;
    uint32_t left_len, right_len;  // lengths when queued: a stale candidate no longer matches them
};

// Heap order: lowest rank first, then leftmost.
struct CandidateAfter {
    bool operator()(const Candidate& a, const Candidate& b) const {
        return a.rank != b.rank ? a.rank > b.rank : a.left > b.left;
    }
};

struct BpeWork {
    std::string word;  // the piece, byte-mapped
    std::string key;
    std::vector<Symbol> syms;
    std::vector<Candidate> heap;
};

void push_candidate(const Vocab& vocab, BpeWork* w, int32_t left, int32_t right) {
    const Symbol& a = w->syms[left];
    const Symbol& b = w->syms[right];
    w->key.assign(w->word, a.start, a.len);
    w->key.push_back(' ');
    w->key.append(w->word, b.start, b.len);
    auto it = vocab.merge_ranks.find(w->key);
    if (it == vocab.merge_ranks.end()) return;
    w->heap.push_back(Candidate{it->second, left, right, a.len, b.len});
    std::push_heap(w->heap.begin(), w->heap.end(), CandidateAfter());
}

void emit_symbol(const Vocab& vocab, BpeWork* w, const Symbol& s, std::vector<int32_t>* out) {
    w->key.assign(w->word, s.start, s.len);
    auto it = vocab.token_to_id.find(w->key);
    if (it != vocab.token_to_id.end()) {
        out->push_back(it->second);
        return;
    }
    // Not a token: fall back to its characters, skipping those without a token.
    uint32_t i = s.start, end = s.start + s.len;
    while (i < end) {
        uint32_t len = (uint32_t)utf8_seq_len((uint8_t)w->word[i]);
        if (len > end - i) len = end - i;
        w->key.assign(w->word, i, len);
        auto c = vocab.token_to_id.find(w->key);
        if (c != vocab.token_to_id.end()) out->push_back(c->second);
        i += len;
    }
}

void bpe_piece(const Vocab& vocab, std::string_view piece, BpeWork* w, std::vector<int32_t>* out) {
    const ByteMap& bm = byte_map();
    w->word.clear();
    w->syms.clear();
    w->heap.clear();
    for (size_t i = 0; i < piece.size(); i++) {
        uint8_t b = (uint8_t)piece[i];
        int32_t idx = (int32_t)i;
        w->syms.push_back(Symbol{(uint32_t)w->word.size(), bm.len[b], idx - 1, idx + 1});
        w->word.append(bm.utf8[b], bm.len[b]);
    }
    if (w->syms.empty()) return;
    w->syms.back().next = -1;

    if (vocab.ignore_merges) {
        auto it = vocab.token_to_id.find(w->word);
        if (it != vocab.token_to_id.end()) {
            out->push_back(it->second);
            return;
        }
    }

    for (int32_t i = 0; i + 1 < (int32_t)w->syms.size(); i++) push_candidate(vocab, w, i, i + 1);
    while (!w->heap.empty()) {
        std::pop_heap(w->heap.begin(), w->heap.end(), CandidateAfter());
        Candidate c = w->heap.back();
        w->heap.pop_back();
        Symbol& a = w->syms[c.left];
        Symbol& b = w->syms[c.right];
        if (a.len != c.left_len || a.next != c.right || b.len != c.right_len) continue;  // stale
        a.len += b.len;
        b.len = 0;
        a.next = b.next;
        if (b.next >= 0) w->syms[b.next].prev = c.left;
        if (a.prev >= 0) push_candidate(vocab, w, a.prev, c.left);
        if (a.next >= 0) push_candidate(vocab, w, c.left, a.next);
    }
    for (int32_t i = 0; i >= 0; i = w->syms[i].next) emit_symbol(vocab, w, w->syms[i], out);
}

}  // namespace

void bpe_byte_to_unicode(uint8_t b, std::string* out_utf8) {
    const ByteMap& bm = byte_map();
    out_utf8->append(bm.utf8[b], bm.len[b]);
}

bool bpe_unicode_to_byte(uint32_t cp, uint8_t* out) {
    if (cp < 256 && byte_self_mapped((uint8_t)cp)) {
        *out = (uint8_t)cp;
        return true;
    }
    if (cp >= 0x100 && cp < 0x100 + 68) {
        *out = byte_map().shifted_byte[cp - 0x100];
        return true;
    }
    return false;
}

void bpe_tokenize(const Vocab& vocab, std::string_view text, std::vector<int32_t>* out) {
    std::vector<std::string_view> pieces;
    pretokenize(vocab.pre_type, text, &pieces);
    BpeWork w;
    // Repeated pieces (common words) are merged once per call.
    constexpr size_t kMaxCachedPiece = 64;
    std::unordered_map<std::string_view, std::pair<uint32_t, uint32_t>> cache;
    std::vector<int32_t> cached;
    for (std::string_view piece : pieces) {
        if (piece.size() > kMaxCachedPiece) {
            bpe_piece(vocab, piece, &w, out);
            continue;
        }
        auto it = cache.find(piece);
        if (it == cache.end()) {
            uint32_t start = (uint32_t)cached.size();
            bpe_piece(vocab, piece, &w, &cached);
            it = cache.emplace(piece, std::make_pair(start, (uint32_t)cached.size() - start)).first;
        }
        out->insert(out->end(), cached.begin() + it->second.first,
                    cached.begin() + it->second.first + it->second.second);
    }
}

}  // namespace rl
