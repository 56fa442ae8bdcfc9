// AVX-512 (F/BW/VL/DQ) tier. Compiled with its own flags; reached only through the kernel table.
// Exercised wherever the CPU has AVX-512 (the development machine is an AMD EPYC with it).
#include "../kernel_table.h"

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__)
#include <immintrin.h>

#include <cmath>

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

// Attention tiles (kernel_table.h). Scores: lanes over the 32 keys of the tile (two registers per
// query row, up to 6 rows at once); P.V: lanes over value elements, up to 4 rows x 64 elements held
// in registers across the tile's keys. Each output is one FMA chain in the reference order.
#define RL_UNROLL_ALL _Pragma("GCC unroll 16")

template <int NR>
static inline void scores_rows(const float* q, int64_t dk, const float* kt, float scale, float* s) {
    __m512 a0[NR], a1[NR];
    RL_UNROLL_ALL for (int r = 0; r < NR; r++) a0[r] = a1[r] = _mm512_setzero_ps();
    for (int64_t d = 0; d < dk; d++) {
        const __m512 k0 = _mm512_loadu_ps(kt + d * kAttnKeys), k1 = _mm512_loadu_ps(kt + d * kAttnKeys + 16);
        RL_UNROLL_ALL for (int r = 0; r < NR; r++) {
            const __m512 b = _mm512_set1_ps(q[r * dk + d]);
            a0[r] = _mm512_fmadd_ps(b, k0, a0[r]);
            a1[r] = _mm512_fmadd_ps(b, k1, a1[r]);
        }
    }
    const __m512 vs = _mm512_set1_ps(scale);
    RL_UNROLL_ALL for (int r = 0; r < NR; r++) {
        _mm512_storeu_ps(s + r * kAttnKeys, _mm512_mul_ps(a0[r], vs));
        _mm512_storeu_ps(s + r * kAttnKeys + 16, _mm512_mul_ps(a1[r], vs));
    }
}

static void attn_scores(const float* q, int32_t rows, int64_t dk, const float* kt, float scale, float* s) {
    int32_t r = 0;
    for (; r + 6 <= rows; r += 6) scores_rows<6>(q + r * dk, dk, kt, scale, s + r * kAttnKeys);
    switch (rows - r) {
        case 5: scores_rows<5>(q + r * dk, dk, kt, scale, s + r * kAttnKeys); break;
        case 4: scores_rows<4>(q + r * dk, dk, kt, scale, s + r * kAttnKeys); break;
        case 3: scores_rows<3>(q + r * dk, dk, kt, scale, s + r * kAttnKeys); break;
        case 2: scores_rows<2>(q + r * dk, dk, kt, scale, s + r * kAttnKeys); break;
        case 1: scores_rows<1>(q + r * dk, dk, kt, scale, s + r * kAttnKeys); break;
        default: break;
    }
}

// NR rows x NV registers of 16 value elements from o/v (already offset to the first element);
// a partial last register when MASK.
template <int NR, int NV, bool MASK>
static inline void pv_block(float* o, int64_t dv, const float* p, const float* v, int32_t j0, int32_t j1,
                            __mmask16 mk) {
    __m512 acc[NR][NV];
    RL_UNROLL_ALL for (int r = 0; r < NR; r++) RL_UNROLL_ALL for (int c = 0; c < NV; c++)
        acc[r][c] = MASK ? _mm512_maskz_loadu_ps(mk, o + r * dv + 16 * c) : _mm512_loadu_ps(o + r * dv + 16 * c);
    for (int32_t j = j0; j < j1; j++) {
        __m512 vv[NV];
        RL_UNROLL_ALL for (int c = 0; c < NV; c++)
            vv[c] = MASK ? _mm512_maskz_loadu_ps(mk, v + j * dv + 16 * c) : _mm512_loadu_ps(v + j * dv + 16 * c);
        RL_UNROLL_ALL for (int r = 0; r < NR; r++) {
            const __m512 b = _mm512_set1_ps(p[r * kAttnKeys + j]);
            RL_UNROLL_ALL for (int c = 0; c < NV; c++) acc[r][c] = _mm512_fmadd_ps(b, vv[c], acc[r][c]);
        }
    }
    RL_UNROLL_ALL for (int r = 0; r < NR; r++) RL_UNROLL_ALL for (int c = 0; c < NV; c++) {
        if (MASK)
            _mm512_mask_storeu_ps(o + r * dv + 16 * c, mk, acc[r][c]);
        else
            _mm512_storeu_ps(o + r * dv + 16 * c, acc[r][c]);
    }
}

