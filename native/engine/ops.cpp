#include "ops.h"

#include <algorithm>
#include <cmath>

namespace rl {

void ops_rmsnorm(const float* x, const float* w, float* y, int64_t n, float eps) {
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) sum += (double)x[i] * (double)x[i];
    float scale = 1.0f / std::sqrt((float)(sum / (double)n) + eps);
    for (int64_t i = 0; i < n; i++) y[i] = x[i] * scale * w[i];
}

void ops_layernorm_bias(const float* x, const float* w, const float* b, float* y, int64_t n, float eps) {
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) sum += x[i];
    const float mean = (float)(sum / (double)n);
    double var = 0.0;
    for (int64_t i = 0; i < n; i++) var += ((double)x[i] - mean) * ((double)x[i] - mean);
    const float scale = 1.0f / std::sqrt((float)(var / (double)n) + eps);
    for (int64_t i = 0; i < n; i++) y[i] = (x[i] - mean) * scale * w[i];
    if (b)
        for (int64_t i = 0; i < n; i++) y[i] += b[i];
}

void ops_layernorm(const float* x, const float* w, float* y, int64_t n, float eps) {
    ops_layernorm_bias(x, w, nullptr, y, n, eps);
}

void ops_rope_yarn_dims(int32_t n_rot, int64_t n_ctx_orig, float base, float beta_fast, float beta_slow, float* low,
                        float* high) {
    const double two_pi = 6.283185307179586;
    auto dim = [&](float n_rotations) {
        return n_rot * std::log((double)n_ctx_orig / (n_rotations * two_pi)) / (2.0 * std::log((double)base));
    };
    *low = (float)std::max(0.0, std::floor(dim(beta_fast)));
    *high = (float)std::min((double)n_rot - 1, std::ceil(dim(beta_slow)));
}

void ops_rope_cache(float* cs, int32_t n_rot, int64_t pos, float pos_scale, float base, const float* freq_factors,
                    const RopeYarn* yarn) {
    const bool use_yarn = yarn && yarn->ext_factor != 0.0f;
    const float mscale =
        use_yarn ? yarn->attn_factor * (1.0f + 0.1f * std::log(1.0f / pos_scale)) : (yarn ? yarn->attn_factor : 1.0f);
    // theta_extrap -> (cos, sin) of pair i, applying YaRN's mix when on.
    auto put = [&](int32_t i, double extrap) {
        double t = extrap * pos_scale;
        if (use_yarn) {
            const double y = (i - yarn->low) / std::max(0.001f, yarn->high - yarn->low);
            const double mix = (1.0 - std::min(1.0, std::max(0.0, y))) * yarn->ext_factor;
            t = t * (1.0 - mix) + extrap * mix;
        }
        cs[2 * i] = (float)std::cos(t) * mscale;
        cs[2 * i + 1] = (float)std::sin(t) * mscale;
    };
    if (pos >= kRopeExactFrom) {
        // Far positions (long streams): float's recurrence would lose whole radians; double keeps the
        // angle exact, so a query and a key far from the origin still differ by the right rotation.
        for (int32_t i = 0; i < n_rot / 2; i++) {
            double t = (double)pos * std::pow((double)base, -2.0 * i / n_rot);
            if (freq_factors) t /= freq_factors[i];
            put(i, t);
        }
        return;
    }
    // Same recurrence as the reference (theta multiplied by base^(-2/n_rot) per pair), so the
    // rounding matches llama.cpp's.
    const float theta_scale = std::pow(base, -2.0f / (float)n_rot);
    if (!use_yarn && mscale == 1.0f) {
        float theta = (float)pos * pos_scale;
        for (int32_t i = 0; i < n_rot / 2; i++) {
            float t = freq_factors ? theta / freq_factors[i] : theta;
            cs[2 * i] = std::cos(t);
            cs[2 * i + 1] = std::sin(t);
            theta *= theta_scale;
        }
        return;
    }
    float theta = (float)pos;
    for (int32_t i = 0; i < n_rot / 2; i++) {
        put(i, freq_factors ? theta / freq_factors[i] : theta);
        theta *= theta_scale;
    }
}

void ops_rope_apply_norm(float* x, int32_t n_heads, int32_t head_dim, int32_t n_rot, const float* cs) {
    for (int32_t h = 0; h < n_heads; h++) {
        float* xh = x + (int64_t)h * head_dim;
        for (int32_t i = 0; i < n_rot / 2; i++) {
            float c = cs[2 * i], s = cs[2 * i + 1];
            float x0 = xh[2 * i], x1 = xh[2 * i + 1];
            xh[2 * i] = x0 * c - x1 * s;
            xh[2 * i + 1] = x0 * s + x1 * c;
        }
    }
}

void ops_rope_apply_neox(float* x, int32_t n_heads, int32_t head_dim, int32_t n_rot, const float* cs) {
    const int32_t half = n_rot / 2;
    for (int32_t h = 0; h < n_heads; h++) {
        float* xh = x + (int64_t)h * head_dim;
        for (int32_t i = 0; i < half; i++) {
            float c = cs[2 * i], s = cs[2 * i + 1];
            float x0 = xh[i], x1 = xh[i + half];
            xh[i] = x0 * c - x1 * s;
            xh[i + half] = x0 * s + x1 * c;
        }
    }
}

void ops_softcap(float* x, int64_t n, float cap) {
    const float inv = 1.0f / cap;
    for (int64_t i = 0; i < n; i++) x[i] = std::tanh(x[i] * inv) * cap;
}

void ops_scale(float* x, float a, int64_t n) {
    for (int64_t i = 0; i < n; i++) x[i] *= a;
}

void ops_softmax(float* x, int64_t n) {
    float max = -INFINITY;
    for (int64_t i = 0; i < n; i++) max = x[i] > max ? x[i] : max;
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) {
        float e = std::exp(x[i] - max);
        x[i] = e;
        sum += e;
    }
    float inv = (float)(1.0 / sum);
    for (int64_t i = 0; i < n; i++) x[i] *= inv;
}

void ops_swiglu(float* g, const float* u, int64_t n) {
    for (int64_t i = 0; i < n; i++) g[i] = g[i] / (1.0f + std::exp(-g[i])) * u[i];
}

static inline float gelu_tanh(float x) {
    const float k = 0.7978845608028654f;  // sqrt(2/pi)
    return 0.5f * x * (1.0f + std::tanh(k * x * (1.0f + 0.044715f * x * x)));
}

void ops_geglu(float* g, const float* u, int64_t n) {
    for (int64_t i = 0; i < n; i++) g[i] = gelu_tanh(g[i]) * u[i];
}

void ops_gelu(float* x, int64_t n) {
    for (int64_t i = 0; i < n; i++) x[i] = gelu_tanh(x[i]);
}

void ops_axpy(float* y, float a, const float* x, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] += a * x[i];
}

void ops_add_bias_rows(float* y, const float* b, int64_t m, int64_t n, int64_t stride) {
    if (!b) return;
    for (int64_t t = 0; t < m; t++) ops_axpy(y + t * stride, 1.0f, b, n);
}

}  // namespace rl
