// A small backtracking regex engine over codepoints with leftmost-first (Perl/Oniguruma) semantics,
// covering what the byte-level BPE pre-tokenizer patterns use:
//   literals (UTF-8), escapes \r \n \t \f \v \s \S \d \D \w \W and escaped punctuation, `.` (not \n),
//   classes [...] with ranges, negation and \p{..}/\P{..}/\s/\d inside, \p{L N P M S Z C Lu Ll Lt Lm Lo
//   ...} and \P{..}, alternation, groups (...) (?:...) (?i:...), greedy ? * + {n} {n,m} {n,}, lookahead
//   (?=...) (?!...), anchors ^ $ (Ruby/Oniguruma: also at line boundaries).
// Groups do not capture. Greedy loops over single-character items run iteratively and backtrack
// through one stack entry, so long runs neither recurse nor go quadratic.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../util/status.h"

namespace rl {

// A set of codepoints: one character class, literal or escape.
struct RegexCharSet {
    std::vector<std::pair<uint32_t, uint32_t>> ranges;  // inclusive
    uint32_t cat_mask = 0;                              // bit per UnicodeCategory included
    std::vector<uint32_t> neg_cat_masks;                // \P{..}, \D, \W: codepoints whose category is NOT in a mask
    bool space = false, not_space = false;
    bool negate = false;
    uint64_t ascii[2] = {0, 0};  // precomputed membership of U+0000..U+007F (after negation)

    bool contains_slow(uint32_t cp) const;
    bool contains(uint32_t cp) const {
        if (cp < 128) return (ascii[cp >> 6] >> (cp & 63)) & 1;
        return contains_slow(cp);
    }
    void finalize();
};

class Regex {
   public:
    // Compiles `pattern` (UTF-8). Unsupported or malformed syntax -> REGEX_INVALID naming the offset.
    Status compile(std::string_view pattern);

    // Appends the [start, end) codepoint spans of successive non-overlapping leftmost-first matches
    // in cps[0..n). An empty match advances the search by one codepoint and is not reported.
    void find_all(const uint32_t* cps, size_t n, std::vector<std::pair<uint32_t, uint32_t>>* spans) const;

    // Tries to match at exactly `pos`; on success sets *end and returns true.
    bool match_at(const uint32_t* cps, size_t n, size_t pos, size_t* end) const;

    const std::string& pattern() const { return pattern_; }

    enum Op : uint8_t { OP_SET, OP_REPEAT, OP_SPLIT, OP_JMP, OP_BOL, OP_EOL, OP_LOOK, OP_LOOK_END, OP_MATCH };
    struct Inst {
        Op op;
        bool negate = false;        // OP_LOOK: negative lookahead
        uint32_t set = 0;           // OP_SET, OP_REPEAT: index into sets_
        uint32_t min = 0, max = 0;  // OP_REPEAT bounds (max UINT32_MAX = unbounded)
        uint32_t x = 0, y = 0;      // OP_SPLIT: preferred x, then y; OP_JMP, OP_LOOK: x = target
    };

   private:
    struct Frame {
        uint32_t pc;
        uint32_t pos;
        uint32_t count;  // OP_REPEAT backtrack: characters still consumed; UINT32_MAX for a SPLIT frame
        uint32_t min;
    };
    long run(const uint32_t* cps, size_t n, uint32_t pc, size_t pos, std::vector<Frame>* stack) const;

    friend struct RegexCompiler;
    std::string pattern_;
    std::vector<Inst> prog_;
    std::vector<RegexCharSet> sets_;
};

}  // namespace rl