template <int NR>
static inline void pv_rows(float* o, int64_t dv, const float* p, const float* v, int32_t j0, int32_t j1) {
    int64_t i = 0;
    for (; i + 64 <= dv; i += 64) pv_block<NR, 4, false>(o + i, dv, p, v + i, j0, j1, 0);
    for (; i + 16 <= dv; i += 16) pv_block<NR, 1, false>(o + i, dv, p, v + i, j0, j1, 0);
    if (i < dv) pv_block<NR, 1, true>(o + i, dv, p, v + i, j0, j1, (__mmask16)((1u << (dv - i)) - 1));
}

static void attn_pv(float* o, int32_t rows, int64_t dv, const float* p, const float* v, int32_t j0, int32_t j1) {
    int32_t r = 0;
    for (; r + 4 <= rows; r += 4) pv_rows<4>(o + r * dv, dv, p + r * kAttnKeys, v, j0, j1);
    switch (rows - r) {
        case 3: pv_rows<3>(o + r * dv, dv, p + r * kAttnKeys, v, j0, j1); break;
        case 2: pv_rows<2>(o + r * dv, dv, p + r * kAttnKeys, v, j0, j1); break;
        case 1: pv_rows<1>(o + r * dv, dv, p + r * kAttnKeys, v, j0, j1); break;
        default: break;
    }
}

// 16 x 16 floats in registers: unpack pairs, then 64-bit pairs, then 128-bit lanes twice.
static inline void transpose16(__m512 r[16]) {
    __m512 t[16], u[16];
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int i = 0; i < 4; i++) {
        const __m512d a = _mm512_castps_pd(t[4 * i]), b = _mm512_castps_pd(t[4 * i + 1]);
        const __m512d c = _mm512_castps_pd(t[4 * i + 2]), d = _mm512_castps_pd(t[4 * i + 3]);
        u[4 * i] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));
        u[4 * i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
        u[4 * i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, d));
        u[4 * i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, d));
    }
    // u[4i + c]: rows 4i..4i+3, columns c, c+4, c+8, c+12 (one 128-bit lane each)
    for (int h = 0; h < 2; h++)
        for (int c = 0; c < 4; c++) {
            t[8 * h + c] = _mm512_shuffle_f32x4(u[8 * h + c], u[8 * h + 4 + c], 0x88);      // columns c, c+8
            t[8 * h + 4 + c] = _mm512_shuffle_f32x4(u[8 * h + c], u[8 * h + 4 + c], 0xdd);  // c+4, c+12
        }
    for (int c = 0; c < 8; c++) {
        r[c] = _mm512_shuffle_f32x4(t[c], t[8 + c], 0x88);
        r[c + 8] = _mm512_shuffle_f32x4(t[c], t[8 + c], 0xdd);
    }
}

static void attn_transpose(const float* x, int64_t n, float* y) {
    int64_t d0 = 0;
    for (; d0 + 16 <= n; d0 += 16)
        for (int32_t j0 = 0; j0 < kAttnKeys; j0 += 16) {
            __m512 r[16];
            for (int i = 0; i < 16; i++) r[i] = _mm512_loadu_ps(x + (j0 + i) * n + d0);
            transpose16(r);
            for (int i = 0; i < 16; i++) _mm512_storeu_ps(y + (d0 + i) * kAttnKeys + j0, r[i]);
        }
    for (; d0 < n; d0++)
        for (int32_t j = 0; j < kAttnKeys; j++) y[d0 * kAttnKeys + j] = x[j * n + d0];
}

