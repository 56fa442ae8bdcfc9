#!/usr/bin/env python3
"""Generates native/tokenizer/unicode_data.cpp from the Unicode Character Database.

Usage: python3 scripts/gen-unicode-data.py [UCD_DIR] [OUT_FILE]
  UCD_DIR  defaults to /usr/share/unicode (Debian package `unicode-data`)
  OUT_FILE defaults to native/tokenizer/unicode_data.cpp

Reads UnicodeData.txt, PropList.txt, CaseFolding.txt and ReadMe.txt (for the version). Stdlib only.
"""
import os
import re
import sys

CATEGORIES = [
    "Lu", "Ll", "Lt", "Lm", "Lo",
    "Mn", "Mc", "Me",
    "Nd", "Nl", "No",
    "Pc", "Pd", "Ps", "Pe", "Pi", "Pf", "Po",
    "Sm", "Sc", "Sk", "So",
    "Zs", "Zl", "Zp",
    "Cc", "Cf", "Cs", "Co", "Cn",
]
CAT_INDEX = {c: i for i, c in enumerate(CATEGORIES)}
CN = CAT_INDEX["Cn"]
MAX_CP = 0x10FFFF


def read_lines(path):
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if line:
                yield line


def parse_range(field):
    if ".." in field:
        a, b = field.split("..")
        return int(a, 16), int(b, 16)
    v = int(field, 16)
    return v, v


def unicode_version(ucd):
    for name in ("ReadMe.txt", "DerivedAge.txt"):
        path = os.path.join(ucd, name)
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                m = re.search(r"Version (\d+\.\d+\.\d+)", f.read()) or None
            if m:
                return m.group(1)
    return "unknown"


def load_unicode_data(ucd):
    cat = {}  # cp -> category index (assigned codepoints only)
    lower = {}
    decomp = {}  # cp -> list of cps (canonical only)
    ccc = {}
    first = None
    with open(os.path.join(ucd, "UnicodeData.txt"), encoding="utf-8") as f:
        for line in f:
            fields = line.rstrip("\n").split(";")
            if len(fields) < 15:
                continue
            cp = int(fields[0], 16)
            name, gc = fields[1], fields[2]
            if name.endswith(", First>"):
                first = cp
                continue
            if name.endswith(", Last>"):
                for c in range(first, cp + 1):
                    cat[c] = CAT_INDEX[gc]
                    if int(fields[3]):
                        ccc[c] = int(fields[3])
                first = None
                continue
            cat[cp] = CAT_INDEX[gc]
            if int(fields[3]):
                ccc[cp] = int(fields[3])
            if fields[5] and not fields[5].startswith("<"):
                decomp[cp] = [int(x, 16) for x in fields[5].split()]
            if fields[13]:
                lower[cp] = int(fields[13], 16)
    return cat, lower, decomp, ccc


def load_whitespace(ucd):
    ranges = []
    for line in read_lines(os.path.join(ucd, "PropList.txt")):
        field, prop = [x.strip() for x in line.split(";")[:2]]
        if prop == "White_Space":
            ranges.append(parse_range(field))
    return merge_ranges(sorted(ranges))


def load_casefold(ucd):
    fold = {}
    for line in read_lines(os.path.join(ucd, "CaseFolding.txt")):
        parts = [x.strip() for x in line.split(";")]
        if parts[1] in ("C", "S"):
            fold[int(parts[0], 16)] = int(parts[2], 16)
    return fold


def merge_ranges(ranges):
    out = []
    for a, b in ranges:
        if out and a <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def full_decomposition(cp, decomp):
    if cp not in decomp:
        return [cp]
    out = []
    for c in decomp[cp]:
        out.extend(full_decomposition(c, decomp))
    return out


def category_ranges(cat):
    ranges = []  # (first, last, cat) covering assigned codepoints; gaps are Cn
    cur = None
    for cp in range(MAX_CP + 1):
        c = cat.get(cp, CN)
        if cur is not None and cur[2] == c and cur[1] == cp - 1:
            cur[1] = cp
            continue
        if cur is not None and cur[2] != CN:
            ranges.append(tuple(cur))
        cur = [cp, cp, c]
    if cur is not None and cur[2] != CN:
        ranges.append(tuple(cur))
    return ranges


def value_ranges(values):
    """{cp: v} -> [(first, last, v)] merging consecutive cps with equal v."""
    out = []
    for cp in sorted(values):
        v = values[cp]
        if out and out[-1][1] == cp - 1 and out[-1][2] == v:
            out[-1] = (out[-1][0], cp, v)
        else:
            out.append((cp, cp, v))
    return out


def emit_rows(items, per_line, fmt):
    lines = []
    for i in range(0, len(items), per_line):
        lines.append("    " + " ".join(fmt(x) for x in items[i:i + per_line]))
    return "\n".join(lines)


