// NEON tier for aarch64 (baseline ASIMD; fp16 conversion is part of ARMv8 ASIMD).
#include "../kernel_table.h"

#if defined(__aarch64__) && defined(__ARM_NEON)
#include <arm_neon.h>

#include <cmath>

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

// Attention tiles (kernel_table.h): lanes over keys (scores) or value elements (P.V); each output is
// one vfmaq chain in the reference order, so the bits equal generic's std::fma.
template <int NR>
static inline void scores_rows(const float* q, int64_t dk, const float* kt, float scale, float* s) {
    float32x4_t acc[NR][8];
    for (int r = 0; r < NR; r++)
        for (int c = 0; c < 8; c++) acc[r][c] = vdupq_n_f32(0);
    for (int64_t d = 0; d < dk; d++) {
        float32x4_t k[8];
        for (int c = 0; c < 8; c++) k[c] = vld1q_f32(kt + d * kAttnKeys + 4 * c);
        for (int r = 0; r < NR; r++) {
            const float32x4_t b = vdupq_n_f32(q[r * dk + d]);
            for (int c = 0; c < 8; c++) acc[r][c] = vfmaq_f32(acc[r][c], b, k[c]);
        }
    }
    for (int r = 0; r < NR; r++)
        for (int c = 0; c < 8; c++) vst1q_f32(s + r * kAttnKeys + 4 * c, vmulq_n_f32(acc[r][c], scale));
}

static void attn_scores(const float* q, int32_t rows, int64_t dk, const float* kt, float scale, float* s) {
    int32_t r = 0;
    for (; r + 2 <= rows; r += 2) scores_rows<2>(q + r * dk, dk, kt, scale, s + r * kAttnKeys);
    if (r < rows) scores_rows<1>(q + r * dk, dk, kt, scale, s + r * kAttnKeys);
}

static void attn_pv(float* o, int32_t rows, int64_t dv, const float* p, const float* v, int32_t j0, int32_t j1) {
    for (int32_t r = 0; r < rows; r++) {
        float* orow = o + (int64_t)r * dv;
        const float* pr = p + r * kAttnKeys;
        int64_t i = 0;
        for (; i + 16 <= dv; i += 16) {
            float32x4_t a0 = vld1q_f32(orow + i), a1 = vld1q_f32(orow + i + 4);
            float32x4_t a2 = vld1q_f32(orow + i + 8), a3 = vld1q_f32(orow + i + 12);
            for (int32_t j = j0; j < j1; j++) {
                const float32x4_t b = vdupq_n_f32(pr[j]);
                const float* vj = v + j * dv + i;
                a0 = vfmaq_f32(a0, b, vld1q_f32(vj));
                a1 = vfmaq_f32(a1, b, vld1q_f32(vj + 4));
                a2 = vfmaq_f32(a2, b, vld1q_f32(vj + 8));
                a3 = vfmaq_f32(a3, b, vld1q_f32(vj + 12));
            }
            vst1q_f32(orow + i, a0);
            vst1q_f32(orow + i + 4, a1);
            vst1q_f32(orow + i + 8, a2);
            vst1q_f32(orow + i + 12, a3);
        }
        for (; i < dv; i++) {
            float a = orow[i];
            for (int32_t j = j0; j < j1; j++) a = std::fma(pr[j], v[j * dv + i], a);
            orow[i] = a;
        }
    }
}

}  // namespace neon

const KernelTable* kernels_neon() {
    static const KernelTable table = {
        "neon", neon::dot_f32, neon::fp16_to_f32_row, neon::f32_to_fp16_row, neon::bf16_to_f32_row,
        generic::exp_shift, generic::axpy_f32, generic::scale_f32,
        neon::attn_scores, neon::attn_pv, generic::attn_transpose, generic::attn_softmax,
        generic::attn_load_k_f16, generic::attn_load_v_f16,
    };
    return &table;
}

}  // namespace rl

#else

namespace rl {
const KernelTable* kernels_neon() { return nullptr; }
}  // namespace rl

#endif
