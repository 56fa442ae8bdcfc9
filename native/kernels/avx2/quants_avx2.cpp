// AVX2 + FMA + F16C weight-type kernels: same names and meaning as generic::, tested against it.
// Dequantize and quantized vec_dot are bit-identical to generic (integer block dots from maddubs/madd,
// block terms summed in double in block order); float-row dots sum exact products in double.
// Activations are assumed in [-127, 127] (both quantize_row_* guarantee it) so maddubs never saturates.
#include "../quants.h"

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include <immintrin.h>

#include "../fp16.h"

namespace rl {
namespace avx2 {

// Block layouts, kept in step with generic/quants_generic.cpp (sizes asserted there and here).
struct BlockQ4_0 {
    uint16_t d;
    uint8_t qs[16];
};
struct BlockQ4_1 {
    uint16_t d, m;
    uint8_t qs[16];
};
struct BlockQ5_0 {
    uint16_t d;
    uint8_t qh[4];
    uint8_t qs[16];
};
struct BlockQ5_1 {
    uint16_t d, m;
    uint8_t qh[4];
    uint8_t qs[16];
};
struct BlockIQ4NL {
    uint16_t d;
    uint8_t qs[16];
};
struct BlockQ2K {
    uint8_t scales[16];
    uint8_t qs[64];
    uint16_t d, dmin;
};
struct BlockQ3K {
    uint8_t hmask[32];
    uint8_t qs[64];
    uint8_t scales[12];
    uint16_t d;
};
struct BlockQ4K {
    uint16_t d, dmin;
    uint8_t scales[12];
    uint8_t qs[128];
};
struct BlockQ5K {
    uint16_t d, dmin;
    uint8_t scales[12];
    uint8_t qh[32];
    uint8_t qs[128];
};
struct BlockQ6K {
    uint8_t ql[128];
    uint8_t qh[64];
    int8_t scales[16];
    uint16_t d;
};
struct BlockIQ4XS {
    uint16_t d;
    uint16_t scales_h;
    uint8_t scales_l[4];
    uint8_t qs[128];
};
static_assert(sizeof(BlockQ4_0) == 18 && sizeof(BlockQ4_1) == 20 && sizeof(BlockQ5_0) == 22 &&
                  sizeof(BlockQ5_1) == 24 && sizeof(BlockIQ4NL) == 18 && sizeof(BlockQ8_0) == 34,
              "32-element block sizes");
static_assert(sizeof(BlockQ2K) == 84 && sizeof(BlockQ3K) == 110 && sizeof(BlockQ4K) == 144 &&
                  sizeof(BlockQ5K) == 176 && sizeof(BlockQ6K) == 210 && sizeof(BlockIQ4XS) == 136 &&
                  sizeof(BlockQ8K) == 292,
              "256-element block sizes");

alignas(16) static const int8_t kIQ4Values[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                                  1,    13,   25,  38,  53,  69,  89,  113};

// Hardware F16C convert: bit-identical to fp16_to_fp32 (the selftest checks all 65536 halves).
static inline float h2f(uint16_t h) { return _cvtsh_ss(h); }

// ---------------------------------------------------------------- helpers

static inline int hsum_epi32(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
    return _mm_cvtsi128_si32(s);
}

// Keeps a product from being fused with the following add (GCC contracts vector a*b+c under
// -ffp-contract=fast), so affine dequantization rounds exactly as the scalar reference does.
static inline __m256 no_fuse(__m256 v) {
#if defined(__GNUC__)
    __asm__("" : "+x"(v));
#endif
    return v;
}

// 16 packed bytes of nibbles -> 32 bytes: element j (low nibble of byte j) in byte j, element
// j+16 (high nibble) in byte j+16, the Q4_0/IQ4_NL element order.
static inline __m256i nibbles_32(const uint8_t* qs) {
    __m128i t = _mm_loadu_si128((const __m128i*)qs);
    __m256i v = _mm256_inserti128_si256(_mm256_castsi128_si256(t), _mm_srli_epi16(t, 4), 1);
    return _mm256_and_si256(v, _mm256_set1_epi8(0x0f));
}

// 32 bits -> 32 bytes, 0xff where bit i of bits is set.
static inline __m256i bits_to_bytes_32(uint32_t bits) {
    const __m256i shuf = _mm256_setr_epi64x(0x0000000000000000LL, 0x0101010101010101LL, 0x0202020202020202LL,
                                            0x0303030303030303LL);
    const __m256i mask = _mm256_set1_epi64x((long long)0x8040201008040201ULL);
    __m256i v = _mm256_shuffle_epi8(_mm256_set1_epi32((int)bits), shuf);
    return _mm256_cmpeq_epi8(_mm256_and_si256(v, mask), mask);
}

static inline uint32_t load_u32(const uint8_t* p) {
    uint32_t v;
    __builtin_memcpy(&v, p, 4);
    return v;
}

// Sum of u8*s8 over each 4 consecutive bytes, as 8 int32.
static inline __m256i dot_us8(__m256i u, __m256i s) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
}

// Signed x signed via |x| * (y with x's sign); |y| <= 127 keeps every pair below int16 saturation.
static inline __m256i dot_ss8(__m256i x, __m256i y) {
    return dot_us8(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x));
}

static inline __m256i load256(const void* p) { return _mm256_loadu_si256((const __m256i*)p); }