def main():
    ucd = sys.argv[1] if len(sys.argv) > 1 else "/usr/share/unicode"
    here = os.path.dirname(os.path.abspath(__file__))
    out_path = sys.argv[2] if len(sys.argv) > 2 else os.path.join(here, "..", "native", "tokenizer", "unicode_data.cpp")
    version = unicode_version(ucd)

    cat, lower, decomp, ccc = load_unicode_data(ucd)
    ws = load_whitespace(ucd)
    fold = load_casefold(ucd)
    cats = category_ranges(cat)
    latin1 = [cat.get(cp, CN) for cp in range(256)]
    ccc_ranges = value_ranges(ccc)
    lower_pairs = sorted((cp, lc) for cp, lc in lower.items() if cp != lc)
    fold_pairs = sorted((cp, f) for cp, f in fold.items() if cp != f)

    decomp_entries = []
    pool = []
    for cp in sorted(decomp):
        seq = full_decomposition(cp, decomp)
        decomp_entries.append((cp, len(pool), len(seq)))
        pool.extend(seq)
    assert len(pool) < 65536 and max(e[2] for e in decomp_entries) < 256

    o = []
    o.append("// GENERATED FILE - do not edit. Unicode %s Character Database tables for unicode.cpp." % version)
    o.append("// Generator: python3 scripts/gen-unicode-data.py %s native/tokenizer/unicode_data.cpp" % ucd)
    o.append("// Sources: UnicodeData.txt, PropList.txt (White_Space), CaseFolding.txt (C+S) from the Debian")
    o.append("// `unicode-data` package. Ranges are sorted and disjoint; lookups binary-search them.")
    o.append('#include "unicode.h"')
    o.append("")
    o.append("namespace rl {")
    o.append("namespace ucd {")
    o.append("")
    o.append('const char* const kVersion = "%s";' % version)
    o.append("")
    o.append("// General category of U+0000..U+00FF (UnicodeCategory values).")
    o.append("const uint8_t kLatin1Category[256] = {")
    o.append(emit_rows(latin1, 32, lambda v: "%d," % v))
    o.append("};")
    o.append("")
    o.append("// Assigned codepoint ranges {first, last, category}; codepoints in no range are Cn.")
    o.append("const CategoryRange kCategoryRanges[] = {")
    o.append(emit_rows(cats, 4, lambda r: "{0x%X, 0x%X, %d}," % r))
    o.append("};")
    o.append("const size_t kCategoryRangeCount = %d;" % len(cats))
    o.append("")
    o.append("// White_Space {first, last}.")
    o.append("const Range kWhitespace[] = {")
    o.append(emit_rows(ws, 6, lambda r: "{0x%X, 0x%X}," % r))
    o.append("};")
    o.append("const size_t kWhitespaceCount = %d;" % len(ws))
    o.append("")
    o.append("// Simple lowercase mapping {cp, lower}, sorted by cp.")
    o.append("const Pair kLower[] = {")
    o.append(emit_rows(lower_pairs, 6, lambda p: "{0x%X, 0x%X}," % p))
    o.append("};")
    o.append("const size_t kLowerCount = %d;" % len(lower_pairs))
    o.append("")
    o.append("// Simple case folding (status C and S) {cp, folded}, sorted by cp.")
    o.append("const Pair kCaseFold[] = {")
    o.append(emit_rows(fold_pairs, 6, lambda p: "{0x%X, 0x%X}," % p))
    o.append("};")
    o.append("const size_t kCaseFoldCount = %d;" % len(fold_pairs))
    o.append("")
    o.append("// Canonical combining class ranges {first, last, ccc} (ccc != 0 only).")
    o.append("const CccRange kCcc[] = {")
    o.append(emit_rows(ccc_ranges, 4, lambda r: "{0x%X, 0x%X, %d}," % r))
    o.append("};")
    o.append("const size_t kCccCount = %d;" % len(ccc_ranges))
    o.append("")
    o.append("// Full canonical decomposition (recursively applied) {cp, offset into pool, length}.")
    o.append("const Decomp kDecomp[] = {")
    o.append(emit_rows(decomp_entries, 4, lambda e: "{0x%X, %d, %d}," % e))
    o.append("};")
    o.append("const size_t kDecompCount = %d;" % len(decomp_entries))
    o.append("const uint32_t kDecompPool[] = {")
    o.append(emit_rows(pool, 8, lambda v: "0x%X," % v))
    o.append("};")
    o.append("")
    o.append("}  // namespace ucd")
    o.append("}  // namespace rl")
    o.append("")
    with open(out_path, "w", encoding="utf-8") as f:
        f.write("\n".join(o))
    print("wrote %s: Unicode %s, %d category ranges, %d decompositions" % (out_path, version, len(cats),
                                                                           len(decomp_entries)))


if __name__ == "__main__":
    main()
