// Weight-type kernels: dequantization (the reference meaning of every block format), activation
// quantization, and dot products of one weight row with quantized activations.
// generic:: is the scalar reference; avx2:: (and later avx512::, neon::) have the same names and
// signatures and are tested against it. n is the row length in elements (a multiple of the block).
#pragma once

#include <cstddef>
#include <cstdint>

namespace rl {

#define RL_QUANT_DECLS                                                                          \
    /* dequantize n elements of a row */                                                       \
    void dequantize_row_f32(const void* x, float* y, int64_t n);                                \
    void dequantize_row_f16(const void* x, float* y, int64_t n);                                \
    void dequantize_row_bf16(const void* x, float* y, int64_t n);                               \
    void dequantize_row_q8_0(const void* x, float* y, int64_t n);                               \
    void dequantize_row_q4_0(const void* x, float* y, int64_t n);                               \
    void dequantize_row_q4_1(const void* x, float* y, int64_t n);                               \
    void dequantize_row_q5_0(const void* x, float* y, int64_t n);                               \
    void dequantize_row_q5_1(const void* x, float* y, int64_t n);                               \
    void dequantize_row_q2_K(const void* x, float* y, int64_t n);                               \
    void dequantize_row_q3_K(const void* x, float* y, int64_t n);                               \
    void dequantize_row_q4_K(const void* x, float* y, int64_t n);                               \
    void dequantize_row_q5_K(const void* x, float* y, int64_t n);                               \
    void dequantize_row_q6_K(const void* x, float* y, int64_t n);                               \
    void dequantize_row_iq4_nl(const void* x, float* y, int64_t n);                             \
    void dequantize_row_iq4_xs(const void* x, float* y, int64_t n);                             \
    /* activations: f32 -> Q8_0 (blocks of 32) or Q8_K (blocks of 256, with bsums) */          \
    void quantize_row_q8_0(const float* x, void* y, int64_t n);                                 \
    void quantize_row_q8_K(const float* x, void* y, int64_t n);                                 \
    /* dot product of one weight row (type in the name) with activations (format after _) */    \
    float vec_dot_f32_f32(int64_t n, const void* w, const void* a);                            \
    float vec_dot_f16_f32(int64_t n, const void* w, const void* a);                            \
    float vec_dot_bf16_f32(int64_t n, const void* w, const void* a);                           \
    float vec_dot_q8_0_q8_0(int64_t n, const void* w, const void* a);                          \
    float vec_dot_q4_0_q8_0(int64_t n, const void* w, const void* a);                          \
    float vec_dot_q4_1_q8_0(int64_t n, const void* w, const void* a);                          \
    float vec_dot_q5_0_q8_0(int64_t n, const void* w, const void* a);                          \
    float vec_dot_q5_1_q8_0(int64_t n, const void* w, const void* a);                          \
    float vec_dot_iq4_nl_q8_0(int64_t n, const void* w, const void* a);                        \
    float vec_dot_q2_K_q8_K(int64_t n, const void* w, const void* a);                          \
    float vec_dot_q3_K_q8_K(int64_t n, const void* w, const void* a);                          \
    float vec_dot_q4_K_q8_K(int64_t n, const void* w, const void* a);                          \
    float vec_dot_q5_K_q8_K(int64_t n, const void* w, const void* a);                          \
    float vec_dot_q6_K_q8_K(int64_t n, const void* w, const void* a);                          \
    float vec_dot_iq4_xs_q8_K(int64_t n, const void* w, const void* a);                          \
    /* one weight row with 4 activation rows (a, a + a_stride, ...): out[t] bit-identical to   */ \
    /* vec_dot(n, w, a + t * a_stride); the weight blocks are unpacked once for the 4 rows     */ \
    void vec_dot_q8_0_q8_0_x4(int64_t n, const void* w, const void* a, size_t a_stride, float* out); \
    void vec_dot_q4_0_q8_0_x4(int64_t n, const void* w, const void* a, size_t a_stride, float* out);

namespace generic {
RL_QUANT_DECLS
}
namespace avx2 {
RL_QUANT_DECLS
}
namespace neon {
RL_QUANT_DECLS
}

#undef RL_QUANT_DECLS

// Q8_K activation block: 256 int8 values, f32 scale, sums of each 16 values (for the K-quant mins).
struct BlockQ8K {
    float d;
    int8_t qs[256];
    int16_t bsums[16];
};
// Q8_0 activation block (same layout as the Q8_0 weight type): f16 scale + 32 int8.
struct BlockQ8_0 {
    uint16_t d;
    int8_t qs[32];
};

}  // namespace rl
