// NEON weight-type kernels: same names and meaning as generic::, bit-identical to it (tested under
// qemu-aarch64 by scripts/test-neon.sh). Integer block dots in NEON registers (SDOT when the build
// targets dotprod, else vmull_s8 + vpadalq_s16), then the block terms summed in double in exactly
// generic's order. Functions not written here forward to generic::.
#include "../quants.h"

#if defined(__aarch64__) && defined(__ARM_NEON)
#include <arm_neon.h>

#include <cmath>
#include <cstring>

#include "../fp16.h"

namespace rl {
namespace neon {

// Block layouts, kept in step with generic/quants_generic.cpp (sizes asserted there and here).
struct BlockQ4_0 {
    uint16_t d;
    uint8_t qs[16];  // element j in the low nibble, j+16 in the high nibble
};
struct BlockQ4K {
    uint16_t d, dmin;
    uint8_t scales[12];  // 8 six-bit scales and 8 six-bit mins
    uint8_t qs[128];     // byte 32*(e>>6)+(e&31), nibble (e>>5)&1
};
struct BlockQ6K {
    uint8_t ql[128];  // low nibbles
    uint8_t qh[64];   // top 2 bits
    int8_t scales[16];
    uint16_t d;
};
static_assert(sizeof(BlockQ4_0) == 18 && sizeof(BlockQ8_0) == 34 && sizeof(BlockQ4K) == 144 &&
                  sizeof(BlockQ6K) == 210 && sizeof(BlockQ8K) == 292,
              "block sizes");

// Hardware half -> float (FCVT): exact, as fp16_to_fp32.
static inline float h2f(uint16_t h) { return vgetq_lane_f32(vcvt_f32_f16(vreinterpret_f16_u16(vdup_n_u16(h))), 0); }

// acc + the 16 products w[j] * a[j], as 4 int32 partial sums (exact).
static inline int32x4_t dot16_acc(int32x4_t acc, int8x16_t w, int8x16_t a) {
#if defined(__ARM_FEATURE_DOTPROD)
    return vdotq_s32(acc, w, a);
#else
    acc = vpadalq_s16(acc, vmull_s8(vget_low_s8(w), vget_low_s8(a)));
    return vpadalq_s16(acc, vmull_high_s8(w, a));
#endif
}

// Exact integer dot of 32 weights (two registers) with 32 int8 activations.
static inline int32_t dot32(int8x16_t w0, int8x16_t w1, const int8_t* a) {
    return vaddvq_s32(dot16_acc(dot16_acc(vdupq_n_s32(0), w0, vld1q_s8(a)), w1, vld1q_s8(a + 16)));
}

// Q4_0 block as signed values (nibble - 8): elements 0..15 in lo, 16..31 in hi.
static inline void q4_0_values(const uint8_t* qs, int8x16_t* lo, int8x16_t* hi) {
    const uint8x16_t raw = vld1q_u8(qs);
    const int8x16_t k8 = vdupq_n_s8(8);
    *lo = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(raw, vdupq_n_u8(15))), k8);
    *hi = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(raw, 4)), k8);
}

// ---------------------------------------------------------------- activation quantization

// |v| with NaN lanes set to 0 (generic's max loop skips NaN; FMAX would propagate it).
static inline float32x4_t abs_nonan(float32x4_t v) {
    const float32x4_t a = vabsq_f32(v);
    return vreinterpretq_f32_u32(vandq_u32(vreinterpretq_u32_f32(a), vceqq_f32(a, a)));
}

static inline float absmax(const float* x, int n) {
    float32x4_t m = vdupq_n_f32(0.0f);
    for (int j = 0; j < n; j += 4) m = vmaxq_f32(m, abs_nonan(vld1q_f32(x + j)));
    return vmaxvq_f32(m);
}

// NaN -> 0, then clamp to [-127, 127] (generic's clamp_q).
static inline float32x4_t clamp_q(float32x4_t v) {
    v = vreinterpretq_f32_u32(vandq_u32(vreinterpretq_u32_f32(v), vceqq_f32(v, v)));
    return vminq_f32(vmaxq_f32(v, vdupq_n_f32(-127.0f)), vdupq_n_f32(127.0f));
}