// y[0..7] = s * float(8 int8 at q).
static inline void store8_i8(__m128i q8, __m256 s, float* y) {
    _mm256_storeu_ps(y, _mm256_mul_ps(s, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q8))));
}

// y[0..15] = s * float(q[0..15]) for the low 16 int8 of q.
static inline void store16_i8(__m128i q, float s, float* y) {
    __m256 vs = _mm256_set1_ps(s);
    store8_i8(q, vs, y);
    store8_i8(_mm_srli_si128(q, 8), vs, y + 8);
}

// y[0..15] = s * float(q) - m, the product rounded before the subtraction.
static inline void store16_affine(__m128i q, float s, float m, float* y) {
    __m256 vs = _mm256_set1_ps(s), vm = _mm256_set1_ps(m);
    __m256 a = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q));
    __m256 b = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(q, 8)));
    _mm256_storeu_ps(y, _mm256_sub_ps(no_fuse(_mm256_mul_ps(vs, a)), vm));
    _mm256_storeu_ps(y + 8, _mm256_sub_ps(no_fuse(_mm256_mul_ps(vs, b)), vm));
}

static inline void store32_i8(__m256i q, float s, float* y) {
    store16_i8(_mm256_castsi256_si128(q), s, y);
    store16_i8(_mm256_extracti128_si256(q, 1), s, y + 16);
}

// y = q*d + m for 32 unsigned values (< 128), product rounded before the add.
static inline void store32_qdm(__m256i q, float d, float m, float* y) {
    store16_affine(_mm256_castsi256_si128(q), d, -m, y);
    store16_affine(_mm256_extracti128_si256(q, 1), d, -m, y + 16);
}

static inline int q3k_scale(const uint8_t* s, int i) {
    int low = i < 8 ? (s[i] & 0xf) : (s[i - 8] >> 4);
    int high = (s[8 + (i & 3)] >> (2 * (i >> 2))) & 3;
    return (low | (high << 4)) - 32;
}

static inline void k4_scales_mins(const uint8_t* s, int* sc, int* m) {
    for (int j = 0; j < 4; j++) {
        sc[j] = s[j] & 63;
        m[j] = s[j + 4] & 63;
        sc[j + 4] = (s[j + 8] & 0xf) | ((s[j] >> 6) << 4);
        m[j + 4] = (s[j + 8] >> 4) | ((s[j + 4] >> 6) << 4);
    }
}

static inline int iq4xs_scale(const BlockIQ4XS* b, int ib) {
    int low = (b->scales_l[ib / 2] >> (4 * (ib % 2))) & 0xf;
    int high = (b->scales_h >> (2 * ib)) & 3;
    return (low | (high << 4)) - 32;
}

static inline __m256i iq4_lookup(__m256i idx) {
    const __m128i t = _mm_load_si128((const __m128i*)kIQ4Values);
    return _mm256_shuffle_epi8(_mm256_broadcastsi128_si256(t), idx);
}

// Q2_K/Q3_K 2-bit fields: 32 elements (128n + 32k + l) from qs[32n + l] bits 2k.
static inline __m256i q2_field(__m256i q2, int k) {
    return _mm256_and_si256(_mm256_srli_epi16(q2, 2 * k), _mm256_set1_epi8(3));
}

// Q3_K hmask bit j of byte l (0/1 bytes).
static inline __m256i hbit(__m256i h, int j) {
    return _mm256_and_si256(_mm256_srli_epi16(h, j), _mm256_set1_epi8(1));
}

// Q6_K elements 128n + 32k + l, unsigned 0..63.
static inline __m256i q6_chunk(const BlockQ6K* b, int n, int k) {
    __m256i ql = load256(b->ql + 64 * n + 32 * (k & 1));
    __m256i lo = _mm256_and_si256(k >= 2 ? _mm256_srli_epi16(ql, 4) : ql, _mm256_set1_epi8(0x0f));
    __m256i hi = _mm256_and_si256(_mm256_srli_epi16(load256(b->qh + 32 * n), 2 * k), _mm256_set1_epi8(3));
    return _mm256_or_si256(lo, _mm256_slli_epi16(hi, 4));
}

// Q4_K/Q5_K 32 elements of sub-block s, unsigned.
static inline __m256i k45_chunk(const uint8_t* qs, const uint8_t* qh, int s) {
    __m256i q = load256(qs + 32 * (s >> 1));
    q = _mm256_and_si256((s & 1) ? _mm256_srli_epi16(q, 4) : q, _mm256_set1_epi8(0x0f));
    if (qh) q = _mm256_or_si256(q, _mm256_slli_epi16(hbit(load256(qh), s), 4));
    return q;
}

// ---------------------------------------------------------------- dequantize

void dequantize_row_f32(const void* x, float* y, int64_t n) { __builtin_memcpy(y, x, (size_t)n * sizeof(float)); }

void dequantize_row_f16(const void* x, float* y, int64_t n) {
    const uint16_t* h = (const uint16_t*)x;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i*)(h + i))));
    for (; i < n; i++) y[i] = fp16_to_fp32(h[i]);
}

void dequantize_row_bf16(const void* x, float* y, int64_t n) {
    const uint16_t* h = (const uint16_t*)x;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i*)(h + i)));
        _mm256_storeu_ps(y + i, _mm256_castsi256_ps(_mm256_slli_epi32(w, 16)));
    }
    for (; i < n; i++) y[i] = bf16_to_fp32(h[i]);
}

