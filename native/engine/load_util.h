// Metadata and tensor readers shared by the architecture loaders. Every failure is MODEL_INVALID
// (or MODEL_UNSUPPORTED_TYPE for a tensor type the kernels cannot compute) naming the key or tensor.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "../gguf/gguf.h"
#include "matmul.h"
#include "model.h"

namespace rl {

struct KernelTable;

// MODEL_INVALID with `msg` and a hint that the file is damaged.
Status invalid(const std::string& msg);

// Integer metadata value; *found false when absent. Wrong type or out of [lo, hi] is MODEL_INVALID.
Status read_int(const GgufHeader& h, const std::string& key, int64_t lo, int64_t hi, int32_t* out, bool* found);
Status require_int(const GgufHeader& h, const std::string& key, int64_t lo, int64_t hi, int32_t* out);
Status read_float(const GgufHeader& h, const std::string& key, float* out, bool* found);
Status read_string(const GgufHeader& h, const std::string& key, std::string* out, bool* found);

// Finds a tensor of exactly shape [ne0, ne1] (ne1 = 1: a vector) whose type we can compute.
Status find_tensor(const Model& m, const std::string& name, int64_t ne0, int64_t ne1, const KernelTable* kt,
                   const GgufTensorInfo** info, const WeightKernels** kernels);
// A matrix of n_out rows of n_in elements, in place in the mapped file.
Status load_matrix(const Model& m, const std::string& name, int64_t n_in, int64_t n_out, const KernelTable* kt,
                   WeightMatrix* out);
// 1-D tensors (norms, biases, rope factors) are small: dequantized once into owned f32.
Status load_vector(const Model& m, const std::string& name, int64_t n, const KernelTable* kt, std::vector<float>* out);
// Same, leaving *out empty when the tensor is absent.
Status load_optional_vector(const Model& m, const std::string& name, int64_t n, const KernelTable* kt,
                            std::vector<float>* out);
// Rows [first, first + n) of a matrix: the parts of a fused tensor (attn_qkv, ffn_up holding gate and up).
WeightMatrix row_view(const WeightMatrix& m, int64_t first, int64_t n);

}  // namespace rl