// 4 x 4 int32 in [-127, 127] -> 16 int8 in order.
static inline int8x16_t narrow16(int32x4_t a, int32x4_t b, int32x4_t c, int32x4_t d) {
    const int16x8_t ab = vcombine_s16(vmovn_s32(a), vmovn_s32(b)), cd = vcombine_s16(vmovn_s32(c), vmovn_s32(d));
    return vcombine_s8(vmovn_s16(ab), vmovn_s16(cd));
}

// q = round-half-away(x * id): FCVTAS rounds exactly as roundf.
void quantize_row_q8_0(const float* x, void* y, int64_t n) {
    BlockQ8_0* b = (BlockQ8_0*)y;
    for (int64_t i = 0; i < n / 32; i++, x += 32) {
        const float d = absmax(x, 32) / 127.0f;
        float id = d != 0.0f ? 1.0f / d : 0.0f;
        if (!std::isfinite(id)) id = 0.0f;
        b[i].d = fp32_to_fp16(d);
        for (int h = 0; h < 2; h++) {
            int32x4_t q[4];
            for (int k = 0; k < 4; k++) q[k] = vcvtaq_s32_f32(clamp_q(vmulq_n_f32(vld1q_f32(x + 16 * h + 4 * k), id)));
            vst1q_s8(b[i].qs + 16 * h, narrow16(q[0], q[1], q[2], q[3]));
        }
    }
}

// q = round-half-even(iscale * x): FCVTNS, as generic's nearest_int on clamped values.
void quantize_row_q8_K(const float* x, void* y, int64_t n) {
    BlockQ8K* b = (BlockQ8K*)y;
    for (int64_t i = 0; i < n / 256; i++, x += 256) {
        const float amax = absmax(x, 256);
        float max = 0.0f;
        for (int j = 0; j < 256; j++) {  // first element of that magnitude gives the sign
            if (std::fabs(x[j]) == amax) {
                max = x[j];
                break;
            }
        }
        float iscale = amax != 0.0f ? -127.0f / max : 0.0f;
        if (!std::isfinite(iscale)) iscale = 0.0f;
        b[i].d = iscale != 0.0f ? 1.0f / iscale : 0.0f;
        for (int g = 0; g < 16; g++) {
            int32x4_t q[4];
            for (int k = 0; k < 4; k++)
                q[k] = vcvtnq_s32_f32(clamp_q(vmulq_n_f32(vld1q_f32(x + 16 * g + 4 * k), iscale)));
            vst1q_s8(b[i].qs + 16 * g, narrow16(q[0], q[1], q[2], q[3]));
            b[i].bsums[g] = (int16_t)vaddvq_s32(vaddq_s32(vaddq_s32(q[0], q[1]), vaddq_s32(q[2], q[3])));
        }
    }
}

// ---------------------------------------------------------------- 32-element blocks

// Block i's term (double)(d_w * d_a) * isum goes to partial sum i % 4, combined as (s0 + s1) + (s2 + s3):
// the order generic:: specifies. The terms are exact in double, so only this order matters.
static inline float sum4(const double* s) { return (float)((s[0] + s[1]) + (s[2] + s[3])); }

float vec_dot_q8_0_q8_0(int64_t n, const void* w, const void* a) {
    const BlockQ8_0* x = (const BlockQ8_0*)w;
    const BlockQ8_0* y = (const BlockQ8_0*)a;
    double s[4] = {0.0, 0.0, 0.0, 0.0};
    for (int64_t i = 0; i < n / 32; i++) {
        const int32_t isum = dot32(vld1q_s8(x[i].qs), vld1q_s8(x[i].qs + 16), y[i].qs);
        s[i & 3] += (double)(h2f(x[i].d) * h2f(y[i].d)) * isum;
    }
    return sum4(s);
}

