// Unicode lookups over the generated tables in unicode_data.cpp, UTF-8 coding and NFD.
#include "unicode.h"

#include <algorithm>

namespace rl {

namespace {

// Index of the range containing cp in a sorted table of {first, last, ...}, or -1.
template <typename T>
long range_find(const T* table, size_t n, uint32_t cp) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (table[mid].last < cp) {
            lo = mid + 1;
        } else if (table[mid].first > cp) {
            hi = mid;
        } else {
            return (long)mid;
        }
    }
    return -1;
}

uint32_t pair_find(const ucd::Pair* table, size_t n, uint32_t cp) {
    const ucd::Pair* end = table + n;
    const ucd::Pair* it = std::lower_bound(table, end, cp, [](const ucd::Pair& p, uint32_t c) { return p.cp < c; });
    return (it != end && it->cp == cp) ? it->value : cp;
}

// Hangul syllable composition constants (Unicode ch. 3.12).
constexpr uint32_t kHangulSBase = 0xAC00, kHangulLBase = 0x1100, kHangulVBase = 0x1161, kHangulTBase = 0x11A7;
constexpr uint32_t kHangulTCount = 28, kHangulNCount = 21 * 28, kHangulSCount = 19 * 21 * 28;

}  // namespace

UnicodeCategory unicode_category(uint32_t cp) {
    if (cp < 256) return (UnicodeCategory)ucd::kLatin1Category[cp];
    long i = range_find(ucd::kCategoryRanges, ucd::kCategoryRangeCount, cp);
    return i < 0 ? UC_CN : (UnicodeCategory)ucd::kCategoryRanges[i].cat;
}

bool unicode_is_whitespace(uint32_t cp) {
    if (cp < 128) return cp == ' ' || (cp >= 0x09 && cp <= 0x0D);
    return range_find(ucd::kWhitespace, ucd::kWhitespaceCount, cp) >= 0;
}

uint32_t unicode_tolower(uint32_t cp) {
    if (cp < 128) return (cp >= 'A' && cp <= 'Z') ? cp + 32 : cp;
    return pair_find(ucd::kLower, ucd::kLowerCount, cp);
}

uint32_t unicode_casefold(uint32_t cp) {
    return pair_find(ucd::kCaseFold, ucd::kCaseFoldCount, cp);
}

void unicode_casefold_equivalents(uint32_t cp, std::vector<uint32_t>* out) {
    uint32_t f = unicode_casefold(cp);
    out->push_back(cp);
    if (f != cp) out->push_back(f);
    for (size_t i = 0; i < ucd::kCaseFoldCount; i++) {
        uint32_t c = ucd::kCaseFold[i].cp;
        if (ucd::kCaseFold[i].value == f && c != cp) out->push_back(c);
    }
}

uint8_t unicode_ccc(uint32_t cp) {
    if (cp < 0x300) return 0;
    long i = range_find(ucd::kCcc, ucd::kCccCount, cp);
    return i < 0 ? 0 : ucd::kCcc[i].ccc;
}

const char* unicode_version() {
    return ucd::kVersion;
}

void unicode_nfd(const std::vector<uint32_t>& in, std::vector<uint32_t>* out) {
    size_t start = out->size();
    for (uint32_t cp : in) {
        if (cp >= kHangulSBase && cp < kHangulSBase + kHangulSCount) {
            uint32_t s = cp - kHangulSBase;
            out->push_back(kHangulLBase + s / kHangulNCount);
            out->push_back(kHangulVBase + (s % kHangulNCount) / kHangulTCount);
            if (s % kHangulTCount) out->push_back(kHangulTBase + s % kHangulTCount);
            continue;
        }
        const ucd::Decomp* end = ucd::kDecomp + ucd::kDecompCount;
        const ucd::Decomp* it =
            std::lower_bound(ucd::kDecomp, end, cp, [](const ucd::Decomp& d, uint32_t c) { return d.cp < c; });
        if (it != end && it->cp == cp) {
            out->insert(out->end(), ucd::kDecompPool + it->offset, ucd::kDecompPool + it->offset + it->len);
        } else {
            out->push_back(cp);
        }
    }
    // Canonical ordering: stable sort of each run of non-starters by combining class.
    std::vector<uint32_t>& v = *out;
    size_t i = start;
    while (i < v.size()) {
        if (unicode_ccc(v[i]) == 0) {
            i++;
            continue;
        }
        size_t j = i;
        while (j < v.size() && unicode_ccc(v[j]) != 0) j++;
        std::stable_sort(v.begin() + i, v.begin() + j,
                         [](uint32_t a, uint32_t b) { return unicode_ccc(a) < unicode_ccc(b); });
        i = j;
    }
}

int utf8_seq_len(uint8_t c) {
    if (c < 0x80) return 1;
    if ((c & 0xE0) == 0xC0) return c >= 0xC2 ? 2 : 1;
    if ((c & 0xF0) == 0xE0) return 3;
    if ((c & 0xF8) == 0xF0) return c <= 0xF4 ? 4 : 1;
    return 1;
}

void utf8_decode(std::string_view s, std::vector<uint32_t>* cps, std::vector<uint32_t>* byte_offsets) {
    const uint8_t* p = (const uint8_t*)s.data();
    size_t n = s.size();
    cps->reserve(cps->size() + n);
    if (byte_offsets) byte_offsets->reserve(byte_offsets->size() + n);
    size_t i = 0;
    while (i < n) {
        uint8_t c = p[i];
        uint32_t cp = UNICODE_REPLACEMENT;
        size_t len = 1;
        if (c < 0x80) {
            cp = c;
        } else {
            int want = utf8_seq_len(c);
            if (want > 1 && n - i >= (size_t)want) {
                uint32_t v = want == 2 ? (c & 0x1F) : want == 3 ? (c & 0x0F) : (c & 0x07);
                bool ok = true;
                for (int k = 1; k < want && ok; k++) {
                    uint8_t cc = p[i + k];
                    ok = (cc & 0xC0) == 0x80;
                    v = (v << 6) | (cc & 0x3F);
                }
                static const uint32_t kMin[5] = {0, 0, 0x80, 0x800, 0x10000};
                if (ok && v >= kMin[want] && v <= 0x10FFFF && !(v >= 0xD800 && v <= 0xDFFF)) {
                    cp = v;
                    len = (size_t)want;
                }
            }
        }
        cps->push_back(cp);
        if (byte_offsets) byte_offsets->push_back((uint32_t)i);
        i += len;
    }
}

void utf8_append(uint32_t cp, std::string* out) {
    if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) cp = UNICODE_REPLACEMENT;
    if (cp < 0x80) {
        out->push_back((char)cp);
    } else if (cp < 0x800) {
        out->push_back((char)(0xC0 | (cp >> 6)));
        out->push_back((char)(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
        out->push_back((char)(0xE0 | (cp >> 12)));
        out->push_back((char)(0x80 | ((cp >> 6) & 0x3F)));
        out->push_back((char)(0x80 | (cp & 0x3F)));
    } else {
        out->push_back((char)(0xF0 | (cp >> 18)));
        out->push_back((char)(0x80 | ((cp >> 12) & 0x3F)));
        out->push_back((char)(0x80 | ((cp >> 6) & 0x3F)));
        out->push_back((char)(0x80 | (cp & 0x3F)));
    }
}

}  // namespace rl
