// SentencePiece BPE: best-score pair merging with a priority queue, then byte fallback.
#include "spm.h"

#include <cstring>
#include <queue>
#include <string>

namespace rl {

namespace {

struct SpmSymbol {
    int32_t prev, next;  // neighbours in the linked list (-1 at the ends)
    uint32_t off, len;   // bytes of text; len 0 once merged into its left neighbour
};

struct SpmPair {
    float score;
    int32_t left, right;  // symbol indices
    uint32_t len;         // left.len + right.len when queued (stale entries no longer match)
};

// Higher score first; equal scores: leftmost first.
struct SpmPairOrder {
    bool operator()(const SpmPair& a, const SpmPair& b) const {
        return a.score < b.score || (a.score == b.score && a.left > b.left);
    }
};

// Byte length of a character from its lead byte; continuation and invalid bytes count one.
uint32_t spm_char_len(uint8_t c) {
    static const uint8_t k_len[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    return k_len[c >> 4];
}

uint64_t spm_hash(const char* p, size_t n) {
    uint64_t h = 0x9E3779B97F4A7C15ull ^ n;
    for (; n >= 8; p += 8, n -= 8) {
        uint64_t w;
        std::memcpy(&w, p, 8);
        h = (h ^ w) * 0xFF51AFD7ED558CCDull;
        h ^= h >> 32;
    }
    uint64_t w = 0;
    std::memcpy(&w, p, n);
    h = (h ^ w) * 0xC4CEB9FE1A85EC53ull;
    return h ^ (h >> 29);
}

// Open-addressing text -> id table for long inputs: several times faster than the vocabulary's map,
// whose node lookups dominate otherwise. Slot: hash tag (high 32 bits) | id + 1; 0 is empty.
struct SpmIndex {
    std::vector<uint64_t> slots;
    uint64_t mask = 0;

    void build(const Vocab& vocab) {
        size_t cap = 1024;
        while (cap < vocab.size() * 2) cap *= 2;
        slots.assign(cap, 0);
        mask = cap - 1;
        for (size_t id = 0; id < vocab.size(); id++) {
            const std::string& t = vocab.tokens[id];
            auto it = vocab.token_to_id.find(t);
            if (it == vocab.token_to_id.end() || it->second != (int32_t)id) continue;  // duplicate text
            uint64_t h = spm_hash(t.data(), t.size());
            size_t i = h & mask;
            while (slots[i] != 0) i = (i + 1) & mask;
            slots[i] = (h & 0xFFFFFFFF00000000ull) | (uint64_t)(id + 1);
        }
    }

    int32_t find(const Vocab& vocab, const char* p, size_t n) const {
        uint64_t h = spm_hash(p, n);
        for (size_t i = h & mask;; i = (i + 1) & mask) {
            uint64_t s = slots[i];
            if (s == 0) return -1;
            if ((s & 0xFFFFFFFF00000000ull) != (h & 0xFFFFFFFF00000000ull)) continue;
            int32_t id = (int32_t)(s & 0xFFFFFFFFu) - 1;
            const std::string& t = vocab.tokens[id];
            if (t.size() == n && std::memcmp(t.data(), p, n) == 0) return id;
        }
    }
};

struct SpmSession {
    const Vocab& vocab;
    std::string_view text;
    std::vector<SpmSymbol> symbols;
    std::priority_queue<SpmPair, std::vector<SpmPair>, SpmPairOrder> queue;
    std::string key;  // lookup scratch
    SpmIndex index;   // built for long inputs only

    int32_t lookup(uint32_t off, uint32_t len) {
        if (!index.slots.empty()) return index.find(vocab, text.data() + off, len);
        key.assign(text.data() + off, len);
        auto it = vocab.token_to_id.find(key);
        return it == vocab.token_to_id.end() ? -1 : it->second;
    }

    void try_pair(int32_t left, int32_t right) {
        if (left < 0 || right < 0) return;
        const SpmSymbol& l = symbols[left];
        const SpmSymbol& r = symbols[right];
        int32_t id = lookup(l.off, l.len + r.len);
        if (id < 0) return;
        queue.push(SpmPair{vocab.scores[id], left, right, l.len + r.len});
    }

    void emit_bytes(uint32_t off, uint32_t len, std::vector<int32_t>* out) {
        for (uint32_t i = 0; i < len; i++) {
            uint8_t b = (uint8_t)text[off + i];
            int32_t id = vocab.byte_tokens[b];
            if (id < 0) id = lookup(off + i, 1);
            if (id < 0) id = vocab.unk;
            if (id >= 0) out->push_back(id);
        }
    }
};

// Whether no token has U+2581 after something other than U+2581: then no merge can join a symbol to a
// following word-start U+2581, and the text can be cut there into independent runs (keeps the queue small).
bool spm_words_independent(const Vocab& vocab) {
    static const char k_sp[] = "\xE2\x96\x81";
    for (const std::string& t : vocab.tokens) {
        for (size_t k = t.find(k_sp, 1); k != std::string::npos; k = t.find(k_sp, k + 1)) {
            if (k < 3 || t.compare(k - 3, 3, k_sp) != 0) return false;
        }
    }
    return true;
}

void spm_run(SpmSession& s, uint32_t begin, uint32_t end, std::vector<int32_t>* out) {
    std::string_view text = s.text;
    s.symbols.clear();
    for (uint32_t off = begin; off < end;) {
        uint32_t len = spm_char_len((uint8_t)text[off]);
        if (len > end - off) len = end - off;
        int32_t idx = (int32_t)s.symbols.size();
        s.symbols.push_back(SpmSymbol{idx - 1, -1, off, len});
        if (idx > 0) s.symbols[idx - 1].next = idx;
        off += len;
    }
    for (int32_t i = 1; i < (int32_t)s.symbols.size(); i++) s.try_pair(i - 1, i);

    while (!s.queue.empty()) {
        SpmPair p = s.queue.top();
        s.queue.pop();
        SpmSymbol& l = s.symbols[p.left];
        SpmSymbol& r = s.symbols[p.right];
        if (l.len == 0 || r.len == 0 || l.len + r.len != p.len) continue;  // stale
        l.len += r.len;
        r.len = 0;
        l.next = r.next;
        if (r.next >= 0) s.symbols[r.next].prev = p.left;
        s.try_pair(l.prev, p.left);
        s.try_pair(p.left, l.next);
    }

    // Every merged symbol is a token by construction; only unmerged characters can miss the vocabulary.
    for (int32_t i = 0; i >= 0; i = s.symbols[i].next) {
        const SpmSymbol& sym = s.symbols[i];
        int32_t id = s.lookup(sym.off, sym.len);
        if (id >= 0) {
            out->push_back(id);
        } else {
            s.emit_bytes(sym.off, sym.len, out);
        }
    }
}

}  // namespace

void spm_tokenize(const Vocab& vocab, std::string_view text, std::vector<int32_t>* out) {
    if (text.empty()) return;
    SpmSession s{vocab, text, {}, {}, {}, {}};
    constexpr uint32_t SPM_RUN_MIN = 256;      // cut only long texts, into runs of at least this many bytes
    constexpr uint32_t SPM_INDEX_MIN = 16384;  // texts long enough to repay building the fast index
    const uint32_t n = (uint32_t)text.size();
    if (n >= SPM_INDEX_MIN && (uint64_t)n * 4 >= vocab.size()) s.index.build(vocab);
    if (n <= 4 * SPM_RUN_MIN || !spm_words_independent(vocab)) {
        spm_run(s, 0, n, out);
        return;
    }
    uint32_t begin = 0;
    for (uint32_t off = 0; off < n;) {
        uint32_t len = spm_char_len((uint8_t)text[off]);
        if (len > n - off) len = n - off;
        if (off - begin >= SPM_RUN_MIN && len == 3 && text.compare(off, 3, "\xE2\x96\x81") == 0 &&
            text.compare(off - 3, 3, "\xE2\x96\x81") != 0) {
            spm_run(s, begin, off, out);
            begin = off;
        }
        off += len;
    }
    spm_run(s, begin, n, out);
}

}  // namespace rl
