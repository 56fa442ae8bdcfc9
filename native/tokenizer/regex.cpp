// Regex parser (pattern -> syntax tree -> program) and backtracking matcher; see regex.h.
#include "regex.h"

#include <algorithm>
#include <climits>

#include "unicode.h"

namespace rl {

namespace {

constexpr uint32_t kInf = UINT32_MAX;
constexpr uint32_t kMaxCount = 1000;  // bound for {n,m} on groups (each count copies the group)

uint32_t cat_bit(UnicodeCategory c) {
    return 1u << c;
}
constexpr uint32_t kLetterMask = (1u << UC_LU) | (1u << UC_LL) | (1u << UC_LT) | (1u << UC_LM) | (1u << UC_LO);
constexpr uint32_t kMarkMask = (1u << UC_MN) | (1u << UC_MC) | (1u << UC_ME);
constexpr uint32_t kNumberMask = (1u << UC_ND) | (1u << UC_NL) | (1u << UC_NO);
constexpr uint32_t kPunctMask =
    (1u << UC_PC) | (1u << UC_PD) | (1u << UC_PS) | (1u << UC_PE) | (1u << UC_PI) | (1u << UC_PF) | (1u << UC_PO);
constexpr uint32_t kSymbolMask = (1u << UC_SM) | (1u << UC_SC) | (1u << UC_SK) | (1u << UC_SO);
constexpr uint32_t kSeparatorMask = (1u << UC_ZS) | (1u << UC_ZL) | (1u << UC_ZP);
constexpr uint32_t kOtherMask = (1u << UC_CC) | (1u << UC_CF) | (1u << UC_CS) | (1u << UC_CO) | (1u << UC_CN);
constexpr uint32_t kWordMask = kLetterMask | kMarkMask | (1u << UC_ND) | (1u << UC_PC);

// \p{name} -> category mask; 0 when unknown.
uint32_t category_mask(const std::string& name) {
    static const struct {
        const char* name;
        uint32_t mask;
    } kNames[] = {
        {"L", kLetterMask},    {"M", kMarkMask},    {"N", kNumberMask},  {"P", kPunctMask},   {"S", kSymbolMask},
        {"Z", kSeparatorMask}, {"C", kOtherMask},   {"Lu", 1u << UC_LU}, {"Ll", 1u << UC_LL}, {"Lt", 1u << UC_LT},
        {"Lm", 1u << UC_LM},   {"Lo", 1u << UC_LO}, {"Mn", 1u << UC_MN}, {"Mc", 1u << UC_MC}, {"Me", 1u << UC_ME},
        {"Nd", 1u << UC_ND},   {"Nl", 1u << UC_NL}, {"No", 1u << UC_NO}, {"Pc", 1u << UC_PC}, {"Pd", 1u << UC_PD},
        {"Ps", 1u << UC_PS},   {"Pe", 1u << UC_PE}, {"Pi", 1u << UC_PI}, {"Pf", 1u << UC_PF}, {"Po", 1u << UC_PO},
        {"Sm", 1u << UC_SM},   {"Sc", 1u << UC_SC}, {"Sk", 1u << UC_SK}, {"So", 1u << UC_SO}, {"Zs", 1u << UC_ZS},
        {"Zl", 1u << UC_ZL},   {"Zp", 1u << UC_ZP}, {"Cc", 1u << UC_CC}, {"Cf", 1u << UC_CF}, {"Cs", 1u << UC_CS},
        {"Co", 1u << UC_CO},   {"Cn", 1u << UC_CN},
    };
    for (const auto& e : kNames) {
        if (name == e.name) return e.mask;
    }
    return 0;
}

}  // namespace

bool RegexCharSet::contains_slow(uint32_t cp) const {
    bool in = false;
    if (!ranges.empty()) {
        auto it = std::upper_bound(ranges.begin(), ranges.end(), cp,
                                   [](uint32_t c, const std::pair<uint32_t, uint32_t>& r) { return c < r.first; });
        in = it != ranges.begin() && (it - 1)->second >= cp;
    }
    if (!in && (cat_mask || !neg_cat_masks.empty())) {
        uint32_t bit = cat_bit(unicode_category(cp));
        in = (cat_mask & bit) != 0;
        for (size_t i = 0; !in && i < neg_cat_masks.size(); i++) in = (neg_cat_masks[i] & bit) == 0;
    }
    if (!in && (space || not_space)) {
        bool ws = unicode_is_whitespace(cp);
        in = (space && ws) || (not_space && !ws);
    }
    return in != negate;
}

void RegexCharSet::finalize() {
    std::sort(ranges.begin(), ranges.end());
    std::vector<std::pair<uint32_t, uint32_t>> merged;
    for (const auto& r : ranges) {
        if (!merged.empty() && r.first <= merged.back().second + 1) {
            merged.back().second = std::max(merged.back().second, r.second);
        } else {
            merged.push_back(r);
        }
    }
    ranges.swap(merged);
    ascii[0] = ascii[1] = 0;
    for (uint32_t cp = 0; cp < 128; cp++) {
        if (contains_slow(cp)) ascii[cp >> 6] |= 1ull << (cp & 63);
    }
}

// Parses a pattern into a syntax tree, then emits the program.
struct RegexCompiler {
    enum Kind { N_EMPTY, N_SET, N_CAT, N_ALT, N_REP, N_LOOK, N_BOL, N_EOL };
    struct Node {
        explicit Node(Kind k) : kind(k) {}
        Kind kind;
        uint32_t set = 0;
        uint32_t min = 0, max = 0;
        bool negate = false;
        std::vector<int> kids;
    };

