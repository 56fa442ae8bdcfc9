// Scalar reference for every weight block format: the byte layout each dequantize_row_* decodes
// is the specification, and every vec_dot_* equals "dequantize both rows, then dot" up to rounding.
#include <cmath>
#include <cstring>

#include "../fp16.h"
#include "../quants.h"

namespace rl {
namespace generic {

// Block layouts (little-endian, no padding); d/dmin are IEEE halves.
struct BlockQ4_0 {
    uint16_t d;
    uint8_t qs[16];  // (16) element j in the low nibble, j+16 in the high nibble
};
struct BlockQ4_1 {
    uint16_t d, m;
    uint8_t qs[16];
};
struct BlockQ5_0 {
    uint16_t d;
    uint8_t qh[4];  // bit j = bit 4 of element j
    uint8_t qs[16];
};
struct BlockQ5_1 {
    uint16_t d, m;
    uint8_t qh[4];
    uint8_t qs[16];
};
struct BlockIQ4NL {
    uint16_t d;
    uint8_t qs[16];  // indices into kIQ4Values, same nibble order as Q4_0
};
struct BlockQ2K {
    uint8_t scales[16];  // (16 sub-blocks of 16) low nibble scale, high nibble min
    uint8_t qs[64];      // 2-bit quants: byte 32*(e>>7)+(e&31), bits 2*((e>>5)&3)
    uint16_t d, dmin;
};
struct BlockQ3K {
    uint8_t hmask[32];   // bit e>>5 of byte e&31: bit 2 of element e
    uint8_t qs[64];      // low 2 bits, same order as Q2_K
    uint8_t scales[12];  // 16 six-bit scales stored +32
    uint16_t d;
};
struct BlockQ4K {
    uint16_t d, dmin;
    uint8_t scales[12];  // 8 six-bit scales and 8 six-bit mins
    uint8_t qs[128];     // byte 32*(e>>6)+(e&31), nibble (e>>5)&1
};
struct BlockQ5K {
    uint16_t d, dmin;
    uint8_t scales[12];
    uint8_t qh[32];  // bit e>>5 of byte e&31: bit 4 of element e
    uint8_t qs[128];
};
struct BlockQ6K {
    uint8_t ql[128];    // low nibbles
    uint8_t qh[64];     // top 2 bits
    int8_t scales[16];  // one per 16 elements
    uint16_t d;
};
struct BlockIQ4XS {
    uint16_t d;
    uint16_t scales_h;    // top 2 bits of the 8 six-bit sub-block scales (stored +32)
    uint8_t scales_l[4];  // low nibbles, two per byte
    uint8_t qs[128];      // (8 sub-blocks, 16) nibbles as in IQ4_NL
};
static_assert(sizeof(BlockQ4_0) == 18 && sizeof(BlockQ4_1) == 20 && sizeof(BlockQ5_0) == 22 &&
                  sizeof(BlockQ5_1) == 24 && sizeof(BlockIQ4NL) == 18 && sizeof(BlockQ8_0) == 34,
              "32-element block sizes");
static_assert(sizeof(BlockQ2K) == 84 && sizeof(BlockQ3K) == 110 && sizeof(BlockQ4K) == 144 &&
                  sizeof(BlockQ5K) == 176 && sizeof(BlockQ6K) == 210 && sizeof(BlockIQ4XS) == 136 &&
                  sizeof(BlockQ8K) == 292,
              "256-element block sizes");

static const int8_t kIQ4Values[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

static inline float h2f(uint16_t h) { return fp16_to_fp32(h); }

// Q3_K scale i (0..15), already minus 32.
static inline int q3k_scale(const uint8_t* s, int i) {
    int low = i < 8 ? (s[i] & 0xf) : (s[i - 8] >> 4);
    int high = (s[8 + (i & 3)] >> (2 * (i >> 2))) & 3;
    return (low | (high << 4)) - 32;
}

// Q4_K/Q5_K scale and min of sub-block j (0..7) (also used by the packer, packed.h).
void k4_scale_min(const uint8_t* s, int j, int* sc, int* m) {
    if (j < 4) {
        *sc = s[j] & 63;
        *m = s[j + 4] & 63;
    } else {
        *sc = (s[j + 4] & 0xf) | ((s[j - 4] >> 6) << 4);
        *m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
    }
}

static inline int iq4xs_scale(const BlockIQ4XS* b, int ib) {
    int low = (b->scales_l[ib / 2] >> (4 * (ib % 2))) & 0xf;
    int high = (b->scales_h >> (2 * ib)) & 3;
    return (low | (high << 4)) - 32;
}

static inline uint32_t load_u32(const uint8_t* p) {
    uint32_t v;
    std::memcpy(&v, p, 4);
    return v;
}

// The integer values a block decodes from, before scales: q[e] for e in the block.
static inline void q2k_values(const BlockQ2K* b, int* q) {
    for (int e = 0; e < 256; e++) q[e] = (b->qs[32 * (e >> 7) + (e & 31)] >> (2 * ((e >> 5) & 3))) & 3;
}
static inline void q3k_values(const BlockQ3K* b, int* q) {
    for (int e = 0; e < 256; e++) {
        int low = (b->qs[32 * (e >> 7) + (e & 31)] >> (2 * ((e >> 5) & 3))) & 3;
        int high = (b->hmask[e & 31] >> (e >> 5)) & 1;
        q[e] = (low | (high << 2)) - 4;
    }
}
static inline void q45k_values(const uint8_t* qs, const uint8_t* qh, int* q) {
    for (int e = 0; e < 256; e++) {
        q[e] = (qs[32 * (e >> 6) + (e & 31)] >> (4 * ((e >> 5) & 1))) & 0xf;
        if (qh) q[e] |= ((qh[e & 31] >> (e >> 5)) & 1) << 4;
    }
}
void q6k_values(const void* block, int* q) {
    const BlockQ6K* b = (const BlockQ6K*)block;
    for (int e = 0; e < 256; e++) {
        int n = e >> 7, k = (e >> 5) & 3, i = e & 31;
        int lo = (b->ql[64 * n + i + 32 * (k & 1)] >> (k >= 2 ? 4 : 0)) & 0xf;
        int hi = (b->qh[32 * n + i] >> (2 * k)) & 3;
        q[e] = (lo | (hi << 4)) - 32;
    }
}
static inline void q4_values(const uint8_t* qs, int* q) {
    for (int j = 0; j < 16; j++) {
        q[j] = qs[j] & 0xf;
        q[j + 16] = qs[j] >> 4;
    }
}
static inline void q5_values(const uint8_t* qs, const uint8_t* qh, int* q) {
    uint32_t h = load_u32(qh);
    for (int j = 0; j < 16; j++) {
        q[j] = (qs[j] & 0xf) | (((h >> j) & 1) << 4);
        q[j + 16] = (qs[j] >> 4) | (((h >> (j + 16)) & 1) << 4);
    }
}

// ---------------------------------------------------------------- dequantize

void dequantize_row_f32(const void* x, float* y, int64_t n) { std::memcpy(y, x, (size_t)n * sizeof(float)); }

void dequantize_row_f16(const void* x, float* y, int64_t n) {
    const uint16_t* h = (const uint16_t*)x;
    for (int64_t i = 0; i < n; i++) y[i] = fp16_to_fp32(h[i]);
}

void dequantize_row_bf16(const void* x, float* y, int64_t n) {
    const uint16_t* h = (const uint16_t*)x;
    for (int64_t i = 0; i < n; i++) y[i] = bf16_to_fp32(h[i]);
}

void dequantize_row_q8_0(const void* x, float* y, int64_t n) {
    const BlockQ8_0* b = (const BlockQ8_0*)x;
    for (int64_t i = 0; i < n / 32; i++, y += 32) {
        float d = h2f(b[i].d);
        for (int j = 0; j < 32; j++) y[j] = d * b[i].qs[j];
    }
}

void dequantize_row_q4_0(const void* x, float* y, int64_t n) {
    const BlockQ4_0* b = (const BlockQ4_0*)x;
    int q[32];
    for (int64_t i = 0; i < n / 32; i++, y += 32) {
        float d = h2f(b[i].d);
        q4_values(b[i].qs, q);
        for (int j = 0; j < 32; j++) y[j] = (float)(q[j] - 8) * d;
    }
}

void dequantize_row_q4_1(const void* x, float* y, int64_t n) {
    const BlockQ4_1* b = (const BlockQ4_1*)x;
    int q[32];
    for (int64_t i = 0; i < n / 32; i++, y += 32) {
        float d = h2f(b[i].d), m = h2f(b[i].m);
        q4_values(b[i].qs, q);
        for (int j = 0; j < 32; j++) y[j] = (float)q[j] * d + m;
    }
}

void dequantize_row_q5_0(const void* x, float* y, int64_t n) {
    const BlockQ5_0* b = (const BlockQ5_0*)x;
    int q[32];
    for (int64_t i = 0; i < n / 32; i++, y += 32) {
        float d = h2f(b[i].d);
        q5_values(b[i].qs, b[i].qh, q);
        for (int j = 0; j < 32; j++) y[j] = (float)(q[j] - 16) * d;
    }
}

void dequantize_row_q5_1(const void* x, float* y, int64_t n) {
    const BlockQ5_1* b = (const BlockQ5_1*)x;
    int q[32];
    for (int64_t i = 0; i < n / 32; i++, y += 32) {
        float d = h2f(b[i].d), m = h2f(b[i].m);
        q5_values(b[i].qs, b[i].qh, q);
        for (int j = 0; j < 32; j++) y[j] = (float)q[j] * d + m;
    }
}

void dequantize_row_iq4_nl(const void* x, float* y, int64_t n) {
    const BlockIQ4NL* b = (const BlockIQ4NL*)x;
    int q[32];
    for (int64_t i = 0; i < n / 32; i++, y += 32) {
        float d = h2f(b[i].d);
        q4_values(b[i].qs, q);
        for (int j = 0; j < 32; j++) y[j] = d * (float)kIQ4Values[q[j]];
    }
}

// K-quants: the sub-block scale product d*sc is formed in float first, as every tier does.
void dequantize_row_q2_K(const void* x, float* y, int64_t n) {
    const BlockQ2K* b = (const BlockQ2K*)x;
    int q[256];
    for (int64_t i = 0; i < n / 256; i++, y += 256) {
        float d = h2f(b[i].d), dmin = h2f(b[i].dmin);
        q2k_values(&b[i], q);
        for (int s = 0; s < 16; s++) {
            float dl = d * (float)(b[i].scales[s] & 0xf), ml = dmin * (float)(b[i].scales[s] >> 4);
            for (int l = 0; l < 16; l++) y[16 * s + l] = dl * (float)q[16 * s + l] - ml;
        }
    }
}

void dequantize_row_q3_K(const void* x, float* y, int64_t n) {
    const BlockQ3K* b = (const BlockQ3K*)x;
    int q[256];
    for (int64_t i = 0; i < n / 256; i++, y += 256) {
        float d = h2f(b[i].d);
        q3k_values(&b[i], q);
        for (int s = 0; s < 16; s++) {
            float dl = d * (float)q3k_scale(b[i].scales, s);
            for (int l = 0; l < 16; l++) y[16 * s + l] = dl * (float)q[16 * s + l];
        }
    }
}

static void dequantize_k45(const uint16_t* dd, const uint8_t* scales, const uint8_t* qs, const uint8_t* qh,
                           float* y) {
    int q[256];
    float d = h2f(dd[0]), dmin = h2f(dd[1]);
    q45k_values(qs, qh, q);
    for (int s = 0; s < 8; s++) {
        int sc, m;
        k4_scale_min(scales, s, &sc, &m);
        float dl = d * (float)sc, ml = dmin * (float)m;
        for (int l = 0; l < 32; l++) y[32 * s + l] = dl * (float)q[32 * s + l] - ml;
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
    int q[256];
    for (int64_t i = 0; i < n / 256; i++, y += 256) {
        float d = h2f(b[i].d);
        q6k_values(&b[i], q);
        for (int s = 0; s < 16; s++) {
            float dl = d * (float)b[i].scales[s];
            for (int l = 0; l < 16; l++) y[16 * s + l] = dl * (float)q[16 * s + l];
        }
    }
}

void dequantize_row_iq4_xs(const void* x, float* y, int64_t n) {
    const BlockIQ4XS* b = (const BlockIQ4XS*)x;
    int q[32];
    for (int64_t i = 0; i < n / 256; i++) {
        float d = h2f(b[i].d);
        for (int ib = 0; ib < 8; ib++, y += 32) {
            float dl = d * (float)iq4xs_scale(&b[i], ib);
            q4_values(b[i].qs + 16 * ib, q);
            for (int j = 0; j < 32; j++) y[j] = dl * (float)kIQ4Values[q[j]];
        }
    }
}

// ---------------------------------------------------------------- activation quantization

// Clamp to [-127, 127] with NaN -> 0, so no float-to-int conversion is ever out of range.
static inline float clamp_q(float v) {
    if (!(v == v)) return 0.0f;
    return v > 127.0f ? 127.0f : (v < -127.0f ? -127.0f : v);
}

// Q8_0: d = max|x| / 127 (stored fp16), q = round-half-away(x / d) using the unrounded d.
void quantize_row_q8_0(const float* x, void* y, int64_t n) {
    BlockQ8_0* b = (BlockQ8_0*)y;
    for (int64_t i = 0; i < n / 32; i++, x += 32) {
        float amax = 0.0f;
        for (int j = 0; j < 32; j++) {
            float a = std::fabs(x[j]);
            if (a > amax) amax = a;
        }
        float d = amax / 127.0f;
        float id = d != 0.0f ? 1.0f / d : 0.0f;
        if (!std::isfinite(id)) id = 0.0f;  // d too tiny to invert: its fp16 is 0 anyway
        b[i].d = fp32_to_fp16(d);
        for (int j = 0; j < 32; j++) b[i].qs[j] = (int8_t)std::roundf(clamp_q(x[j] * id));
    }
}

// Round half to even for |v| < 2^22, bit-exactly what the SIMD convert does in the default mode.
static inline int nearest_int(float v) {
    float t = v + 12582912.0f;
    return (int)(fp32_to_bits(t) & 0x7fffff) - 0x400000;
}

// Q8_K as ggml forms it: iscale = -127 / (signed value of largest magnitude), q = rne(iscale * x),
// d = 1 / iscale (so d carries the opposite sign of that value; q*d is what matters).
void quantize_row_q8_K(const float* x, void* y, int64_t n) {
    BlockQ8K* b = (BlockQ8K*)y;
    for (int64_t i = 0; i < n / 256; i++, x += 256) {
        float amax = 0.0f, max = 0.0f;
        for (int j = 0; j < 256; j++) {
            float a = std::fabs(x[j]);
            if (a > amax) {
                amax = a;
                max = x[j];
            }
        }
        float iscale = amax != 0.0f ? -127.0f / max : 0.0f;
        if (!std::isfinite(iscale)) iscale = 0.0f;
        b[i].d = iscale != 0.0f ? 1.0f / iscale : 0.0f;
        for (int g = 0; g < 16; g++) {
            int sum = 0;
            for (int j = 0; j < 16; j++) {
                int q = nearest_int(clamp_q(iscale * x[16 * g + j]));
                b[i].qs[16 * g + j] = (int8_t)q;
                sum += q;
            }
            b[i].bsums[g] = (int16_t)sum;
        }
    }
}

// ---------------------------------------------------------------- dot products

// Double accumulation: the reference should be more exact than any tier it judges.
float vec_dot_f32_f32(int64_t n, const void* w, const void* a) {
    const float* x = (const float*)w;
    const float* y = (const float*)a;
    double s = 0.0;
    for (int64_t i = 0; i < n; i++) s += (double)x[i] * (double)y[i];
    return (float)s;
}

float vec_dot_f16_f32(int64_t n, const void* w, const void* a) {
    const uint16_t* x = (const uint16_t*)w;
    const float* y = (const float*)a;
    double s = 0.0;
    for (int64_t i = 0; i < n; i++) s += (double)fp16_to_fp32(x[i]) * (double)y[i];
    return (float)s;
}

float vec_dot_bf16_f32(int64_t n, const void* w, const void* a) {
    const uint16_t* x = (const uint16_t*)w;
    const float* y = (const float*)a;
    double s = 0.0;
    for (int64_t i = 0; i < n; i++) s += (double)bf16_to_fp32(x[i]) * (double)y[i];
    return (float)s;
}

static inline int dot32(const int* q, const int8_t* a) {
    int s = 0;
    for (int j = 0; j < 32; j++) s += q[j] * a[j];
    return s;
}

static inline int sum32(const int8_t* a) {
    int s = 0;
    for (int j = 0; j < 32; j++) s += a[j];
    return s;
}

// 32-element blocks: block i's term (exact in double) goes to partial sum i % 4, combined as
// (s0 + s1) + (s2 + s3). The order is part of the specification: SIMD tiers sum four blocks per
// double vector and must match bit for bit, since the engine's later roundings (f16 KV cache, Q8
// activations) turn a last-bit difference into a visible one.
static inline float sum4(const double* s) { return (float)((s[0] + s[1]) + (s[2] + s[3])); }

float vec_dot_q8_0_q8_0(int64_t n, const void* w, const void* a) {
    const BlockQ8_0* x = (const BlockQ8_0*)w;
    const BlockQ8_0* y = (const BlockQ8_0*)a;
    double s[4] = {0.0, 0.0, 0.0, 0.0};
    for (int64_t i = 0; i < n / 32; i++) {
        int acc = 0;
        for (int j = 0; j < 32; j++) acc += x[i].qs[j] * y[i].qs[j];
        s[i & 3] += (double)(h2f(x[i].d) * h2f(y[i].d)) * acc;
    }
    return sum4(s);
}

float vec_dot_q4_0_q8_0(int64_t n, const void* w, const void* a) {
    const BlockQ4_0* x = (const BlockQ4_0*)w;
    const BlockQ8_0* y = (const BlockQ8_0*)a;
    double s[4] = {0.0, 0.0, 0.0, 0.0};
    int q[32];
    for (int64_t i = 0; i < n / 32; i++) {
        q4_values(x[i].qs, q);
        for (int j = 0; j < 32; j++) q[j] -= 8;
        s[i & 3] += (double)(h2f(x[i].d) * h2f(y[i].d)) * dot32(q, y[i].qs);
    }
    return sum4(s);
}

// Affine blocks: sum (q*d + m) * a*da = d*da*sum(q*a) + m*da*sum(a).
float vec_dot_q4_1_q8_0(int64_t n, const void* w, const void* a) {
    const BlockQ4_1* x = (const BlockQ4_1*)w;
    const BlockQ8_0* y = (const BlockQ8_0*)a;
    double s[4] = {0.0, 0.0, 0.0, 0.0};
    int q[32];
    for (int64_t i = 0; i < n / 32; i++) {
        float da = h2f(y[i].d);
        q4_values(x[i].qs, q);
        s[i & 3] += (double)(h2f(x[i].d) * da) * dot32(q, y[i].qs) + (double)(h2f(x[i].m) * da) * sum32(y[i].qs);
    }
    return sum4(s);
}

float vec_dot_q5_0_q8_0(int64_t n, const void* w, const void* a) {
    const BlockQ5_0* x = (const BlockQ5_0*)w;
    const BlockQ8_0* y = (const BlockQ8_0*)a;
    double s[4] = {0.0, 0.0, 0.0, 0.0};
    int q[32];
    for (int64_t i = 0; i < n / 32; i++) {
        q5_values(x[i].qs, x[i].qh, q);
        for (int j = 0; j < 32; j++) q[j] -= 16;
        s[i & 3] += (double)(h2f(x[i].d) * h2f(y[i].d)) * dot32(q, y[i].qs);
    }
    return sum4(s);
}

float vec_dot_q5_1_q8_0(int64_t n, const void* w, const void* a) {
    const BlockQ5_1* x = (const BlockQ5_1*)w;
    const BlockQ8_0* y = (const BlockQ8_0*)a;
    double s[4] = {0.0, 0.0, 0.0, 0.0};
    int q[32];
    for (int64_t i = 0; i < n / 32; i++) {
        float da = h2f(y[i].d);
        q5_values(x[i].qs, x[i].qh, q);
        s[i & 3] += (double)(h2f(x[i].d) * da) * dot32(q, y[i].qs) + (double)(h2f(x[i].m) * da) * sum32(y[i].qs);
    }
    return sum4(s);
}

float vec_dot_iq4_nl_q8_0(int64_t n, const void* w, const void* a) {
    const BlockIQ4NL* x = (const BlockIQ4NL*)w;
    const BlockQ8_0* y = (const BlockQ8_0*)a;
    double s[4] = {0.0, 0.0, 0.0, 0.0};
    int q[32];
    for (int64_t i = 0; i < n / 32; i++) {
        q4_values(x[i].qs, q);
        for (int j = 0; j < 32; j++) q[j] = kIQ4Values[q[j]];
        s[i & 3] += (double)(h2f(x[i].d) * h2f(y[i].d)) * dot32(q, y[i].qs);
    }
    return sum4(s);
}

// K-quants against Q8_K: per block, d*da*sum_sub(sc*dot) - dmin*da*sum_sub(m*bsum).
static inline int dot16(const int* q, const int8_t* a) {
    int s = 0;
    for (int j = 0; j < 16; j++) s += q[j] * a[j];
    return s;
}

float vec_dot_q2_K_q8_K(int64_t n, const void* w, const void* a) {
    const BlockQ2K* x = (const BlockQ2K*)w;
    const BlockQ8K* y = (const BlockQ8K*)a;
    double s = 0.0;
    int q[256];
    for (int64_t i = 0; i < n / 256; i++) {
        q2k_values(&x[i], q);
        int isum = 0, msum = 0;
        for (int sb = 0; sb < 16; sb++) {
            isum += (x[i].scales[sb] & 0xf) * dot16(q + 16 * sb, y[i].qs + 16 * sb);
            msum += (x[i].scales[sb] >> 4) * y[i].bsums[sb];
        }
        s += (double)(h2f(x[i].d) * y[i].d) * isum - (double)(h2f(x[i].dmin) * y[i].d) * msum;
    }
    return (float)s;
}

float vec_dot_q3_K_q8_K(int64_t n, const void* w, const void* a) {
    const BlockQ3K* x = (const BlockQ3K*)w;
    const BlockQ8K* y = (const BlockQ8K*)a;
    double s = 0.0;
    int q[256];
    for (int64_t i = 0; i < n / 256; i++) {
        q3k_values(&x[i], q);
        int isum = 0;
        for (int sb = 0; sb < 16; sb++) isum += q3k_scale(x[i].scales, sb) * dot16(q + 16 * sb, y[i].qs + 16 * sb);
        s += (double)(h2f(x[i].d) * y[i].d) * isum;
    }
    return (float)s;
}

static double dot_k45(const uint16_t* dd, const uint8_t* scales, const uint8_t* qs, const uint8_t* qh,
                      const BlockQ8K* y) {
    int q[256];
    q45k_values(qs, qh, q);
    int isum = 0, msum = 0;
    for (int sb = 0; sb < 8; sb++) {
        int sc, m;
        k4_scale_min(scales, sb, &sc, &m);
        isum += sc * dot32(q + 32 * sb, y->qs + 32 * sb);
        msum += m * (y->bsums[2 * sb] + y->bsums[2 * sb + 1]);
    }
    return (double)(h2f(dd[0]) * y->d) * isum - (double)(h2f(dd[1]) * y->d) * msum;
}

float vec_dot_q4_K_q8_K(int64_t n, const void* w, const void* a) {
    const BlockQ4K* x = (const BlockQ4K*)w;
    const BlockQ8K* y = (const BlockQ8K*)a;
    double s = 0.0;
    for (int64_t i = 0; i < n / 256; i++) s += dot_k45(&x[i].d, x[i].scales, x[i].qs, nullptr, &y[i]);
    return (float)s;
}

float vec_dot_q5_K_q8_K(int64_t n, const void* w, const void* a) {
    const BlockQ5K* x = (const BlockQ5K*)w;
    const BlockQ8K* y = (const BlockQ8K*)a;
    double s = 0.0;
    for (int64_t i = 0; i < n / 256; i++) s += dot_k45(&x[i].d, x[i].scales, x[i].qs, x[i].qh, &y[i]);
    return (float)s;
}

float vec_dot_q6_K_q8_K(int64_t n, const void* w, const void* a) {
    const BlockQ6K* x = (const BlockQ6K*)w;
    const BlockQ8K* y = (const BlockQ8K*)a;
    double s = 0.0;
    int q[256];
    for (int64_t i = 0; i < n / 256; i++) {
        q6k_values(&x[i], q);
        int isum = 0;
        for (int sb = 0; sb < 16; sb++) isum += x[i].scales[sb] * dot16(q + 16 * sb, y[i].qs + 16 * sb);
        s += (double)(h2f(x[i].d) * y[i].d) * isum;
    }
    return (float)s;
}

float vec_dot_iq4_xs_q8_K(int64_t n, const void* w, const void* a) {
    const BlockIQ4XS* x = (const BlockIQ4XS*)w;
    const BlockQ8K* y = (const BlockQ8K*)a;
    double s = 0.0;
    int q[32];
    for (int64_t i = 0; i < n / 256; i++) {
        int isum = 0;
        for (int ib = 0; ib < 8; ib++) {
            q4_values(x[i].qs + 16 * ib, q);
            for (int j = 0; j < 32; j++) q[j] = kIQ4Values[q[j]];
            isum += iq4xs_scale(&x[i], ib) * dot32(q, y[i].qs + 32 * ib);
        }
        s += (double)(h2f(x[i].d) * y[i].d) * isum;
    }
    return (float)s;
}

void vec_dot_q8_0_q8_0_x4(int64_t n, const void* w, const void* a, size_t a_stride, float* out) {
    for (int t = 0; t < 4; t++) out[t] = vec_dot_q8_0_q8_0(n, w, (const uint8_t*)a + t * a_stride);
}

void vec_dot_q4_0_q8_0_x4(int64_t n, const void* w, const void* a, size_t a_stride, float* out) {
    for (int t = 0; t < 4; t++) out[t] = vec_dot_q4_0_q8_0(n, w, (const uint8_t*)a + t * a_stride);
}

}  // namespace generic
}  // namespace rl
