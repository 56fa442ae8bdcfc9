// Unicode facts the tokenizers need: UTF-8 coding, general categories for all of Unicode,
// whitespace, simple lowercase and canonical decomposition (NFD). Tables are generated from the
// Unicode Character Database by scripts/gen-unicode-data.py into unicode_data.cpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace rl {

constexpr uint32_t UNICODE_REPLACEMENT = 0xFFFD;

// General category, one value per codepoint (unassigned = CN).
enum UnicodeCategory : uint8_t {
    UC_LU, UC_LL, UC_LT, UC_LM, UC_LO,         // letters (\p{L})
    UC_MN, UC_MC, UC_ME,                       // marks (\p{M})
    UC_ND, UC_NL, UC_NO,                       // numbers (\p{N})
    UC_PC, UC_PD, UC_PS, UC_PE, UC_PI, UC_PF, UC_PO,  // punctuation (\p{P})
    UC_SM, UC_SC, UC_SK, UC_SO,                // symbols (\p{S})
    UC_ZS, UC_ZL, UC_ZP,                       // separators (\p{Z})
    UC_CC, UC_CF, UC_CS, UC_CO, UC_CN,         // other (\p{C})
};

UnicodeCategory unicode_category(uint32_t cp);
inline bool unicode_is_letter(uint32_t cp) { return unicode_category(cp) <= UC_LO; }
inline bool unicode_is_mark(uint32_t cp) { auto c = unicode_category(cp); return c >= UC_MN && c <= UC_ME; }
inline bool unicode_is_number(uint32_t cp) { auto c = unicode_category(cp); return c >= UC_ND && c <= UC_NO; }
inline bool unicode_is_punct(uint32_t cp) { auto c = unicode_category(cp); return c >= UC_PC && c <= UC_PO; }
inline bool unicode_is_symbol(uint32_t cp) { auto c = unicode_category(cp); return c >= UC_SM && c <= UC_SO; }

// \s as the reference regex engines define it: White_Space property (includes \t \n \v \f \r,
// U+0085, U+00A0, U+1680, U+2000-200A, U+2028, U+2029, U+202F, U+205F, U+3000).
bool unicode_is_whitespace(uint32_t cp);

// Simple (1:1) lowercase mapping; cp itself when none.
uint32_t unicode_tolower(uint32_t cp);

// Canonical decomposition (NFD) of one codepoint appended to out (cp itself when none),
// followed by canonical ordering when applied to a sequence with unicode_nfd.
void unicode_nfd(const std::vector<uint32_t>& in, std::vector<uint32_t>* out);

// Decodes UTF-8. Each byte that does not start a valid, shortest-form sequence decodes to
// U+FFFD on its own (so decoding never fails and never skips input); byte_offsets (optional)
// receives the byte offset of each codepoint.
void utf8_decode(std::string_view s, std::vector<uint32_t>* cps, std::vector<uint32_t>* byte_offsets);

// Byte length of the UTF-8 sequence starting with byte c (1 for invalid lead bytes).
int utf8_seq_len(uint8_t c);

void utf8_append(uint32_t cp, std::string* out);

// Simple case folding (CaseFolding.txt statuses C and S); cp itself when none. What (?i:...) compares.
uint32_t unicode_casefold(uint32_t cp);

// Appends every codepoint whose simple case folding equals that of cp (cp included).
void unicode_casefold_equivalents(uint32_t cp, std::vector<uint32_t>* out);

// Canonical combining class (0 for starters and unassigned codepoints).
uint8_t unicode_ccc(uint32_t cp);

// Version of the Unicode Character Database the tables were generated from, e.g. "15.0.0".
const char* unicode_version();

// Generated tables (unicode_data.cpp); use the functions above instead.
namespace ucd {
struct CategoryRange { uint32_t first, last; uint8_t cat; };
struct Range { uint32_t first, last; };
struct Pair { uint32_t cp, value; };
struct CccRange { uint32_t first, last; uint8_t ccc; };
struct Decomp { uint32_t cp; uint16_t offset; uint8_t len; };
extern const char* const kVersion;
extern const uint8_t kLatin1Category[256];
extern const CategoryRange kCategoryRanges[];
extern const size_t kCategoryRangeCount;
extern const Range kWhitespace[];
extern const size_t kWhitespaceCount;
extern const Pair kLower[];
extern const size_t kLowerCount;
extern const Pair kCaseFold[];
extern const size_t kCaseFoldCount;
extern const CccRange kCcc[];
extern const size_t kCccCount;
extern const Decomp kDecomp[];
extern const size_t kDecompCount;
extern const uint32_t kDecompPool[];
}  // namespace ucd

}  // namespace rl
