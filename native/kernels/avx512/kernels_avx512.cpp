// AVX-512 (F/BW/VL/DQ) tier. Compiled with its own flags; reached only through the kernel table.
// Exercised wherever the CPU has AVX-512 (the development machine is an AMD EPYC with it).
#include "../kernel_table.h"

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__)
#include <immintrin.h>

#include "../fp16.h"

namespace rl {
namespace avx512 {

static inline float dot_inline(const float* a, const float* b, int64_t n) {
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), acc0);
        acc1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), acc1);
    }
    if (i + 16 <= n) {
        acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), acc0);
        i += 16;
    }
    if (i < n) {  // masked tail: no scalar loop
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        acc1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i), acc1);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
}

float dot_f32(const float* a, const float* b, int64_t n) { return dot_inline(a, b, n); }

static void dot_rows_f32(const float* a, int64_t a_stride, int32_t m, const float* b, int64_t b_stride, int32_t nb,
                         int64_t n, float* out, int64_t out_stride) {
    for (int32_t i = 0; i < m; i++)
        for (int32_t j = 0; j < nb; j++) out[i * out_stride + j] = dot_inline(a + i * a_stride, b + j * b_stride, n);
}

void fp16_to_f32_row(const uint16_t* x, float* y, int64_t n) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256i h = _mm256_loadu_si256((const __m256i*)(x + i));
        _mm512_storeu_ps(y + i, _mm512_cvtph_ps(h));
    }
    for (; i < n; i++) y[i] = fp16_to_fp32(x[i]);
}

void f32_to_fp16_row(const float* x, uint16_t* y, int64_t n) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256i h = _mm512_cvtps_ph(_mm512_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT);
        _mm256_storeu_si256((__m256i*)(y + i), h);
    }
    for (; i < n; i++) y[i] = fp32_to_fp16(x[i]);
}

void bf16_to_f32_row(const uint16_t* x, float* y, int64_t n) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512i w = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i*)(x + i)));
        _mm512_storeu_ps(y + i, _mm512_castsi512_ps(_mm512_slli_epi32(w, 16)));
    }
    for (; i < n; i++) y[i] = bf16_to_fp32(x[i]);
}

}  // namespace avx512

const KernelTable* kernels_avx512() {
    static const KernelTable table = {
        "avx512", avx512::dot_f32, avx512::fp16_to_f32_row, avx512::f32_to_fp16_row,
        avx512::bf16_to_f32_row, avx2::exp_shift, avx2::axpy_f32, avx2::scale_f32, avx512::dot_rows_f32,
        avx2::axpy_rows_f32,
    };
    return &table;
}

}  // namespace rl

#else

namespace rl {
const KernelTable* kernels_avx512() { return nullptr; }
}  // namespace rl

#endif