void dequantize_row_q8_0(const void* x, float* y, int64_t n) {
    const BlockQ8_0* b = (const BlockQ8_0*)x;
    for (int64_t i = 0; i < n / 32; i++, y += 32) store32_i8(load256(b[i].qs), h2f(b[i].d), y);
}

void dequantize_row_q4_0(const void* x, float* y, int64_t n) {
    const BlockQ4_0* b = (const BlockQ4_0*)x;
    for (int64_t i = 0; i < n / 32; i++, y += 32)
        store32_i8(_mm256_sub_epi8(nibbles_32(b[i].qs), _mm256_set1_epi8(8)), h2f(b[i].d), y);
}

void dequantize_row_q4_1(const void* x, float* y, int64_t n) {
    const BlockQ4_1* b = (const BlockQ4_1*)x;
    for (int64_t i = 0; i < n / 32; i++, y += 32) store32_qdm(nibbles_32(b[i].qs), h2f(b[i].d), h2f(b[i].m), y);
}

void dequantize_row_q5_0(const void* x, float* y, int64_t n) {
    const BlockQ5_0* b = (const BlockQ5_0*)x;
    for (int64_t i = 0; i < n / 32; i++, y += 32) {
        // bit 4 clear -> nibble - 16, set -> nibble: or 0xf0 into the clear ones
        __m256i hi = _mm256_andnot_si256(bits_to_bytes_32(load_u32(b[i].qh)), _mm256_set1_epi8((char)0xf0));
        store32_i8(_mm256_or_si256(nibbles_32(b[i].qs), hi), h2f(b[i].d), y);
    }
}

void dequantize_row_q5_1(const void* x, float* y, int64_t n) {
    const BlockQ5_1* b = (const BlockQ5_1*)x;
    for (int64_t i = 0; i < n / 32; i++, y += 32) {
        __m256i hi = _mm256_and_si256(bits_to_bytes_32(load_u32(b[i].qh)), _mm256_set1_epi8(0x10));
        store32_qdm(_mm256_or_si256(nibbles_32(b[i].qs), hi), h2f(b[i].d), h2f(b[i].m), y);
    }
}

void dequantize_row_iq4_nl(const void* x, float* y, int64_t n) {
    const BlockIQ4NL* b = (const BlockIQ4NL*)x;
    for (int64_t i = 0; i < n / 32; i++, y += 32) store32_i8(iq4_lookup(nibbles_32(b[i].qs)), h2f(b[i].d), y);
}

void dequantize_row_q2_K(const void* x, float* y, int64_t n) {
    const BlockQ2K* b = (const BlockQ2K*)x;
    for (int64_t i = 0; i < n / 256; i++, y += 256) {
        float d = h2f(b[i].d), dmin = h2f(b[i].dmin);
        for (int h = 0; h < 2; h++) {
            __m256i q2 = load256(b[i].qs + 32 * h);
            for (int k = 0; k < 4; k++) {
                __m256i q = q2_field(q2, k);
                int s = 8 * h + 2 * k;  // sub-block of the first 16 elements
                float* o = y + 128 * h + 32 * k;
                store16_affine(_mm256_castsi256_si128(q), d * (float)(b[i].scales[s] & 0xf),
                               dmin * (float)(b[i].scales[s] >> 4), o);
                store16_affine(_mm256_extracti128_si256(q, 1), d * (float)(b[i].scales[s + 1] & 0xf),
                               dmin * (float)(b[i].scales[s + 1] >> 4), o + 16);
            }
        }
    }
}

void dequantize_row_q3_K(const void* x, float* y, int64_t n) {
    const BlockQ3K* b = (const BlockQ3K*)x;
    for (int64_t i = 0; i < n / 256; i++, y += 256) {
        float d = h2f(b[i].d);
        __m256i hm = load256(b[i].hmask);
        for (int h = 0; h < 2; h++) {
            __m256i q2 = load256(b[i].qs + 32 * h);
            for (int k = 0; k < 4; k++) {
                __m256i q = _mm256_or_si256(q2_field(q2, k), _mm256_slli_epi16(hbit(hm, 4 * h + k), 2));
                q = _mm256_sub_epi8(q, _mm256_set1_epi8(4));
                int s = 8 * h + 2 * k;
                float* o = y + 128 * h + 32 * k;
                store16_i8(_mm256_castsi256_si128(q), d * (float)q3k_scale(b[i].scales, s), o);
                store16_i8(_mm256_extracti128_si256(q, 1), d * (float)q3k_scale(b[i].scales, s + 1), o + 16);
            }
        }
    }
}

static inline void dequantize_k45(const uint16_t* dd, const uint8_t* scales, const uint8_t* qs, const uint8_t* qh,
                                  float* y) {
    int sc[8], m[8];
    k4_scales_mins(scales, sc, m);
    float d = h2f(dd[0]), dmin = h2f(dd[1]);
    for (int s = 0; s < 8; s++) {
        __m256i q = k45_chunk(qs, qh, s);
        float dl = d * (float)sc[s], ml = dmin * (float)m[s];
        store16_affine(_mm256_castsi256_si128(q), dl, ml, y + 32 * s);
        store16_affine(_mm256_extracti128_si256(q, 1), dl, ml, y + 32 * s + 16);
    }
}