    Regex* re;
    std::vector<uint32_t> p;  // pattern codepoints
    size_t i = 0;
    bool icase = false;
    std::vector<Node> nodes;
    std::string error;

    bool at(uint32_t c) const { return i < p.size() && p[i] == c; }
    bool fail(const char* what) {
        if (error.empty()) error = std::string(what) + " at pattern offset " + std::to_string(i);
        return false;
    }
    int add(Node n) {
        nodes.push_back(std::move(n));
        return (int)nodes.size() - 1;
    }
    int add_set(RegexCharSet s) {
        s.finalize();
        re->sets_.push_back(std::move(s));
        Node n(N_SET);
        n.set = (uint32_t)re->sets_.size() - 1;
        return add(n);
    }

    void add_char(RegexCharSet* s, uint32_t c) const {
        if (icase) {
            std::vector<uint32_t> eq;
            unicode_casefold_equivalents(c, &eq);
            for (uint32_t e : eq) s->ranges.push_back({e, e});
        } else {
            s->ranges.push_back({c, c});
        }
    }
    void add_range(RegexCharSet* s, uint32_t a, uint32_t b) const {
        s->ranges.push_back({a, b});
        if (icase && b - a < 1024) {
            for (uint32_t c = a; c <= b; c++) add_char(s, c);
        }
    }

    bool parse_hex(size_t ndigits, uint32_t* out) {
        uint32_t v = 0;
        bool braces = at('{');
        if (braces) i++;
        size_t k = 0;
        for (; i < p.size() && (braces || k < ndigits); k++, i++) {
            uint32_t c = p[i];
            int d = (c >= '0' && c <= '9')   ? (int)(c - '0')
                    : (c >= 'a' && c <= 'f') ? (int)(c - 'a' + 10)
                    : (c >= 'A' && c <= 'F') ? (int)(c - 'A' + 10)
                                             : -1;
            if (d < 0) break;
            v = v * 16 + (uint32_t)d;
            if (v > 0x10FFFF) return fail("escape beyond U+10FFFF");
        }
        if (k == 0 || (!braces && k != ndigits)) return fail("bad hex escape");
        if (braces) {
            if (!at('}')) return fail("missing } in hex escape");
            i++;
        }
        *out = v;
        return true;
    }

