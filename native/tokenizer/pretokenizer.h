// Pre-tokenizers of byte-level BPE vocabularies: each family is a sequence of splitting stages
// (mostly regexes, as in the reference tokenizer.json pre_tokenizer definitions). Every stage splits
// every current piece into its matches and the text between them (both kept, in order, empty parts
// dropped); the next stage applies to each resulting piece. The pieces cover the text exactly.
#pragma once

#include <string_view>
#include <vector>

#include "../util/status.h"
#include "vocab.h"

namespace rl {

// Maps tokenizer.ggml.pre to a family. Unknown names -> PRE_DEFAULT with *known = false.
PreTokenizer pretokenizer_from_name(std::string_view pre, bool* known);

// Name of a family for messages ("gpt-2", "llama3", ...).
const char* pretokenizer_name(PreTokenizer pre);

// Splits text (UTF-8; invalid bytes are U+FFFD to the regexes but stay in the pieces) and appends
// the pieces, views into `text`, to *pieces. Thread-safe; compiles the family's regexes on first use.
void pretokenize(PreTokenizer pre, std::string_view text, std::vector<std::string_view>* pieces);

// Compiles every family's regexes now; the first compile error, if any (a bug: patterns are ours).
Status pretokenizer_init();

}  // namespace rl
