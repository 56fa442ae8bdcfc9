// NEON tier for aarch64 (baseline ASIMD; fp16 conversion is part of ARMv8 ASIMD).
#include "../kernel_table.h"

#if defined(__aarch64__) && defined(__ARM_NEON)
#include <arm_neon.h>

#include "../fp16.h"

namespace rl {
namespace neon {

static inline float dot_inline(const float* a, const float* b, int64_t n) {
    float32x4_t acc0 = vdupq_n_f32(0), acc1 = vdupq_n_f32(0), acc2 = vdupq_n_f32(0), acc3 = vdupq_n_f32(0);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        acc0 = vfmaq_f32(acc0, vld1q_f32(a + i), vld1q_f32(b + i));
        acc1 = vfmaq_f32(acc1, vld1q_f32(a + i + 4), vld1q_f32(b + i + 4));
        acc2 = vfmaq_f32(acc2, vld1q_f32(a + i + 8), vld1q_f32(b + i + 8));
        acc3 = vfmaq_f32(acc3, vld1q_f32(a + i + 12), vld1q_f32(b + i + 12));
    }
    for (; i + 4 <= n; i += 4) acc0 = vfmaq_f32(acc0, vld1q_f32(a + i), vld1q_f32(b + i));
    float s = vaddvq_f32(vaddq_f32(vaddq_f32(acc0, acc1), vaddq_f32(acc2, acc3)));
    for (; i < n; i++) s += a[i] * b[i];
    return s;
}

float dot_f32(const float* a, const float* b, int64_t n) { return dot_inline(a, b, n); }

static void dot_rows_f32(const float* a, int64_t a_stride, int32_t m, const float* b, int64_t b_stride, int32_t nb,
                         int64_t n, float* out, int64_t out_stride) {
    for (int32_t i = 0; i < m; i++)
        for (int32_t j = 0; j < nb; j++) out[i * out_stride + j] = dot_inline(a + i * a_stride, b + j * b_stride, n);
}

void fp16_to_f32_row(const uint16_t* x, float* y, int64_t n) {
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        float16x4_t h = vreinterpret_f16_u16(vld1_u16(x + i));
        vst1q_f32(y + i, vcvt_f32_f16(h));
    }
    for (; i < n; i++) y[i] = fp16_to_fp32(x[i]);
}

void f32_to_fp16_row(const float* x, uint16_t* y, int64_t n) {
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) vst1_u16(y + i, vreinterpret_u16_f16(vcvt_f16_f32(vld1q_f32(x + i))));
    for (; i < n; i++) y[i] = fp32_to_fp16(x[i]);
}

void bf16_to_f32_row(const uint16_t* x, float* y, int64_t n) {
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        uint32x4_t w = vshll_n_u16(vld1_u16(x + i), 16);
        vst1q_f32(y + i, vreinterpretq_f32_u32(w));
    }
    for (; i < n; i++) y[i] = bf16_to_fp32(x[i]);
}

}  // namespace neon

const KernelTable* kernels_neon() {
    static const KernelTable table = {
        "neon", neon::dot_f32, neon::fp16_to_f32_row, neon::f32_to_fp16_row, neon::bf16_to_f32_row,
        generic::exp_shift, generic::axpy_f32, generic::scale_f32, neon::dot_rows_f32, generic::axpy_rows_f32,
    };
    return &table;
}

}  // namespace rl

#else

namespace rl {
const KernelTable* kernels_neon() { return nullptr; }
}  // namespace rl

#endif