static void attn_load_k_f16(const uint16_t* const* rows, int64_t n, float* kt) {
    int64_t d0 = 0;
    for (; d0 + 16 <= n; d0 += 16)
        for (int32_t j0 = 0; j0 < kAttnKeys; j0 += 16) {
            __m512 r[16];
            for (int i = 0; i < 16; i++)
                r[i] = rows[j0 + i] ? _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i*)(rows[j0 + i] + d0)))
                                    : _mm512_setzero_ps();
            transpose16(r);
            for (int i = 0; i < 16; i++) _mm512_storeu_ps(kt + (d0 + i) * kAttnKeys + j0, r[i]);
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
        for (; d + 16 <= n; d += 16) _mm512_storeu_ps(y + d, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i*)(rows[j] + d))));
        for (; d < n; d++) y[d] = fp16_to_fp32(rows[j][d]);
    }
}

// avx2's exp8 on 16 lanes (the same operations per lane, so the same values).
static inline __m512 exp16(__m512 x) {
    x = _mm512_min_ps(x, _mm512_set1_ps(88.3762626647949f));
    const __m512 k = _mm512_roundscale_ps(_mm512_fmadd_ps(x, _mm512_set1_ps(1.44269504088896341f), _mm512_set1_ps(0.5f)),
                                          _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(k, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(k, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    const __m512i e = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvttps_epi32(k), _mm512_set1_epi32(127)), 23);
    return _mm512_mul_ps(p, _mm512_castsi512_ps(e));
}

static void attn_softmax(float* s, int32_t rows, float* m, float* l, float* o, int64_t dv) {
    const __m512 ninf = _mm512_set1_ps(-INFINITY), lo = _mm512_set1_ps(kExpUnderflow);
    for (int32_t r = 0; r < rows; r++) {
        float* sr = s + r * kAttnKeys;
        const __m512 x0 = _mm512_max_ps(_mm512_loadu_ps(sr), ninf), x1 = _mm512_max_ps(_mm512_loadu_ps(sr + 16), ninf);
        const float t = _mm512_reduce_max_ps(_mm512_max_ps(x0, x1));
        if (!(t > -INFINITY)) {
            _mm512_storeu_ps(sr, _mm512_setzero_ps());
            _mm512_storeu_ps(sr + 16, _mm512_setzero_ps());
            continue;
        }
        if (t > m[r]) {
            const float c = std::exp(m[r] - t);
            float* orow = o + r * dv;
            const __m512 vc = _mm512_set1_ps(c);
            int64_t i = 0;
            for (; i + 16 <= dv; i += 16) _mm512_storeu_ps(orow + i, _mm512_mul_ps(vc, _mm512_loadu_ps(orow + i)));
            for (; i < dv; i++) orow[i] *= c;
            l[r] *= c;
            m[r] = t;
        }
        const __m512 vm = _mm512_set1_ps(m[r]);
        const __m512 d0 = _mm512_sub_ps(x0, vm), d1 = _mm512_sub_ps(x1, vm);
        const __m512 y0 = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(d0, lo, _CMP_GE_OQ), exp16(_mm512_max_ps(d0, lo)));
        const __m512 y1 = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(d1, lo, _CMP_GE_OQ), exp16(_mm512_max_ps(d1, lo)));
        _mm512_storeu_ps(sr, y0);
        _mm512_storeu_ps(sr + 16, y1);
        l[r] += _mm512_reduce_add_ps(_mm512_add_ps(y0, y1));
    }
}

}  // namespace avx512

const KernelTable* kernels_avx512() {
    static const KernelTable table = {
        "avx512", avx512::dot_f32, avx512::fp16_to_f32_row, avx512::f32_to_fp16_row,
        avx512::bf16_to_f32_row, avx2::exp_shift, avx2::axpy_f32, avx2::scale_f32,
        avx512::attn_scores, avx512::attn_pv, avx512::attn_transpose, avx512::attn_softmax,
        avx512::attn_load_k_f16, avx512::attn_load_v_f16,
    };
    return &table;
}

}  // namespace rl

#else

namespace rl {
const KernelTable* kernels_avx512() { return nullptr; }
}  // namespace rl

#endif
