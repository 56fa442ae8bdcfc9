// SentencePiece BPE over a vocabulary with scores: the tokenizer behind tokenizer.ggml.model = "llama".
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "vocab.h"

namespace rl {

// Appends the tokens of `text`, which the caller has already escaped (spaces as U+2581, space
// prefix added). Symbols start as UTF-8 characters (length from the lead byte, so invalid bytes stand
// alone); the adjacent pair whose concatenation is the highest-scoring token merges first (ties: the
// leftmost pair). A final symbol that is not a token becomes its bytes' "<0xXX>" tokens (unk when the
// vocabulary has neither the byte token nor a one-byte token).
void spm_tokenize(const Vocab& vocab, std::string_view text, std::vector<int32_t>* out);

}  // namespace rl
