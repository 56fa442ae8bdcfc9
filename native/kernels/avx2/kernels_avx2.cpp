// AVX2 + FMA + F16C tier. Compiled with -mavx2 -mfma -mf16c in its own translation unit;
// only reached through the kernel table after cpuid/xgetbv said the CPU can run it.
#include "../kernel_table.h"

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include <immintrin.h>

#include <cmath>

#include "../fp16.h"

namespace rl {
namespace avx2 {

static inline float hsum_256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static inline float dot_inline(const float* a, const float* b, int64_t n) {
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    __m256 acc2 = _mm256_setzero_ps(), acc3 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), acc1);
        acc2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16), acc2);
        acc3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24), acc3);
    }
    for (; i + 8 <= n; i += 8) acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
    float s = hsum_256(_mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3)));
    for (; i < n; i++) s += a[i] * b[i];
    return s;
}

float dot_f32(const float* a, const float* b, int64_t n) { return dot_inline(a, b, n); }

void fp16_to_f32_row(const uint16_t* x, float* y, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m128i h = _mm_loadu_si128((const __m128i*)(x + i));
        _mm256_storeu_ps(y + i, _mm256_cvtph_ps(h));
    }
    for (; i < n; i++) y[i] = fp16_to_fp32(x[i]);
}

void f32_to_fp16_row(const float* x, uint16_t* y, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT);
        _mm_storeu_si128((__m128i*)(y + i), h);
    }
    for (; i < n; i++) y[i] = fp32_to_fp16(x[i]);
}

void bf16_to_f32_row(const uint16_t* x, float* y, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i*)(x + i)));
        _mm256_storeu_ps(y + i, _mm256_castsi256_ps(_mm256_slli_epi32(w, 16)));
    }
    for (; i < n; i++) y[i] = bf16_to_fp32(x[i]);
}