    // Parses the escape after '\' into set s (a class item) or a single char (*single, when it is one).
    bool parse_escape(RegexCharSet* s, bool* is_char, uint32_t* ch) {
        *is_char = false;
        if (i >= p.size()) return fail("trailing backslash");
        uint32_t c = p[i++];
        switch (c) {
            case 'r':
                *is_char = true;
                *ch = '\r';
                return true;
            case 'n':
                *is_char = true;
                *ch = '\n';
                return true;
            case 't':
                *is_char = true;
                *ch = '\t';
                return true;
            case 'f':
                *is_char = true;
                *ch = '\f';
                return true;
            case 'v':
                *is_char = true;
                *ch = '\v';
                return true;
            case 'a':
                *is_char = true;
                *ch = 7;
                return true;
            case 'e':
                *is_char = true;
                *ch = 27;
                return true;
            case '0':
                *is_char = true;
                *ch = 0;
                return true;
            case 'x': *is_char = true; return parse_hex(2, ch);
            case 'u': *is_char = true; return parse_hex(4, ch);
            case 's': s->space = true; return true;
            case 'S': s->not_space = true; return true;
            case 'd': s->cat_mask |= 1u << UC_ND; return true;
            case 'D': s->neg_cat_masks.push_back(1u << UC_ND); return true;
            case 'w': s->cat_mask |= kWordMask; return true;
            case 'W': s->neg_cat_masks.push_back(kWordMask); return true;
            case 'p':
            case 'P': {
                std::string name;
                if (at('{')) {
                    i++;
                    while (i < p.size() && p[i] != '}' && p[i] < 128) name.push_back((char)p[i++]);
                    if (!at('}')) return fail("unterminated \\p{");
                    i++;
                } else if (i < p.size() && p[i] < 128) {
                    name.push_back((char)p[i++]);
                }
                bool neg = c == 'P';
                if (!name.empty() && name[0] == '^') {
                    neg = !neg;
                    name.erase(0, 1);
                }
                uint32_t mask = category_mask(name);
                if (!mask) return fail("unsupported property \\p{...}");
                if (neg) {
                    s->neg_cat_masks.push_back(mask);
                } else {
                    s->cat_mask |= mask;
                }
                return true;
            }
            default:
                if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '1' && c <= '9')) {
                    return fail("unsupported escape");
                }
                *is_char = true;
                *ch = c;
                return true;
        }
    }

    // After '['; parses through the closing ']' into s.
    bool parse_class(RegexCharSet* s) {
        if (at('^')) {
            s->negate = true;
            i++;
        }
        bool first = true;
        while (true) {
            if (i >= p.size()) return fail("unterminated character class");
            uint32_t c = p[i];
            if (c == ']' && !first) {
                i++;
                return true;
            }
            first = false;
            if (c == '[') {
                i++;
                RegexCharSet inner;
                if (!parse_class(&inner)) return false;
                if (inner.negate) return fail("negated nested class unsupported");
                s->ranges.insert(s->ranges.end(), inner.ranges.begin(), inner.ranges.end());
                s->cat_mask |= inner.cat_mask;
                s->neg_cat_masks.insert(s->neg_cat_masks.end(), inner.neg_cat_masks.begin(), inner.neg_cat_masks.end());
                s->space |= inner.space;
                s->not_space |= inner.not_space;
                continue;
            }
            if (c == '&' && i + 1 < p.size() && p[i + 1] == '&') return fail("class intersection unsupported");
            uint32_t lo;
            i++;
            if (c == '\\') {
                bool is_char;
                if (!parse_escape(s, &is_char, &lo)) return false;
                if (!is_char) continue;
            } else {
                lo = c;
            }
            // A range lo-hi (a '-' before ']' is a literal).
            if (at('-') && i + 1 < p.size() && p[i + 1] != ']') {
                i++;
                uint32_t hi = p[i++];
                if (hi == '\\') {
                    bool is_char;
                    RegexCharSet dummy;
                    if (!parse_escape(&dummy, &is_char, &hi)) return false;
                    if (!is_char) return fail("class escape as range end");
                } else if (hi == '[') {
                    return fail("'[' as range end");
                }
                if (hi < lo) return fail("range out of order");
                add_range(s, lo, hi);
            } else {
                add_char(s, lo);
            }
        }
    }

    int parse_atom() {
        uint32_t c = p[i];
        if (c == '(') {
            i++;
            bool saved_icase = icase;
            int look = -1;  // -1: group, 0: (?=, 1: (?!
            if (at('?')) {
                i++;
                if (at(':')) {
                    i++;
                } else if (at('=') || at('!')) {
                    look = at('!') ? 1 : 0;
                    i++;
                } else if (at('i') && i + 1 < p.size() && p[i + 1] == ':') {
                    icase = true;
                    i += 2;
                } else {
                    fail("unsupported group syntax");
                    return -1;
                }
            }
            int inner = parse_alt();
            icase = saved_icase;
            if (inner < 0) return -1;
            if (!at(')')) {
                fail("missing )");
                return -1;
            }
            i++;
            if (look < 0) return inner;
            Node n(N_LOOK);
            n.negate = look == 1;
            n.kids.push_back(inner);
            return add(n);
        }
        if (c == '^' || c == '$') {
            i++;
            return add(Node(c == '^' ? N_BOL : N_EOL));
        }
        if (c == '*' || c == '+' || c == '?') {
            fail("quantifier without operand");
            return -1;
        }
        RegexCharSet s;
        i++;
        if (c == '[') {
            if (!parse_class(&s)) return -1;
        } else if (c == '.') {
            s.ranges.push_back({0, '\n' - 1});
            s.ranges.push_back({'\n' + 1, 0x10FFFF});
        } else if (c == '\\') {
            bool is_char;
            uint32_t ch = 0;
            if (!parse_escape(&s, &is_char, &ch)) return -1;
            if (is_char) add_char(&s, ch);
        } else {
            add_char(&s, c);
        }
        return add_set(std::move(s));
    }

    // Reads {n}, {n,}, {n,m} at i (on '{'); false (i unchanged) when it is not a valid interval.
    bool parse_interval(uint32_t* mn, uint32_t* mx) {
        size_t j = i + 1;
        auto number = [&](uint32_t* v) {
            size_t start = j;
            uint64_t x = 0;
            while (j < p.size() && p[j] >= '0' && p[j] <= '9' && x < 100000) x = x * 10 + (p[j++] - '0');
            *v = (uint32_t)x;
            return j > start;
        };
        if (!number(mn)) return false;
        *mx = *mn;
        if (j < p.size() && p[j] == ',') {
            j++;
            if (!number(mx)) *mx = kInf;
        }
        if (j >= p.size() || p[j] != '}') return false;
        i = j + 1;
        return true;
    }

    int parse_repeat() {
        int atom = parse_atom();
        if (atom < 0) return -1;
        while (i < p.size()) {
            uint32_t mn, mx;
            uint32_t c = p[i];
            if (c == '?') {
                mn = 0, mx = 1, i++;
            } else if (c == '*') {
                mn = 0, mx = kInf, i++;
            } else if (c == '+') {
                mn = 1, mx = kInf, i++;
            } else if (c == '{' && parse_interval(&mn, &mx)) {
                if (mx < mn) {
                    fail("bad interval");
                    return -1;
                }
            } else {
                break;
            }
            if (at('?') || at('+')) {
                fail("lazy and possessive quantifiers unsupported");
                return -1;
            }
            Node n(N_REP);
            n.min = mn;
            n.max = mx;
            n.kids.push_back(atom);
            atom = add(n);
        }
        return atom;
    }

    int parse_cat() {
        Node n(N_CAT);
        while (i < p.size() && p[i] != '|' && p[i] != ')') {
            int k = parse_repeat();
            if (k < 0) return -1;
            n.kids.push_back(k);
        }
        return add(n);
    }

    int parse_alt() {
        Node n(N_ALT);
        int k = parse_cat();
        if (k < 0) return -1;
        n.kids.push_back(k);
        while (at('|')) {
            i++;
            k = parse_cat();
            if (k < 0) return -1;
            n.kids.push_back(k);
        }
        return n.kids.size() == 1 ? n.kids[0] : add(n);
    }

    bool nullable(int id) const {
        const Node& n = nodes[id];
        switch (n.kind) {
            case N_SET: return false;
            case N_CAT:
                for (int k : n.kids) {
                    if (!nullable(k)) return false;
                }
                return true;
            case N_ALT:
                for (int k : n.kids) {
                    if (nullable(k)) return true;
                }
                return false;
            case N_REP: return n.min == 0 || nullable(n.kids[0]);
            default: return true;
        }
    }

    size_t emit_inst(Regex::Op op) {
        Regex::Inst in;
        in.op = op;
        re->prog_.push_back(in);
        return re->prog_.size() - 1;
    }

    bool emit(int id) {
        const Node n = nodes[id];
        auto& prog = re->prog_;
        switch (n.kind) {
            case N_EMPTY: return true;
            case N_SET: prog[emit_inst(Regex::OP_SET)].set = n.set; return true;
            case N_BOL: emit_inst(Regex::OP_BOL); return true;
            case N_EOL: emit_inst(Regex::OP_EOL); return true;
            case N_CAT:
                for (int k : n.kids) {
                    if (!emit(k)) return false;
                }
                return true;
            case N_ALT: {
                std::vector<size_t> jumps;
                for (size_t k = 0; k < n.kids.size(); k++) {
                    size_t split = 0;
                    bool last = k + 1 == n.kids.size();
                    if (!last) {
                        split = emit_inst(Regex::OP_SPLIT);
                        prog[split].x = (uint32_t)prog.size();
                    }
                    if (!emit(n.kids[k])) return false;
                    if (!last) {
                        jumps.push_back(emit_inst(Regex::OP_JMP));
                        prog[split].y = (uint32_t)prog.size();
                    }
                }
                for (size_t j : jumps) prog[j].x = (uint32_t)prog.size();
                return true;
            }
            case N_LOOK: {
                size_t look = emit_inst(Regex::OP_LOOK);
                prog[look].negate = n.negate;
                if (!emit(n.kids[0])) return false;
                emit_inst(Regex::OP_LOOK_END);
                prog[look].x = (uint32_t)prog.size();
                return true;
            }
            case N_REP: {
                int kid = n.kids[0];
                if (nodes[kid].kind == N_SET) {
                    size_t r = emit_inst(Regex::OP_REPEAT);
                    prog[r].set = nodes[kid].set;
                    prog[r].min = n.min;
                    prog[r].max = n.max;
                    return true;
                }
                if (n.min > kMaxCount || (n.max != kInf && n.max > kMaxCount)) return fail("repeat count too large");
                for (uint32_t k = 0; k < n.min; k++) {
                    if (!emit(kid)) return false;
                }
                if (n.max == kInf) {
                    if (nullable(kid)) return fail("unbounded repeat of an expression that can match empty");
                    size_t loop = emit_inst(Regex::OP_SPLIT);
                    prog[loop].x = (uint32_t)prog.size();
                    if (!emit(kid)) return false;
                    prog[emit_inst(Regex::OP_JMP)].x = (uint32_t)loop;
                    prog[loop].y = (uint32_t)prog.size();
                    return true;
                }
                std::vector<size_t> splits;
                for (uint32_t k = n.min; k < n.max; k++) {
                    size_t split = emit_inst(Regex::OP_SPLIT);
                    prog[split].x = (uint32_t)prog.size();
                    splits.push_back(split);
                    if (!emit(kid)) return false;
                }
                for (size_t s : splits) prog[s].y = (uint32_t)prog.size();
                return true;
            }
        }
        return true;
    }
};