float vec_dot_q4_0_q8_0(int64_t n, const void* w, const void* a) {
    const BlockQ4_0* x = (const BlockQ4_0*)w;
    const BlockQ8_0* y = (const BlockQ8_0*)a;
    double s[4] = {0.0, 0.0, 0.0, 0.0};
    for (int64_t i = 0; i < n / 32; i++) {
        int8x16_t lo, hi;
        q4_0_values(x[i].qs, &lo, &hi);
        s[i & 3] += (double)(h2f(x[i].d) * h2f(y[i].d)) * dot32(lo, hi, y[i].qs);
    }
    return sum4(s);
}

// One weight row, 4 activation rows: the weight block is loaded (and unpacked) once; each row's
// terms and sums are those of the single-row kernel, so out[t] is bit-identical to it.
template <typename WBlock>
static inline void dot4_blocks32(int64_t nb, const uint8_t* a, size_t a_stride, WBlock wblock, float* out) {
    const BlockQ8_0* y[4];
    for (int t = 0; t < 4; t++) y[t] = (const BlockQ8_0*)(a + t * a_stride);
    double s[4][4] = {};
    for (int64_t i = 0; i < nb; i++) {
        int8x16_t w0, w1;
        const float wd = wblock(i, &w0, &w1);
        for (int t = 0; t < 4; t++) s[t][i & 3] += (double)(wd * h2f(y[t][i].d)) * dot32(w0, w1, y[t][i].qs);
    }
    for (int t = 0; t < 4; t++) out[t] = sum4(s[t]);
}

void vec_dot_q8_0_q8_0_x4(int64_t n, const void* w, const void* a, size_t a_stride, float* out) {
    const BlockQ8_0* x = (const BlockQ8_0*)w;
    dot4_blocks32(n / 32, (const uint8_t*)a, a_stride, [&](int64_t i, int8x16_t* w0, int8x16_t* w1) {
        *w0 = vld1q_s8(x[i].qs);
        *w1 = vld1q_s8(x[i].qs + 16);
        return h2f(x[i].d);
    }, out);
}

void vec_dot_q4_0_q8_0_x4(int64_t n, const void* w, const void* a, size_t a_stride, float* out) {
    const BlockQ4_0* x = (const BlockQ4_0*)w;
    dot4_blocks32(n / 32, (const uint8_t*)a, a_stride, [&](int64_t i, int8x16_t* w0, int8x16_t* w1) {
        q4_0_values(x[i].qs, w0, w1);
        return h2f(x[i].d);
    }, out);
}

// ---------------------------------------------------------------- K-quants

// Q4_K scale and min of sub-block j (0..7), as generic's k4_scale_min.
static inline void k4_scale_min(const uint8_t* s, int j, int* sc, int* m) {
    if (j < 4) {
        *sc = s[j] & 63;
        *m = s[j + 4] & 63;
    } else {
        *sc = (s[j + 4] & 0xf) | ((s[j - 4] >> 6) << 4);
        *m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
    }
}

// Per block: d*da*sum_sub(sc * dot) - dmin*da*sum_sub(m * bsum), integer sums exact.
float vec_dot_q4_K_q8_K(int64_t n, const void* w, const void* a) {
    const BlockQ4K* x = (const BlockQ4K*)w;
    const BlockQ8K* y = (const BlockQ8K*)a;
    const uint8x16_t m4 = vdupq_n_u8(15);
    double s = 0.0;
    for (int64_t i = 0; i < n / 256; i++) {
        int sc[8], m[8];
        for (int j = 0; j < 8; j++) k4_scale_min(x[i].scales, j, &sc[j], &m[j]);
        int32x4_t isum = vdupq_n_s32(0);
        int msum = 0;
        for (int j = 0; j < 4; j++) {  // 64 elements: sub-block 2j in the low nibbles, 2j+1 in the high
            const uint8x16_t r0 = vld1q_u8(x[i].qs + 32 * j), r1 = vld1q_u8(x[i].qs + 32 * j + 16);
            const int8_t* q = y[i].qs + 64 * j;
            int32x4_t p = dot16_acc(vdupq_n_s32(0), vreinterpretq_s8_u8(vandq_u8(r0, m4)), vld1q_s8(q));
            p = dot16_acc(p, vreinterpretq_s8_u8(vandq_u8(r1, m4)), vld1q_s8(q + 16));
            isum = vmlaq_n_s32(isum, p, sc[2 * j]);
            p = dot16_acc(vdupq_n_s32(0), vreinterpretq_s8_u8(vshrq_n_u8(r0, 4)), vld1q_s8(q + 32));
            p = dot16_acc(p, vreinterpretq_s8_u8(vshrq_n_u8(r1, 4)), vld1q_s8(q + 48));
            isum = vmlaq_n_s32(isum, p, sc[2 * j + 1]);
        }
        for (int j = 0; j < 8; j++) msum += m[j] * (y[i].bsums[2 * j] + y[i].bsums[2 * j + 1]);
        s += (double)(h2f(x[i].d) * y[i].d) * vaddvq_s32(isum) - (double)(h2f(x[i].dmin) * y[i].d) * msum;
    }
    return (float)s;
}