void dequantize_row_q4_K(const void* x, float* y, int64_t n) {
    const BlockQ4K* b = (const BlockQ4K*)x;
    for (int64_t i = 0; i < n / 256; i++, y += 256) dequantize_k45(&b[i].d, b[i].scales, b[i].qs, nullptr, y);
}

void dequantize_row_q5_K(const void* x, float* y, int64_t n) {
    const BlockQ5K* b = (const BlockQ5K*)x;
    for (int64_t i = 0; i < n / 256; i++, y += 256) dequantize_k45(&b[i].d, b[i].scales, b[i].qs, b[i].qh, y);
}

void dequantize_row_q6_K(const void* x, float* y, int64_t n) {
    const BlockQ6K* b = (const BlockQ6K*)x;
    for (int64_t i = 0; i < n / 256; i++, y += 256) {
        float d = h2f(b[i].d);
        for (int h = 0; h < 2; h++) {
            for (int k = 0; k < 4; k++) {
                __m256i q = _mm256_sub_epi8(q6_chunk(&b[i], h, k), _mm256_set1_epi8(32));
                int s = 8 * h + 2 * k;
                float* o = y + 128 * h + 32 * k;
                store16_i8(_mm256_castsi256_si128(q), d * (float)b[i].scales[s], o);
                store16_i8(_mm256_extracti128_si256(q, 1), d * (float)b[i].scales[s + 1], o + 16);
            }
        }
    }
}

void dequantize_row_iq4_xs(const void* x, float* y, int64_t n) {
    const BlockIQ4XS* b = (const BlockIQ4XS*)x;
    for (int64_t i = 0; i < n / 256; i++) {
        float d = h2f(b[i].d);
        for (int ib = 0; ib < 8; ib++, y += 32)
            store32_i8(iq4_lookup(nibbles_32(b[i].qs + 16 * ib)), d * (float)iq4xs_scale(&b[i], ib), y);
    }
}

// ---------------------------------------------------------------- activation quantization

static inline __m256 abs_ps(__m256 v) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), v); }

// NaN -> 0, then clamp to [-127, 127] (generic's clamp_q).
static inline __m256 clamp_q(__m256 v) {
    v = _mm256_and_ps(v, _mm256_cmp_ps(v, v, _CMP_ORD_Q));
    return _mm256_min_ps(_mm256_max_ps(v, _mm256_set1_ps(-127.0f)), _mm256_set1_ps(127.0f));
}

// 4 x 8 int32 (each in [-127, 127]) -> 32 int8 in order.
static inline __m256i pack_i32x4_i8(__m256i a, __m256i b, __m256i c, __m256i d) {
    __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(a, b), _mm256_packs_epi32(c, d));
    return _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

static inline float hmax_ps(__m256 v) {
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
}

// max|x| over 32k floats; NaN elements are skipped as in the scalar loop.
static inline float absmax(const float* x, int n) {
    __m256 m = _mm256_setzero_ps();
    for (int j = 0; j < n; j += 8) m = _mm256_max_ps(abs_ps(_mm256_loadu_ps(x + j)), m);
    return hmax_ps(m);
}

void quantize_row_q8_0(const float* x, void* y, int64_t n) {
    BlockQ8_0* b = (BlockQ8_0*)y;
    const __m256 half = _mm256_set1_ps(0.49999997f);  // nextafter(0.5, 0): round half away from zero
    const __m256 sign = _mm256_set1_ps(-0.0f);
    for (int64_t i = 0; i < n / 32; i++, x += 32) {
        float d = absmax(x, 32) / 127.0f;
        float id = d != 0.0f ? 1.0f / d : 0.0f;
        if (!(id - id == 0.0f)) id = 0.0f;  // not finite
        b[i].d = fp32_to_fp16(d);
        __m256 vid = _mm256_set1_ps(id);
        __m256i q[4];
        for (int k = 0; k < 4; k++) {
            __m256 v = clamp_q(_mm256_mul_ps(_mm256_loadu_ps(x + 8 * k), vid));
            v = _mm256_add_ps(v, _mm256_or_ps(half, _mm256_and_ps(v, sign)));
            q[k] = _mm256_cvttps_epi32(v);
        }
        _mm256_storeu_si256((__m256i*)b[i].qs, pack_i32x4_i8(q[0], q[1], q[2], q[3]));
    }
}

void quantize_row_q8_K(const float* x, void* y, int64_t n) {
    BlockQ8K* b = (BlockQ8K*)y;
    for (int64_t i = 0; i < n / 256; i++, x += 256) {
        float amax = absmax(x, 256), max = 0.0f;
        for (int j = 0; j < 256; j++) {  // first element of that magnitude gives the sign
            if (__builtin_fabsf(x[j]) == amax) {
                max = x[j];
                break;
            }
        }
        float iscale = amax != 0.0f ? -127.0f / max : 0.0f;
        if (!(iscale - iscale == 0.0f)) iscale = 0.0f;
        b[i].d = iscale != 0.0f ? 1.0f / iscale : 0.0f;
        __m256 vis = _mm256_set1_ps(iscale);
        for (int c = 0; c < 8; c++) {
            __m256i q[4];
            for (int k = 0; k < 4; k++) {
                __m256 v = clamp_q(_mm256_mul_ps(_mm256_loadu_ps(x + 32 * c + 8 * k), vis));
                q[k] = _mm256_cvtps_epi32(_mm256_round_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
            }
            _mm256_storeu_si256((__m256i*)(b[i].qs + 32 * c), pack_i32x4_i8(q[0], q[1], q[2], q[3]));
            b[i].bsums[2 * c] = (int16_t)hsum_epi32(_mm256_add_epi32(q[0], q[1]));
            b[i].bsums[2 * c + 1] = (int16_t)hsum_epi32(_mm256_add_epi32(q[2], q[3]));
        }
    }
}

// ---------------------------------------------------------------- dot products

// Float rows: products are exact in double and summed in double, as in generic:: (the order of a
// double sum changes the rounded float only in rare last-bit cases, unlike a float sum).
static inline __m256d lo_pd(__m256 v) { return _mm256_cvtps_pd(_mm256_castps256_ps128(v)); }
static inline __m256d hi_pd(__m256 v) { return _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)); }