Status Regex::compile(std::string_view pattern) {
    pattern_ = std::string(pattern);
    prog_.clear();
    sets_.clear();
    RegexCompiler c;
    c.re = this;
    utf8_decode(pattern, &c.p, nullptr);
    int root = c.p.empty() ? c.add(RegexCompiler::Node(RegexCompiler::N_EMPTY)) : c.parse_alt();
    if (root >= 0 && c.i < c.p.size()) c.fail("unmatched )");
    if (root >= 0 && c.error.empty()) c.emit(root);
    if (!c.error.empty()) {
        prog_.clear();
        sets_.clear();
        return status_error("REGEX_INVALID", "regex /" + pattern_ + "/: " + c.error);
    }
    c.emit_inst(OP_MATCH);
    return status_ok();
}

long Regex::run(const uint32_t* cps, size_t n, uint32_t pc, size_t pos, std::vector<Frame>* stack) const {
    const size_t base = stack->size();
    const Inst* prog = prog_.data();
    while (true) {
        const Inst& in = prog[pc];
        bool ok = true;
        switch (in.op) {
            case OP_SET:
                if (pos < n && sets_[in.set].contains(cps[pos])) {
                    pos++;
                    pc++;
                } else {
                    ok = false;
                }
                break;
            case OP_REPEAT: {
                const RegexCharSet& s = sets_[in.set];
                size_t limit = n - pos;
                if (in.max != kInf && in.max < limit) limit = in.max;
                size_t k = 0;
                while (k < limit && s.contains(cps[pos + k])) k++;
                if (k < in.min) {
                    ok = false;
                    break;
                }
                if (k > in.min) stack->push_back(Frame{pc + 1, (uint32_t)pos, (uint32_t)(k - 1), in.min});
                pos += k;
                pc++;
                break;
            }
            case OP_SPLIT:
                stack->push_back(Frame{in.y, (uint32_t)pos, kInf, 0});
                pc = in.x;
                break;
            case OP_JMP: pc = in.x; break;
            case OP_BOL:
                ok = pos == 0 || cps[pos - 1] == '\n';
                pc++;
                break;
            case OP_EOL:
                ok = pos == n || cps[pos] == '\n';
                pc++;
                break;
            case OP_LOOK: {
                bool matched = run(cps, n, pc + 1, pos, stack) >= 0;
                ok = matched != in.negate;
                pc = in.x;
                break;
            }
            case OP_LOOK_END:
            case OP_MATCH: stack->resize(base); return (long)pos;
        }
        if (ok) continue;
        // Backtrack.
        if (stack->size() == base) return -1;
        Frame& f = stack->back();
        pc = f.pc;
        if (f.count == kInf) {
            pos = f.pos;
            stack->pop_back();
        } else {
            pos = (size_t)f.pos + f.count;
            if (f.count > f.min) {
                f.count--;
            } else {
                stack->pop_back();
            }
        }
    }
}

