// The run-time kernel table: one implementation per ISA tier, chosen once at load.
// Every tier implements the same functions with the same signatures as generic/.
// ISA translation units include only this header and fp16.h: anything inline with external
// linkage compiled under -mavx512f could be picked by the linker for every caller.
#pragma once

#include <cstdint>

namespace rl {

// exp_shift's cut-off: below it expf underflows to subnormals, which the kernels flush to 0.
constexpr float kExpUnderflow = -87.3f;

struct KernelTable {
    const char* name;  // "generic" | "avx2" | "avx512" | "neon"
    // sum_i a[i] * b[i]
    float (*dot_f32)(const float* a, const float* b, int64_t n);
    // y[i] = half_to_float(x[i])
    void (*fp16_to_f32_row)(const uint16_t* x, float* y, int64_t n);
    // y[i] = float_to_half(x[i]), round to nearest even
    void (*f32_to_fp16_row)(const float* x, uint16_t* y, int64_t n);
    // y[i] = bf16_to_float(x[i])
    void (*bf16_to_f32_row)(const uint16_t* x, float* y, int64_t n);
    // x[i] = exp(x[i] - m), -inf (and anything below -87.3, where expf underflows) -> 0; returns the sum
    float (*exp_shift)(float* x, int64_t n, float m);
    // y[i] += a * x[i]
    void (*axpy_f32)(float* y, float a, const float* x, int64_t n);
    // y[i] *= a
    void (*scale_f32)(float* y, float a, int64_t n);
    // out[i * out_stride + j] = dot_f32(a + i * a_stride, b + j * b_stride, n) for i < m, j < nb,
    // bit for bit (attention scores of a group's heads against a tile of keys)
    void (*dot_rows_f32)(const float* a, int64_t a_stride, int32_t m, const float* b, int64_t b_stride, int32_t nb,
                         int64_t n, float* out, int64_t out_stride);
    // for i < m, j < nx in order, w = w[i * w_stride + j] != 0: axpy_f32(y + i * y_stride, w, x + j * x_stride, n),
    // bit for bit (a tile of value rows into a group's heads)
    void (*axpy_rows_f32)(float* y, int64_t y_stride, int32_t m, const float* w, int64_t w_stride, const float* x,
                          int64_t x_stride, int32_t nx, int64_t n);
};

// Tier tables; a tier compiled out of this binary (e.g. NEON on x86) returns nullptr.
const KernelTable* kernels_generic();
const KernelTable* kernels_avx2();
const KernelTable* kernels_avx512();
const KernelTable* kernels_neon();

// Shared row ops of tiers that reuse another tier's version (avx512 uses avx2's, neon generic's).
namespace generic {
float exp_shift(float* x, int64_t n, float m);
void axpy_f32(float* y, float a, const float* x, int64_t n);
void scale_f32(float* y, float a, int64_t n);
void axpy_rows_f32(float* y, int64_t y_stride, int32_t m, const float* w, int64_t w_stride, const float* x,
                   int64_t x_stride, int32_t nx, int64_t n);
}  // namespace generic
namespace avx2 {
float exp_shift(float* x, int64_t n, float m);
void axpy_f32(float* y, float a, const float* x, int64_t n);
void scale_f32(float* y, float a, int64_t n);
void axpy_rows_f32(float* y, int64_t y_stride, int32_t m, const float* w, int64_t w_stride, const float* x,
                   int64_t x_stride, int32_t nx, int64_t n);
}  // namespace avx2

}  // namespace rl
