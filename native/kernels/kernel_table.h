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

    // Flash-attention tiles of kAttnKeys keys (kv/attention.h). Every tier computes each output
    // with the same fused multiply-adds in the same order, so all tiers give the same bits:
    // s[r * 32 + j] = scale * (fma chain over d = 0 .. dk-1 of q[r * dk + d] * kt[d * 32 + j], from 0)
    void (*attn_scores)(const float* q, int32_t rows, int64_t dk, const float* kt, float scale, float* s);
    // o[r * dv + i] = fma chain over j = j0 .. j1-1 of p[r * 32 + j] * v[j * dv + i], from o[r * dv + i]
    void (*attn_pv)(float* o, int32_t rows, int64_t dv, const float* p, const float* v, int32_t j0, int32_t j1);
    // y[d * 32 + j] = x[j * n + d] for j < 32, d < n: a tile of key rows transposed
    void (*attn_transpose)(const float* x, int64_t n, float* y);
    // The online-softmax step of a tile for each row r of scores s (rows, 32), NaN read as -inf:
    // no finite score -> the row becomes 0 and nothing else changes; else with t = the row's max,
    // if t > m[r]: c = std::exp(m[r] - t), o row (dv) *= c, l[r] *= c, m[r] = t; then the row
    // becomes exp_shift(row, 32, m[r]) and l[r] += its sum.
    void (*attn_softmax)(float* s, int32_t rows, float* m, float* l, float* o, int64_t dv);
    // A tile of 32 f16 rows of n elements (rows[j] == nullptr: a row of zeros) converted to f32:
    // transposed into kt[d * 32 + j] (keys), or kept as rows out[j * n + d] (values).
    void (*attn_load_k_f16)(const uint16_t* const* rows, int64_t n, float* kt);
    void (*attn_load_v_f16)(const uint16_t* const* rows, int64_t n, float* out);
};

// Keys per attention tile (the kernels above are written for it).
constexpr int32_t kAttnKeys = 32;

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
void attn_scores(const float* q, int32_t rows, int64_t dk, const float* kt, float scale, float* s);
void attn_pv(float* o, int32_t rows, int64_t dv, const float* p, const float* v, int32_t j0, int32_t j1);
void attn_transpose(const float* x, int64_t n, float* y);
void attn_softmax(float* s, int32_t rows, float* m, float* l, float* o, int64_t dv);
void attn_load_k_f16(const uint16_t* const* rows, int64_t n, float* kt);
void attn_load_v_f16(const uint16_t* const* rows, int64_t n, float* out);
}  // namespace generic
namespace avx2 {
float exp_shift(float* x, int64_t n, float m);
void axpy_f32(float* y, float a, const float* x, int64_t n);
void scale_f32(float* y, float a, int64_t n);
}  // namespace avx2

}  // namespace rl