// Q6_K: elements 128n + 32k + l (l < 32) are ql[64n + l + 32(k&1)] nibble k>>1 and qh[32n + l]
// bits 2k, minus 32; one scale per 16 elements.
float vec_dot_q6_K_q8_K(int64_t n, const void* w, const void* a) {
    const BlockQ6K* x = (const BlockQ6K*)w;
    const BlockQ8K* y = (const BlockQ8K*)a;
    const uint8x16_t m4 = vdupq_n_u8(15), m2 = vdupq_n_u8(3);
    const int8x16_t k32 = vdupq_n_s8(32);
    double s = 0.0;
    for (int64_t i = 0; i < n / 256; i++) {
        int32x4_t isum = vdupq_n_s32(0);
        for (int nh = 0; nh < 2; nh++) {
            const uint8_t* ql = x[i].ql + 64 * nh;
            const uint8_t* qh = x[i].qh + 32 * nh;
            for (int h = 0; h < 2; h++) {  // l in 16h .. 16h + 15
                const uint8x16_t l0 = vld1q_u8(ql + 16 * h), l1 = vld1q_u8(ql + 32 + 16 * h);
                const uint8x16_t hb = vld1q_u8(qh + 16 * h);
                const uint8x16_t lo[4] = {vandq_u8(l0, m4), vandq_u8(l1, m4), vshrq_n_u8(l0, 4), vshrq_n_u8(l1, 4)};
                const uint8x16_t hi[4] = {vandq_u8(hb, m2), vandq_u8(vshrq_n_u8(hb, 2), m2),
                                          vandq_u8(vshrq_n_u8(hb, 4), m2), vshrq_n_u8(hb, 6)};
                for (int k = 0; k < 4; k++) {
                    const int8x16_t q = vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(lo[k], vshlq_n_u8(hi[k], 4))), k32);
                    const int e = 128 * nh + 32 * k + 16 * h;
                    const int32x4_t p = dot16_acc(vdupq_n_s32(0), q, vld1q_s8(y[i].qs + e));
                    isum = vmlaq_n_s32(isum, p, x[i].scales[e / 16]);
                }
            }
        }
        s += (double)(h2f(x[i].d) * y[i].d) * vaddvq_s32(isum);
    }
    return (float)s;
}

// ---------------------------------------------------------------- forwarded to the reference