static inline double hsum_pd(__m256d v) {
    __m128d s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
}

// acc0/acc1 += x * y for 8 floats, in double.
static inline void fma8_pd(__m256 x, __m256 y, __m256d* acc0, __m256d* acc1) {
    *acc0 = _mm256_fmadd_pd(lo_pd(x), lo_pd(y), *acc0);
    *acc1 = _mm256_fmadd_pd(hi_pd(x), hi_pd(y), *acc1);
}

float vec_dot_f32_f32(int64_t n, const void* w, const void* a) {
    const float* x = (const float*)w;
    const float* y = (const float*)a;
    __m256d acc0 = _mm256_setzero_pd(), acc1 = _mm256_setzero_pd();
    __m256d acc2 = _mm256_setzero_pd(), acc3 = _mm256_setzero_pd();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        fma8_pd(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), &acc0, &acc1);
        fma8_pd(_mm256_loadu_ps(x + i + 8), _mm256_loadu_ps(y + i + 8), &acc2, &acc3);
    }
    for (; i + 8 <= n; i += 8) fma8_pd(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), &acc0, &acc1);
    double s = hsum_pd(_mm256_add_pd(_mm256_add_pd(acc0, acc1), _mm256_add_pd(acc2, acc3)));
    for (; i < n; i++) s += (double)x[i] * (double)y[i];
    return (float)s;
}

static inline __m256 load_f16x8(const uint16_t* p) { return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i*)p)); }
static inline __m256 load_bf16x8(const uint16_t* p) {
    __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i*)p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(w, 16));
}

// 16-bit float weights (f16 or bf16, by the loader pair) times f32 activations, exact products
// summed in double.
template <__m256 (*load8)(const uint16_t*), float (*to_f32)(uint16_t)>
static inline float dot_half_f32(int64_t n, const void* w, const void* a) {
    const uint16_t* x = (const uint16_t*)w;
    const float* y = (const float*)a;
    __m256d acc0 = _mm256_setzero_pd(), acc1 = _mm256_setzero_pd();
    __m256d acc2 = _mm256_setzero_pd(), acc3 = _mm256_setzero_pd();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        fma8_pd(load8(x + i), _mm256_loadu_ps(y + i), &acc0, &acc1);
        fma8_pd(load8(x + i + 8), _mm256_loadu_ps(y + i + 8), &acc2, &acc3);
    }
    for (; i + 8 <= n; i += 8) fma8_pd(load8(x + i), _mm256_loadu_ps(y + i), &acc0, &acc1);
    double s = hsum_pd(_mm256_add_pd(_mm256_add_pd(acc0, acc1), _mm256_add_pd(acc2, acc3)));
    for (; i < n; i++) s += (double)to_f32(x[i]) * (double)y[i];
    return (float)s;
}

static inline float f16_scalar(uint16_t h) { return fp16_to_fp32(h); }
static inline float bf16_scalar(uint16_t h) { return bf16_to_fp32(h); }

float vec_dot_f16_f32(int64_t n, const void* w, const void* a) { return dot_half_f32<load_f16x8, f16_scalar>(n, w, a); }

float vec_dot_bf16_f32(int64_t n, const void* w, const void* a) { return dot_half_f32<load_bf16x8, bf16_scalar>(n, w, a); }

// Quantized rows: exact integer block sums, then (double)(float scale product) * isum per block,
// summed in double in the order generic:: specifies (the products are exact in double), so the result
// is bit-identical to the reference. A float accumulator here differed from it in the last bit, and
// downstream roundings (Q8 activations, the f16 KV cache) amplified that into 1e-2 logit changes.
// The four integer sums of p[0..3] (8 int32 lanes each), exact.
static inline __m128i hsum4_epi32(const __m256i* p) {
    __m256i h = _mm256_hadd_epi32(_mm256_hadd_epi32(p[0], p[1]), _mm256_hadd_epi32(p[2], p[3]));
    return _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
}

// (double)sc[k] * isum[k] for four blocks: exact products, as the scalar terms of generic::.
static inline __m256d terms4(const float* sc, const __m256i* p) {
    return _mm256_mul_pd(_mm256_cvtps_pd(_mm_loadu_ps(sc)), _mm256_cvtepi32_pd(hsum4_epi32(p)));
}

