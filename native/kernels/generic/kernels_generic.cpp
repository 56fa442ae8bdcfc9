// Scalar reference kernels: the specification the SIMD tiers are tested against.
#include <algorithm>
#include <cmath>

#include "../fp16.h"
#include "../kernel_table.h"

namespace rl {
namespace generic {

float dot_f32(const float* a, const float* b, int64_t n) {
    // Double accumulation: the reference should be more exact than any tier it judges.
    double s = 0.0;
    for (int64_t i = 0; i < n; i++) s += (double)a[i] * (double)b[i];
    return (float)s;
}

void fp16_to_f32_row(const uint16_t* x, float* y, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = fp16_to_fp32(x[i]);
}

void f32_to_fp16_row(const float* x, uint16_t* y, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = fp32_to_fp16(x[i]);
}

void bf16_to_f32_row(const uint16_t* x, float* y, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = bf16_to_fp32(x[i]);
}

float exp_shift(float* x, int64_t n, float m) {
    double s = 0.0;
    for (int64_t i = 0; i < n; i++) {
        const float d = x[i] - m;
        x[i] = d >= kExpUnderflow ? std::exp(d) : 0.0f;  // NaN too
        s += x[i];
    }
    return (float)s;
}

void axpy_f32(float* y, float a, const float* x, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] += a * x[i];
}

void scale_f32(float* y, float a, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] *= a;
}

// The attention tile kernels' specification: one std::fma per product, in the documented order
// (SIMD tiers vectorize over keys or value elements, never over the chain).
void attn_scores(const float* q, int32_t rows, int64_t dk, const float* kt, float scale, float* s) {
    for (int32_t r = 0; r < rows; r++) {
        float acc[kAttnKeys] = {};
        const float* qr = q + (int64_t)r * dk;
        for (int64_t d = 0; d < dk; d++)
            for (int32_t j = 0; j < kAttnKeys; j++) acc[j] = std::fma(qr[d], kt[d * kAttnKeys + j], acc[j]);
        for (int32_t j = 0; j < kAttnKeys; j++) s[r * kAttnKeys + j] = acc[j] * scale;
    }
}

void attn_pv(float* o, int32_t rows, int64_t dv, const float* p, const float* v, int32_t j0, int32_t j1) {
    for (int32_t r = 0; r < rows; r++) {
        float* orow = o + (int64_t)r * dv;
        for (int32_t j = j0; j < j1; j++) {
            const float w = p[r * kAttnKeys + j];
            for (int64_t i = 0; i < dv; i++) orow[i] = std::fma(w, v[j * dv + i], orow[i]);
        }
    }
}

void attn_transpose(const float* x, int64_t n, float* y) {
    for (int32_t j = 0; j < kAttnKeys; j++)
        for (int64_t d = 0; d < n; d++) y[d * kAttnKeys + j] = x[j * n + d];
}

void attn_softmax(float* s, int32_t rows, float* m, float* l, float* o, int64_t dv) {
    const float ninf = -INFINITY;
    for (int32_t r = 0; r < rows; r++) {
        float* sr = s + r * kAttnKeys;
        float t = ninf;
        for (int32_t j = 0; j < kAttnKeys; j++) {
            sr[j] = sr[j] == sr[j] ? sr[j] : ninf;
            t = std::max(t, sr[j]);
        }
        if (!(t > ninf)) {
            for (int32_t j = 0; j < kAttnKeys; j++) sr[j] = 0.0f;
            continue;
        }
        if (t > m[r]) {
            const float c = std::exp(m[r] - t);  // 0 on a row's first keys (m = -inf)
            scale_f32(o + r * dv, c, dv);
            l[r] *= c;
            m[r] = t;
        }
        l[r] += exp_shift(sr, kAttnKeys, m[r]);
    }
}

void attn_load_k_f16(const uint16_t* const* rows, int64_t n, float* kt) {
    for (int32_t j = 0; j < kAttnKeys; j++)
        for (int64_t d = 0; d < n; d++) kt[d * kAttnKeys + j] = rows[j] ? fp16_to_fp32(rows[j][d]) : 0.0f;
}

void attn_load_v_f16(const uint16_t* const* rows, int64_t n, float* out) {
    for (int32_t j = 0; j < kAttnKeys; j++)
        for (int64_t d = 0; d < n; d++) out[j * n + d] = rows[j] ? fp16_to_fp32(rows[j][d]) : 0.0f;
}

}  // namespace generic

const KernelTable* kernels_generic() {
    static const KernelTable table = {
        "generic", generic::dot_f32, generic::fp16_to_f32_row, generic::f32_to_fp16_row,
        generic::bf16_to_f32_row, generic::exp_shift, generic::axpy_f32, generic::scale_f32,
        generic::attn_scores, generic::attn_pv,
        generic::attn_transpose, generic::attn_softmax, generic::attn_load_k_f16, generic::attn_load_v_f16,
    };
    return &table;
}

}  // namespace rl