// exp(x) for x in [kExpUnderflow, 88.7]: x = k ln2 + r (ln2 split in two for an exact k ln2),
// exp(r) by a degree-6 polynomial on |r| <= ln2/2, times 2^k from the exponent bits. About 2 ulp.
static inline __m256 exp8(__m256 x) {
    x = _mm256_min_ps(x, _mm256_set1_ps(88.3762626647949f));
    const __m256 k = _mm256_floor_ps(_mm256_fmadd_ps(x, _mm256_set1_ps(1.44269504088896341f), _mm256_set1_ps(0.5f)));
    __m256 r = _mm256_fnmadd_ps(k, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(k, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvttps_epi32(k), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

float exp_shift(float* x, int64_t n, float m) {
    const __m256 vm = _mm256_set1_ps(m), lo = _mm256_set1_ps(kExpUnderflow);
    __m256 acc = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 d = _mm256_sub_ps(_mm256_loadu_ps(x + i), vm);
        // below the cut-off (and -inf, NaN) -> 0
        const __m256 y = _mm256_and_ps(exp8(_mm256_max_ps(d, lo)), _mm256_cmp_ps(d, lo, _CMP_GE_OQ));
        _mm256_storeu_ps(x + i, y);
        acc = _mm256_add_ps(acc, y);
    }
    float s = hsum_256(acc);
    for (; i < n; i++) {
        const float d = x[i] - m;
        float y = 0.0f;
        if (d >= kExpUnderflow) {
            alignas(32) float t[8];
            _mm256_store_ps(t, exp8(_mm256_set1_ps(d)));
            y = t[0];
        }
        x[i] = y;
        s += y;
    }
    return s;
}

void axpy_f32(float* y, float a, const float* x, int64_t n) {
    const __m256 va = _mm256_set1_ps(a);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
    for (; i < n; i++) y[i] += a * x[i];
}

void scale_f32(float* y, float a, int64_t n) {
    const __m256 va = _mm256_set1_ps(a);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_mul_ps(va, _mm256_loadu_ps(y + i)));
    for (; i < n; i++) y[i] *= a;
}

// Attention tiles (kernel_table.h): as the AVX-512 tier with 8 lanes; two query rows x 32 keys
// (scores) and two rows x 32 value elements (P.V) in registers. One FMA chain per output.
#define RL_UNROLL_ALL _Pragma("GCC unroll 16")

template <int NR>
static inline void scores_rows(const float* q, int64_t dk, const float* kt, float scale, float* s) {
    __m256 acc[NR][4];
    RL_UNROLL_ALL for (int r = 0; r < NR; r++) RL_UNROLL_ALL for (int c = 0; c < 4; c++) acc[r][c] = _mm256_setzero_ps();
    for (int64_t d = 0; d < dk; d++) {
        __m256 k[4];
        RL_UNROLL_ALL for (int c = 0; c < 4; c++) k[c] = _mm256_loadu_ps(kt + d * kAttnKeys + 8 * c);
        RL_UNROLL_ALL for (int r = 0; r < NR; r++) {
            const __m256 b = _mm256_set1_ps(q[r * dk + d]);
            RL_UNROLL_ALL for (int c = 0; c < 4; c++) acc[r][c] = _mm256_fmadd_ps(b, k[c], acc[r][c]);
        }
    }
    const __m256 vs = _mm256_set1_ps(scale);
    RL_UNROLL_ALL for (int r = 0; r < NR; r++) RL_UNROLL_ALL for (int c = 0; c < 4; c++)
        _mm256_storeu_ps(s + r * kAttnKeys + 8 * c, _mm256_mul_ps(acc[r][c], vs));
}

static void attn_scores(const float* q, int32_t rows, int64_t dk, const float* kt, float scale, float* s) {
    int32_t r = 0;
    for (; r + 2 <= rows; r += 2) scores_rows<2>(q + r * dk, dk, kt, scale, s + r * kAttnKeys);
    if (r < rows) scores_rows<1>(q + r * dk, dk, kt, scale, s + r * kAttnKeys);
}

template <int NR, int NV>
static inline void pv_block(float* o, int64_t dv, const float* p, const float* v, int32_t j0, int32_t j1) {
    __m256 acc[NR][NV];
    RL_UNROLL_ALL for (int r = 0; r < NR; r++) RL_UNROLL_ALL for (int c = 0; c < NV; c++)
        acc[r][c] = _mm256_loadu_ps(o + r * dv + 8 * c);
    for (int32_t j = j0; j < j1; j++) {
        __m256 vv[NV];
        RL_UNROLL_ALL for (int c = 0; c < NV; c++) vv[c] = _mm256_loadu_ps(v + j * dv + 8 * c);
        RL_UNROLL_ALL for (int r = 0; r < NR; r++) {
            const __m256 b = _mm256_set1_ps(p[r * kAttnKeys + j]);
            RL_UNROLL_ALL for (int c = 0; c < NV; c++) acc[r][c] = _mm256_fmadd_ps(b, vv[c], acc[r][c]);
        }
    }
    RL_UNROLL_ALL for (int r = 0; r < NR; r++) RL_UNROLL_ALL for (int c = 0; c < NV; c++)
        _mm256_storeu_ps(o + r * dv + 8 * c, acc[r][c]);
}

template <int NR>
static inline void pv_rows(float* o, int64_t dv, const float* p, const float* v, int32_t j0, int32_t j1) {
    int64_t i = 0;
    for (; i + 32 <= dv; i += 32) pv_block<NR, 4>(o + i, dv, p, v + i, j0, j1);
    for (; i + 8 <= dv; i += 8) pv_block<NR, 1>(o + i, dv, p, v + i, j0, j1);
    for (; i < dv; i++)
        for (int r = 0; r < NR; r++) {
            float a = o[r * dv + i];
            for (int32_t j = j0; j < j1; j++) a = std::fma(p[r * kAttnKeys + j], v[j * dv + i], a);
            o[r * dv + i] = a;
        }
}

static void attn_pv(float* o, int32_t rows, int64_t dv, const float* p, const float* v, int32_t j0, int32_t j1) {
    int32_t r = 0;
    for (; r + 2 <= rows; r += 2) pv_rows<2>(o + r * dv, dv, p + r * kAttnKeys, v, j0, j1);
    if (r < rows) pv_rows<1>(o + r * dv, dv, p + r * kAttnKeys, v, j0, j1);
}

// 8 x 8 floats in registers: unpack pairs, 64-bit shuffles, then 128-bit halves.
static inline void transpose8(__m256 r[8]) {
    __m256 t[8], u[8];
    for (int i = 0; i < 4; i++) {
        t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int i = 0; i < 2; i++) {
        u[4 * i] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
        u[4 * i + 1] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0xEE);
        u[4 * i + 2] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
        u[4 * i + 3] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xEE);
    }
    for (int c = 0; c < 4; c++) {
        r[c] = _mm256_permute2f128_ps(u[c], u[4 + c], 0x20);
        r[c + 4] = _mm256_permute2f128_ps(u[c], u[4 + c], 0x31);
    }
}

