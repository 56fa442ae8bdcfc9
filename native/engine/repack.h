// Weight repacking: matrices of a type with packed kernels (Q4_0, Q8_0, Q4_K, Q5_K, Q6_K, F16,
// F32) are copied once per model into the 8-row interleaved layout of kernels/packed.h; every
// context of the model shares the copy. Rows past the last full group of 8 stay in the mapped
// file and use the row kernels.
// RINGLLM_REPACK=0 in the environment turns repacking off (benchmarks compare both).
#pragma once

#include <memory>

#include "../util/status.h"
#include "matmul.h"

namespace rl {

struct Model;
struct PackedWeights;

std::shared_ptr<PackedWeights> packed_weights_create();

// Sets w->packed / w->packed_rows when w's type has packed kernels (and repacking is on), packing
// on first use for this model. OUT_OF_MEMORY when the copy cannot be allocated.
Status repack_matrix(const Model& m, WeightMatrix* w);

// Bytes of repacked copies the model holds.
size_t packed_weights_bytes(const Model& m);

}  // namespace rl