void dequantize_row_f32(const void* x, float* y, int64_t n) { generic::dequantize_row_f32(x, y, n); }
void dequantize_row_f16(const void* x, float* y, int64_t n) { generic::dequantize_row_f16(x, y, n); }
void dequantize_row_bf16(const void* x, float* y, int64_t n) { generic::dequantize_row_bf16(x, y, n); }
void dequantize_row_q8_0(const void* x, float* y, int64_t n) { generic::dequantize_row_q8_0(x, y, n); }
void dequantize_row_q4_0(const void* x, float* y, int64_t n) { generic::dequantize_row_q4_0(x, y, n); }
void dequantize_row_q4_1(const void* x, float* y, int64_t n) { generic::dequantize_row_q4_1(x, y, n); }
void dequantize_row_q5_0(const void* x, float* y, int64_t n) { generic::dequantize_row_q5_0(x, y, n); }
void dequantize_row_q5_1(const void* x, float* y, int64_t n) { generic::dequantize_row_q5_1(x, y, n); }
void dequantize_row_q2_K(const void* x, float* y, int64_t n) { generic::dequantize_row_q2_K(x, y, n); }
void dequantize_row_q3_K(const void* x, float* y, int64_t n) { generic::dequantize_row_q3_K(x, y, n); }
void dequantize_row_q4_K(const void* x, float* y, int64_t n) { generic::dequantize_row_q4_K(x, y, n); }
void dequantize_row_q5_K(const void* x, float* y, int64_t n) { generic::dequantize_row_q5_K(x, y, n); }
void dequantize_row_q6_K(const void* x, float* y, int64_t n) { generic::dequantize_row_q6_K(x, y, n); }
void dequantize_row_iq4_nl(const void* x, float* y, int64_t n) { generic::dequantize_row_iq4_nl(x, y, n); }
void dequantize_row_iq4_xs(const void* x, float* y, int64_t n) { generic::dequantize_row_iq4_xs(x, y, n); }
float vec_dot_f32_f32(int64_t n, const void* w, const void* a) { return generic::vec_dot_f32_f32(n, w, a); }
float vec_dot_f16_f32(int64_t n, const void* w, const void* a) { return generic::vec_dot_f16_f32(n, w, a); }
float vec_dot_bf16_f32(int64_t n, const void* w, const void* a) { return generic::vec_dot_bf16_f32(n, w, a); }
float vec_dot_q4_1_q8_0(int64_t n, const void* w, const void* a) { return generic::vec_dot_q4_1_q8_0(n, w, a); }
float vec_dot_q5_0_q8_0(int64_t n, const void* w, const void* a) { return generic::vec_dot_q5_0_q8_0(n, w, a); }
float vec_dot_q5_1_q8_0(int64_t n, const void* w, const void* a) { return generic::vec_dot_q5_1_q8_0(n, w, a); }
float vec_dot_iq4_nl_q8_0(int64_t n, const void* w, const void* a) { return generic::vec_dot_iq4_nl_q8_0(n, w, a); }
float vec_dot_q2_K_q8_K(int64_t n, const void* w, const void* a) { return generic::vec_dot_q2_K_q8_K(n, w, a); }
float vec_dot_q3_K_q8_K(int64_t n, const void* w, const void* a) { return generic::vec_dot_q3_K_q8_K(n, w, a); }
float vec_dot_q5_K_q8_K(int64_t n, const void* w, const void* a) { return generic::vec_dot_q5_K_q8_K(n, w, a); }
float vec_dot_iq4_xs_q8_K(int64_t n, const void* w, const void* a) { return generic::vec_dot_iq4_xs_q8_K(n, w, a); }

}  // namespace neon
}  // namespace rl

#else  // not aarch64: every entry forwards to the reference (the table never selects these)

