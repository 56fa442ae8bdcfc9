// Text <-> token ids for every vocabulary kind, identical to the reference tokenizers.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "vocab.h"

namespace rl {

struct TokenizeOptions {
    bool add_special = false;    // add BOS/EOS as the vocabulary asks (add_bos / add_eos)
    bool parse_special = false;  // text like "<|im_end|>" becomes its control token id
};

// Appends the tokens of `text` (UTF-8; invalid bytes are documented in unicode.h) to out.
Status tokenize(const Vocab& vocab, std::string_view text, const TokenizeOptions& opts, std::vector<int32_t>* out);

struct DetokenizeOptions {
    bool remove_special = false;   // drop a leading BOS and trailing EOS the tokenizer would add
    bool unparse_special = false;  // render control tokens as their text (else they render as "")
};

// Token ids to text, appended to *out. Ids out of range -> INVALID_ARGUMENT.
// Leading-space rule (vocabularies with add_space_prefix, i.e. SentencePiece): the tokenizer puts a
// ' ' before each raw-text fragment that starts the text or follows a special token, so one leading
// ' ' is removed from the rendered piece of the first token (after a BOS dropped by remove_special)
// and of every token that follows a CONTROL or USER_DEFINED token. Thus detokenize(tokenize(s)) == s.
// Pieces: control and unknown tokens render as "" unless unparse_special; user-defined tokens as their
// text; SentencePiece/WordPiece pieces with U+2581 as ' ' and "<0xXX>" byte tokens as that byte;
// byte-level BPE pieces through the byte alphabet. No clean-up of spaces before punctuation is done
// (the reference's optional clean-up is lossy), so BPE text round-trips exactly. The result is valid
// UTF-8: byte sequences that are not (e.g. tokens that end inside a character) become U+FFFD, one per
// maximal invalid subpart as the WHATWG decoder (and so V8) does.
Status detokenize(const Vocab& vocab, const int32_t* ids, size_t n, const DetokenizeOptions& opts, std::string* out);

// The text of one token as detokenize renders it (no leading-space removal), appended to *out.
Status token_to_piece(const Vocab& vocab, int32_t id, bool unparse_special, std::string* out);

// Streaming detokenizer for generation: feed tokens one at a time and receive text as soon as it is
// complete. Concatenating every push() and finish() equals detokenize() of all tokens at once:
// incomplete UTF-8 sequences are held back, and the SPM leading-space rule applies only to the
// first token.
class StreamDecoder {
public:
    StreamDecoder(const Vocab* vocab, const DetokenizeOptions& opts);
    Status push(int32_t id, std::string* text_out);  // appends newly completed text
    void finish(std::string* text_out);              // flushes what is held back (as U+FFFD)
    // The tokens pushed next continue a text that ended with token `prev` (generation after a
    // prompt): the leading-space rule then follows prev's kind instead of applying as at the start.
    void continue_after(int32_t prev) {
        prev_id_ = prev;
        n_pushed_ = 1;
    }

private:
    const Vocab* vocab_;
    DetokenizeOptions opts_;
    size_t n_pushed_ = 0;
    std::string pending_;  // bytes not yet emitted (an incomplete UTF-8 sequence)
    int32_t prev_id_ = -1;     // last token rendered or dropped (-1: none yet, so the space rule applies)
    bool held_eos_ = false;    // remove_special: an EOS is held until we know whether it is the last token
    bool held_strip_ = false;  // the held EOS's leading-space flag
};

}  // namespace rl