// Block i's term goes to partial sum i % 4 (one double lane each), combined as (s0 + s1) + (s2 + s3),
// the order generic:: specifies for 32-element blocks.
static inline float combine4(__m256d acc) {
    alignas(32) double v[4];
    _mm256_store_pd(v, acc);
    return (float)((v[0] + v[1]) + (v[2] + v[3]));
}

// Symmetric 32-blocks: block(i, &scale) returns the 8 int32 partial sums of q*a and the scale product.
template <typename Block>
static inline float dot_blocks32(int64_t nb, Block block) {
    __m256d acc = _mm256_setzero_pd();
    int64_t i = 0;
    for (; i + 4 <= nb; i += 4) {
        __m256i p[4];
        float sc[4];
        for (int k = 0; k < 4; k++) p[k] = block(i + k, &sc[k]);
        acc = _mm256_add_pd(acc, terms4(sc, p));
    }
    alignas(32) double v[4];
    _mm256_store_pd(v, acc);
    for (; i < nb; i++) {
        float sc;
        __m256i p = block(i, &sc);
        v[i & 3] += (double)sc * hsum_epi32(p);
    }
    return combine4(_mm256_load_pd(v));
}

// Affine 32-blocks: block(i, &d, &m, &psum) returns partial sums of q*a, psum those of a;
// each block adds d*sum(q*a) + m*sum(a) as one double term.
template <typename Block>
static inline float dot_blocks32_affine(int64_t nb, Block block) {
    __m256d acc = _mm256_setzero_pd();
    int64_t i = 0;
    for (; i + 4 <= nb; i += 4) {
        __m256i p[4], q[4];
        float d[4], m[4];
        for (int k = 0; k < 4; k++) p[k] = block(i + k, &d[k], &m[k], &q[k]);
        acc = _mm256_add_pd(acc, _mm256_add_pd(terms4(d, p), terms4(m, q)));
    }
    alignas(32) double v[4];
    _mm256_store_pd(v, acc);
    for (; i < nb; i++) {
        float d, m;
        __m256i q;
        __m256i p = block(i, &d, &m, &q);
        v[i & 3] += (double)d * hsum_epi32(p) + (double)m * hsum_epi32(q);
    }
    return combine4(_mm256_load_pd(v));
}

float vec_dot_q8_0_q8_0(int64_t n, const void* w, const void* a) {
    const BlockQ8_0* x = (const BlockQ8_0*)w;
    const BlockQ8_0* y = (const BlockQ8_0*)a;
    return dot_blocks32(n / 32, [&](int64_t i, float* sc) {
        *sc = h2f(x[i].d) * h2f(y[i].d);
        return dot_ss8(load256(x[i].qs), load256(y[i].qs));
    });
}

float vec_dot_q4_0_q8_0(int64_t n, const void* w, const void* a) {
    const BlockQ4_0* x = (const BlockQ4_0*)w;
    const BlockQ8_0* y = (const BlockQ8_0*)a;
    return dot_blocks32(n / 32, [&](int64_t i, float* sc) {
        *sc = h2f(x[i].d) * h2f(y[i].d);
        return dot_ss8(_mm256_sub_epi8(nibbles_32(x[i].qs), _mm256_set1_epi8(8)), load256(y[i].qs));
    });
}

// One weight row against 4 activation rows: each weight block is unpacked once; every row's block
// terms and their double accumulation are exactly those of dot_blocks32, so each out[t] is
// bit-identical to the single-row kernel (and so to generic::).
template <typename WBlock>
static inline void dot4_blocks32(int64_t nb, const uint8_t* a, size_t a_stride, WBlock wblock, float* out) {
    const BlockQ8_0* y[4];
    for (int t = 0; t < 4; t++) y[t] = (const BlockQ8_0*)(a + t * a_stride);
    __m256d acc[4] = {_mm256_setzero_pd(), _mm256_setzero_pd(), _mm256_setzero_pd(), _mm256_setzero_pd()};
    int64_t i = 0;
    for (; i + 4 <= nb; i += 4) {
        __m256i p[4][4];
        float sc[4][4];
        for (int k = 0; k < 4; k++) {
            float wd;
            const __m256i wq = wblock(i + k, &wd);
            const __m256i wabs = _mm256_sign_epi8(wq, wq);
            for (int t = 0; t < 4; t++) {
                sc[t][k] = wd * h2f(y[t][i + k].d);
                p[t][k] = dot_us8(wabs, _mm256_sign_epi8(load256(y[t][i + k].qs), wq));
            }
        }
        for (int t = 0; t < 4; t++) acc[t] = _mm256_add_pd(acc[t], terms4(sc[t], p[t]));
    }
    for (int t = 0; t < 4; t++) {
        alignas(32) double v[4];
        _mm256_store_pd(v, acc[t]);
        for (int64_t j = i; j < nb; j++) {
            float wd;
            const __m256i wq = wblock(j, &wd);
            v[j & 3] += (double)(wd * h2f(y[t][j].d)) * hsum_epi32(dot_ss8(wq, load256(y[t][j].qs)));
        }
        out[t] = combine4(_mm256_load_pd(v));
    }
}

void vec_dot_q8_0_q8_0_x4(int64_t n, const void* w, const void* a, size_t a_stride, float* out) {
    const BlockQ8_0* x = (const BlockQ8_0*)w;
    dot4_blocks32(n / 32, (const uint8_t*)a, a_stride, [&](int64_t i, float* d) {
        *d = h2f(x[i].d);
        return load256(x[i].qs);
    }, out);
}

