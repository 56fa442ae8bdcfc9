// Byte-level BPE (GPT-2 style): pre-tokenize, map each byte to a printable character, then apply the
// merges in rank order within each piece.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "vocab.h"

namespace rl {

// Appends the ids of `text` to *out (no BOS/EOS, no special-token parsing). Uses vocab.pre_type,
// merge_ranks, token_to_id and ignore_merges. A merged symbol missing from the vocabulary falls back
// to its characters' tokens; characters with no token are skipped (as the reference does).
void bpe_tokenize(const Vocab& vocab, std::string_view text, std::vector<int32_t>* out);

// GPT-2 bytes-to-unicode: printable bytes (0x21-0x7E, 0xA1-0xAC, 0xAE-0xFF) map to themselves, the
// other 68 to U+0100 + n in byte order. Appends the character's UTF-8 to *out_utf8.
void bpe_byte_to_unicode(uint8_t b, std::string* out_utf8);

// The inverse: the byte a byte-level character stands for; false when cp is not one of the 256.
bool bpe_unicode_to_byte(uint32_t cp, uint8_t* out);

}  // namespace rl