bool Regex::match_at(const uint32_t* cps, size_t n, size_t pos, size_t* end) const {
    if (prog_.empty() || pos > n) return false;
    std::vector<Frame> stack;
    long e = run(cps, n, 0, pos, &stack);
    if (e < 0) return false;
    *end = (size_t)e;
    return true;
}

void Regex::find_all(const uint32_t* cps, size_t n, std::vector<std::pair<uint32_t, uint32_t>>* spans) const {
    if (prog_.empty()) return;
    std::vector<Frame> stack;
    stack.reserve(64);
    // A pattern that starts with an unbounded loop S{m,} and fails at p fails at every start inside the
    // run of S from p as well (its loop ends are a subset of those already tried), so skip the run:
    // keeps e.g. \s+$ linear on long whitespace runs.
    const RegexCharSet* lead = (prog_[0].op == OP_REPEAT && prog_[0].max == kInf) ? &sets_[prog_[0].set] : nullptr;
    size_t pos = 0;
    while (pos < n) {
        long e = run(cps, n, 0, pos, &stack);
        if (e > (long)pos) {
            spans->push_back({(uint32_t)pos, (uint32_t)e});
            pos = (size_t)e;
        } else if (e < 0 && lead) {
            size_t k = pos;
            while (k < n && lead->contains(cps[k])) k++;
            pos = k + 1;
        } else {
            pos++;
        }
    }
}

}  // namespace rl
