// WordPiece as BERT tokenizers do it, over the GGUF form of a BERT vocabulary: word-start pieces
// carry a U+2581 prefix, continuation pieces are stored without their "##".
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "vocab.h"

namespace rl {

// Appends the tokens of `text` (no [CLS]/[SEP]). Normalization: control characters dropped,
// whitespace splits, punctuation and CJK ideographs stand alone; an uncased vocabulary (no
// word-start piece with an uppercase letter) also gets NFD, accent (Mn) removal and lowercasing.
// Each word is matched greedily longest-first; a word with an unmatched rest, or longer than 100
// characters, is one unk token.
void wpm_tokenize(const Vocab& vocab, std::string_view text, std::vector<int32_t>* out);

}  // namespace rl