namespace rl {
namespace neon {

void dequantize_row_f32(const void* x, float* y, int64_t n) { generic::dequantize_row_f32(x, y, n); }
void dequantize_row_f16(const void* x, float* y, int64_t n) { generic::dequantize_row_f16(x, y, n); }
void dequantize_row_bf16(const void* x, float* y, int64_t n) { generic::dequantize_row_bf16(x, y, n); }
void dequantize_row_q8_0(const void* x, float* y, int64_t n) { generic::dequantize_row_q8_0(x, y, n); }
void dequantize_row_q4_0(const void* x, float* y, int64_t n) { generic::dequantize_row_q4_0(x, y, n); }
void dequantize_row_q4_1(const void* x, float* y, int64_t n) { generic::dequantize_row_q4_1(x, y, n); }
void dequantize_row_q5_0(const void* x, float* y, int64_t n) { generic::dequantize_row_q5_0(x, y, n); }
void dequantize_row_q5_1(const void* x, float* y, int64_t n) { generic::dequantize_row_q5_1(x, y, n); }
void dequantize_row_q2_K(const void* x, float* y, int64_t n) { generic::dequantize_row_q2_K(x, y, n); }
void dequantize_row_q3_K(const void* x, float* y, int64_t n) { generic::dequantize_row_q3_K(x, y, n); }
void dequantize_row_q4_K(const void* x, float* y, int64_t n) { generic::dequantize_row_q4_K(x, y, n); }
void dequantize_row_q5_K(const void* x, float* y, int64_t n) { generic::dequantize_row_q5_K(x, y, n); }
void dequantize_row_q6_K(const void* x, float* y, int64_t n) { generic::dequantize_row_q6_K(x, y, n); }
void dequantize_row_iq4_nl(const void* x, float* y, int64_t n) { generic::dequantize_row_iq4_nl(x, y, n); }
void dequantize_row_iq4_xs(const void* x, float* y, int64_t n) { generic::dequantize_row_iq4_xs(x, y, n); }
void quantize_row_q8_0(const float* x, void* y, int64_t n) { generic::quantize_row_q8_0(x, y, n); }
void quantize_row_q8_K(const float* x, void* y, int64_t n) { generic::quantize_row_q8_K(x, y, n); }
float vec_dot_f32_f32(int64_t n, const void* w, const void* a) { return generic::vec_dot_f32_f32(n, w, a); }
float vec_dot_f16_f32(int64_t n, const void* w, const void* a) { return generic::vec_dot_f16_f32(n, w, a); }
float vec_dot_bf16_f32(int64_t n, const void* w, const void* a) { return generic::vec_dot_bf16_f32(n, w, a); }
float vec_dot_q8_0_q8_0(int64_t n, const void* w, const void* a) { return generic::vec_dot_q8_0_q8_0(n, w, a); }
float vec_dot_q4_0_q8_0(int64_t n, const void* w, const void* a) { return generic::vec_dot_q4_0_q8_0(n, w, a); }
float vec_dot_q4_1_q8_0(int64_t n, const void* w, const void* a) { return generic::vec_dot_q4_1_q8_0(n, w, a); }
float vec_dot_q5_0_q8_0(int64_t n, const void* w, const void* a) { return generic::vec_dot_q5_0_q8_0(n, w, a); }
float vec_dot_q5_1_q8_0(int64_t n, const void* w, const void* a) { return generic::vec_dot_q5_1_q8_0(n, w, a); }
float vec_dot_iq4_nl_q8_0(int64_t n, const void* w, const void* a) { return generic::vec_dot_iq4_nl_q8_0(n, w, a); }
float vec_dot_q2_K_q8_K(int64_t n, const void* w, const void* a) { return generic::vec_dot_q2_K_q8_K(n, w, a); }
float vec_dot_q3_K_q8_K(int64_t n, const void* w, const void* a) { return generic::vec_dot_q3_K_q8_K(n, w, a); }
float vec_dot_q4_K_q8_K(int64_t n, const void* w, const void* a) { return generic::vec_dot_q4_K_q8_K(n, w, a); }
float vec_dot_q5_K_q8_K(int64_t n, const void* w, const void* a) { return generic::vec_dot_q5_K_q8_K(n, w, a); }
float vec_dot_q6_K_q8_K(int64_t n, const void* w, const void* a) { return generic::vec_dot_q6_K_q8_K(n, w, a); }
float vec_dot_iq4_xs_q8_K(int64_t n, const void* w, const void* a) { return generic::vec_dot_iq4_xs_q8_K(n, w, a); }
void vec_dot_q8_0_q8_0_x4(int64_t n, const void* w, const void* a, size_t s, float* o) { generic::vec_dot_q8_0_q8_0_x4(n, w, a, s, o); }
void vec_dot_q4_0_q8_0_x4(int64_t n, const void* w, const void* a, size_t s, float* o) { generic::vec_dot_q4_0_q8_0_x4(n, w, a, s, o); }

}  // namespace neon
}  // namespace rl

#endif