void vec_dot_q4_0_q8_0_x4(int64_t n, const void* w, const void* a, size_t a_stride, float* out) {
    const BlockQ4_0* x = (const BlockQ4_0*)w;
    dot4_blocks32(n / 32, (const uint8_t*)a, a_stride, [&](int64_t i, float* d) {
        *d = h2f(x[i].d);
        return _mm256_sub_epi8(nibbles_32(x[i].qs), _mm256_set1_epi8(8));
    }, out);
}

// Affine blocks: d*da*sum(q*a) + m*da*sum(a); sum(a) from maddubs against ones.
float vec_dot_q4_1_q8_0(int64_t n, const void* w, const void* a) {
    const BlockQ4_1* x = (const BlockQ4_1*)w;
    const BlockQ8_0* y = (const BlockQ8_0*)a;
    const __m256i ones = _mm256_set1_epi8(1);
    return dot_blocks32_affine(n / 32, [&](int64_t i, float* d, float* m, __m256i* psum) {
        __m256i ya = load256(y[i].qs);
        float da = h2f(y[i].d);
        *d = h2f(x[i].d) * da;
        *m = h2f(x[i].m) * da;
        *psum = dot_us8(ones, ya);
        return dot_us8(nibbles_32(x[i].qs), ya);
    });
}

float vec_dot_q5_0_q8_0(int64_t n, const void* w, const void* a) {
    const BlockQ5_0* x = (const BlockQ5_0*)w;
    const BlockQ8_0* y = (const BlockQ8_0*)a;
    return dot_blocks32(n / 32, [&](int64_t i, float* sc) {
        *sc = h2f(x[i].d) * h2f(y[i].d);
        __m256i hi = _mm256_andnot_si256(bits_to_bytes_32(load_u32(x[i].qh)), _mm256_set1_epi8((char)0xf0));
        return dot_ss8(_mm256_or_si256(nibbles_32(x[i].qs), hi), load256(y[i].qs));
    });
}

float vec_dot_q5_1_q8_0(int64_t n, const void* w, const void* a) {
    const BlockQ5_1* x = (const BlockQ5_1*)w;
    const BlockQ8_0* y = (const BlockQ8_0*)a;
    const __m256i ones = _mm256_set1_epi8(1);
    return dot_blocks32_affine(n / 32, [&](int64_t i, float* d, float* m, __m256i* psum) {
        __m256i ya = load256(y[i].qs);
        float da = h2f(y[i].d);
        *d = h2f(x[i].d) * da;
        *m = h2f(x[i].m) * da;
        *psum = dot_us8(ones, ya);
        __m256i hi = _mm256_and_si256(bits_to_bytes_32(load_u32(x[i].qh)), _mm256_set1_epi8(0x10));
        return dot_us8(_mm256_or_si256(nibbles_32(x[i].qs), hi), ya);
    });
}

float vec_dot_iq4_nl_q8_0(int64_t n, const void* w, const void* a) {
    const BlockIQ4NL* x = (const BlockIQ4NL*)w;
    const BlockQ8_0* y = (const BlockQ8_0*)a;
    return dot_blocks32(n / 32, [&](int64_t i, float* sc) {
        *sc = h2f(x[i].d) * h2f(y[i].d);
        return dot_ss8(iq4_lookup(nibbles_32(x[i].qs)), load256(y[i].qs));
    });
}

// Pairs of int16 (16 per register) times two per-16 scales: lane 0 gets s0, lane 1 gets s1.
static inline __m256i madd_scales(__m256i p16, int s0, int s1) {
    __m256i sc = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_set1_epi16((short)s0)),
                                         _mm_set1_epi16((short)s1), 1);
    return _mm256_madd_epi16(p16, sc);
}

// K-quants: integer sum over the super-block with sub-block scales, then one float multiply.
float vec_dot_q2_K_q8_K(int64_t n, const void* w, const void* a) {
    const BlockQ2K* x = (const BlockQ2K*)w;
    const BlockQ8K* y = (const BlockQ8K*)a;
    double acc = 0.0;
    for (int64_t i = 0; i < n / 256; i++) {
        int msum = 0;
        for (int s = 0; s < 16; s++) msum += (x[i].scales[s] >> 4) * y[i].bsums[s];
        __m256i isum = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            __m256i q2 = load256(x[i].qs + 32 * h);
            for (int k = 0; k < 4; k++) {
                int s = 8 * h + 2 * k;
                __m256i p = _mm256_maddubs_epi16(q2_field(q2, k), load256(y[i].qs + 128 * h + 32 * k));
                isum = _mm256_add_epi32(isum, madd_scales(p, x[i].scales[s] & 0xf, x[i].scales[s + 1] & 0xf));
            }
        }
        acc += (double)(h2f(x[i].d) * y[i].d) * hsum_epi32(isum) - (double)(h2f(x[i].dmin) * y[i].d) * msum;
    }
    return (float)acc;
}

