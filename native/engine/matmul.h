// Weight matrix times activation rows: each activation row is quantized once to the weight type's
// activation format, then each output row is one vec_dot per token, rows split across the pool.
#pragma once

#include <cstddef>
#include <cstdint>

#include "thread_pool.h"
#include "weight_types.h"

namespace rl {

// A 2-D weight tensor in place in the mapped file (ggml order: n_in elements per row).
struct WeightMatrix {
    const uint8_t* data = nullptr;  // (n_out, row_bytes)
    int64_t n_in = 0;               // ne[0]
    int64_t n_out = 0;              // ne[1]
    size_t row_bytes = 0;
    const WeightKernels* k = nullptr;
    // Rows [0, packed_rows) also as groups of 8 in the packed layout (kernels/packed.h), group g at
    // packed + g * packed_group_bytes; null when the type has no packed kernels (see repack.h).
    const uint8_t* packed = nullptr;
    int64_t packed_rows = 0;
    size_t packed_group_bytes = 0;
};

// Bytes of act scratch matmul needs for n_tok rows of n_in elements.
size_t matmul_act_bytes(const WeightMatrix& w, int32_t n_tok);

// y[t * y_stride + r] = W[r] . x[t * x_stride], for t < n_tok and r < n_out.
// act: scratch of matmul_act_bytes(w, n_tok) bytes, aligned to 16.
void matmul(ThreadPool* pool, const WeightMatrix& w, const float* x, int64_t x_stride, int32_t n_tok, float* y,
            int64_t y_stride, uint8_t* act);

// Several matrices applied to the same activation rows (Q, K and V; gate and up): when they take
// the same activation format and are all packed, the rows are quantized once and every matrix's
// row groups share one parallel pass (one wake-up of the pool instead of one per matrix); otherwise
// one matmul() each. Results equal separate matmul() calls bit for bit.
struct MatmulOut {
    const WeightMatrix* w;
    float* y;
    int64_t y_stride;
};
void matmul_many(ThreadPool* pool, const MatmulOut* outs, int n, const float* x, int64_t x_stride, int32_t n_tok,
                 uint8_t* act);

// One row of W as f32 (embedding lookup).
void matrix_get_row(const WeightMatrix& w, int64_t row, float* y);

}  // namespace rl
