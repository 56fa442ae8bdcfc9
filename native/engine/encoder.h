// Encoder-only transformers for embeddings: bert (BGE, MiniLM, E5: learned absolute positions, Q/K/V
// with biases, GELU FFN) and nomic-bert (fused QKV, RoPE, SwiGLU FFN). Bidirectional attention within
// each text, post-LayerNorm blocks, no KV cache: a context of one of these only embeds (decode and
// sample answer UNSUPPORTED). The graph follows the GGUF files llama.cpp's converter writes and the
// arithmetic llama.cpp's BERT graph performs (token type 0 for every token, as it does).
#pragma once

#include <memory>
#include <string>

#include "context.h"

namespace rl {

struct KernelTable;

bool encoder_arch_supported(const std::string& arch);
const char* encoder_supported_archs();

Status encoder_context_create(std::shared_ptr<Model> model, const ContextParams& params, const KernelTable* kt,
                              std::unique_ptr<Context>* out);

}  // namespace rl