// Q3_K and Q6_K use unsigned quants and take the offset off with bsums: sum(sc*(q-o)*a) =
// sum(sc*q*a) - o*sum(sc*bsum).
float vec_dot_q3_K_q8_K(int64_t n, const void* w, const void* a) {
    const BlockQ3K* x = (const BlockQ3K*)w;
    const BlockQ8K* y = (const BlockQ8K*)a;
    double acc = 0.0;
    for (int64_t i = 0; i < n / 256; i++) {
        int sc[16], osum = 0;
        for (int s = 0; s < 16; s++) {
            sc[s] = q3k_scale(x[i].scales, s);
            osum += sc[s] * y[i].bsums[s];
        }
        __m256i hm = load256(x[i].hmask);
        __m256i isum = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            __m256i q2 = load256(x[i].qs + 32 * h);
            for (int k = 0; k < 4; k++) {
                int s = 8 * h + 2 * k;
                __m256i q = _mm256_or_si256(q2_field(q2, k), _mm256_slli_epi16(hbit(hm, 4 * h + k), 2));
                __m256i p = _mm256_maddubs_epi16(q, load256(y[i].qs + 128 * h + 32 * k));
                isum = _mm256_add_epi32(isum, madd_scales(p, sc[s], sc[s + 1]));
            }
        }
        isum = _mm256_sub_epi32(isum, _mm256_setr_epi32(4 * osum, 0, 0, 0, 0, 0, 0, 0));
        acc += (double)(h2f(x[i].d) * y[i].d) * hsum_epi32(isum);
    }
    return (float)acc;
}

static inline void dot_k45(const uint16_t* dd, const uint8_t* scales, const uint8_t* qs, const uint8_t* qh,
                           const BlockQ8K* y, double* acc) {
    int sc[8], m[8], msum = 0;
    k4_scales_mins(scales, sc, m);
    for (int s = 0; s < 8; s++) msum += m[s] * (y->bsums[2 * s] + y->bsums[2 * s + 1]);
    __m256i isum = _mm256_setzero_si256();
    for (int s = 0; s < 8; s++) {
        __m256i p = _mm256_maddubs_epi16(k45_chunk(qs, qh, s), load256(y->qs + 32 * s));
        isum = _mm256_add_epi32(isum, _mm256_madd_epi16(p, _mm256_set1_epi16((short)sc[s])));
    }
    *acc += (double)(h2f(dd[0]) * y->d) * hsum_epi32(isum) - (double)(h2f(dd[1]) * y->d) * msum;
}

float vec_dot_q4_K_q8_K(int64_t n, const void* w, const void* a) {
    const BlockQ4K* x = (const BlockQ4K*)w;
    const BlockQ8K* y = (const BlockQ8K*)a;
    double acc = 0.0;
    for (int64_t i = 0; i < n / 256; i++) dot_k45(&x[i].d, x[i].scales, x[i].qs, nullptr, &y[i], &acc);
    return (float)acc;
}

float vec_dot_q5_K_q8_K(int64_t n, const void* w, const void* a) {
    const BlockQ5K* x = (const BlockQ5K*)w;
    const BlockQ8K* y = (const BlockQ8K*)a;
    double acc = 0.0;
    for (int64_t i = 0; i < n / 256; i++) dot_k45(&x[i].d, x[i].scales, x[i].qs, x[i].qh, &y[i], &acc);
    return (float)acc;
}

float vec_dot_q6_K_q8_K(int64_t n, const void* w, const void* a) {
    const BlockQ6K* x = (const BlockQ6K*)w;
    const BlockQ8K* y = (const BlockQ8K*)a;
    double acc = 0.0;
    for (int64_t i = 0; i < n / 256; i++) {
        const int8_t* sc = x[i].scales;
        int osum = 0;
        for (int s = 0; s < 16; s++) osum += sc[s] * y[i].bsums[s];
        __m256i isum = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            for (int k = 0; k < 4; k++) {
                int s = 8 * h + 2 * k;
                __m256i p = _mm256_maddubs_epi16(q6_chunk(&x[i], h, k), load256(y[i].qs + 128 * h + 32 * k));
                isum = _mm256_add_epi32(isum, madd_scales(p, sc[s], sc[s + 1]));
            }
        }
        isum = _mm256_sub_epi32(isum, _mm256_setr_epi32(32 * osum, 0, 0, 0, 0, 0, 0, 0));
        acc += (double)(h2f(x[i].d) * y[i].d) * hsum_epi32(isum);
    }
    return (float)acc;
}

float vec_dot_iq4_xs_q8_K(int64_t n, const void* w, const void* a) {
    const BlockIQ4XS* x = (const BlockIQ4XS*)w;
    const BlockQ8K* y = (const BlockQ8K*)a;
    double acc = 0.0;
    for (int64_t i = 0; i < n / 256; i++) {
        __m256i isum = _mm256_setzero_si256();
        for (int ib = 0; ib < 8; ib++) {
            __m256i q = iq4_lookup(nibbles_32(x[i].qs + 16 * ib));
            __m256i ya = load256(y[i].qs + 32 * ib);
            __m256i p = _mm256_maddubs_epi16(_mm256_sign_epi8(q, q), _mm256_sign_epi8(ya, q));
            p = _mm256_madd_epi16(p, _mm256_set1_epi16((short)iq4xs_scale(&x[i], ib)));
            isum = _mm256_add_epi32(isum, p);
        }
        acc += (double)(h2f(x[i].d) * y[i].d) * hsum_epi32(isum);
    }
    return (float)acc;
}

}  // namespace avx2
}  // namespace rl

#else  // not built for AVX2: every entry forwards to the reference

namespace rl {
namespace avx2 {

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

}  // namespace avx2
}  // namespace rl

#endif