static void attn_transpose(const float* x, int64_t n, float* y) {
    int64_t d0 = 0;
    for (; d0 + 8 <= n; d0 += 8)
        for (int32_t j0 = 0; j0 < kAttnKeys; j0 += 8) {
            __m256 r[8];
            for (int i = 0; i < 8; i++) r[i] = _mm256_loadu_ps(x + (j0 + i) * n + d0);
            transpose8(r);
            for (int i = 0; i < 8; i++) _mm256_storeu_ps(y + (d0 + i) * kAttnKeys + j0, r[i]);
        }
    for (; d0 < n; d0++)
        for (int32_t j = 0; j < kAttnKeys; j++) y[d0 * kAttnKeys + j] = x[j * n + d0];
}

static void attn_load_k_f16(const uint16_t* const* rows, int64_t n, float* kt) {
    int64_t d0 = 0;
    for (; d0 + 8 <= n; d0 += 8)
        for (int32_t j0 = 0; j0 < kAttnKeys; j0 += 8) {
            __m256 r[8];
            for (int i = 0; i < 8; i++)
                r[i] = rows[j0 + i] ? _mm256_cvtph_ps(_mm_loadu_si128((const __m128i*)(rows[j0 + i] + d0))) : _mm256_setzero_ps();
            transpose8(r);
            for (int i = 0; i < 8; i++) _mm256_storeu_ps(kt + (d0 + i) * kAttnKeys + j0, r[i]);
        }
    for (; d0 < n; d0++)
        for (int32_t j = 0; j < kAttnKeys; j++) kt[d0 * kAttnKeys + j] = rows[j] ? fp16_to_fp32(rows[j][d0]) : 0.0f;
}

static void attn_load_v_f16(const uint16_t* const* rows, int64_t n, float* out) {
    for (int32_t j = 0; j < kAttnKeys; j++) {
        float* y = out + j * n;
        if (!rows[j]) {
            for (int64_t d = 0; d < n; d++) y[d] = 0.0f;
            continue;
        }
        int64_t d = 0;
        for (; d + 8 <= n; d += 8) _mm256_storeu_ps(y + d, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i*)(rows[j] + d))));
        for (; d < n; d++) y[d] = fp16_to_fp32(rows[j][d]);
    }
}

static void attn_softmax(float* s, int32_t rows, float* m, float* l, float* o, int64_t dv) {
    const __m256 ninf = _mm256_set1_ps(-INFINITY), lo = _mm256_set1_ps(kExpUnderflow);
    for (int32_t r = 0; r < rows; r++) {
        float* sr = s + r * kAttnKeys;
        __m256 x[4];
        for (int c = 0; c < 4; c++) x[c] = _mm256_max_ps(_mm256_loadu_ps(sr + 8 * c), ninf);  // NaN -> -inf
        __m256 mx = _mm256_max_ps(_mm256_max_ps(x[0], x[1]), _mm256_max_ps(x[2], x[3]));
        __m128 h = _mm_max_ps(_mm256_castps256_ps128(mx), _mm256_extractf128_ps(mx, 1));
        h = _mm_max_ps(h, _mm_movehl_ps(h, h));
        h = _mm_max_ss(h, _mm_movehdup_ps(h));
        const float t = _mm_cvtss_f32(h);
        if (!(t > -INFINITY)) {
            for (int c = 0; c < 4; c++) _mm256_storeu_ps(sr + 8 * c, _mm256_setzero_ps());
            continue;
        }
        if (t > m[r]) {
            const float c = std::exp(m[r] - t);
            scale_f32(o + r * dv, c, dv);
            l[r] *= c;
            m[r] = t;
        }
        const __m256 vm = _mm256_set1_ps(m[r]);
        __m256 acc = _mm256_setzero_ps();
        for (int c = 0; c < 4; c++) {
            const __m256 d = _mm256_sub_ps(x[c], vm);
            const __m256 y = _mm256_and_ps(exp8(_mm256_max_ps(d, lo)), _mm256_cmp_ps(d, lo, _CMP_GE_OQ));
            _mm256_storeu_ps(sr + 8 * c, y);
            acc = _mm256_add_ps(acc, y);
        }
        l[r] += hsum_256(acc);
    }
}

}  // namespace avx2

const KernelTable* kernels_avx2() {
    static const KernelTable table = {
        "avx2", avx2::dot_f32, avx2::fp16_to_f32_row, avx2::f32_to_fp16_row, avx2::bf16_to_f32_row,
        avx2::exp_shift, avx2::axpy_f32, avx2::scale_f32,
        avx2::attn_scores, avx2::attn_pv, avx2::attn_transpose, avx2::attn_softmax,
        avx2::attn_load_k_f16, avx2::attn_load_v_f16,
    };
    return &table;
}

}  // namespace rl

#else

namespace rl {
const KernelTable* kernels_avx2() { return nullptr; }
}  // namespace rl

#endif
