// Small f32 row ops of the forward pass (scalar; the compiler vectorizes the simple loops).
// They move to native/kernels/ with per-ISA versions when they show up in profiles.
#pragma once

#include <cstdint>

namespace rl {

// y = x / sqrt(mean(x^2) + eps) * w
void ops_rmsnorm(const float* x, const float* w, float* y, int64_t n, float eps);

// y = (x - mean(x)) / sqrt(var(x) + eps) * w  (LayerNorm without bias; cohere2)
void ops_layernorm(const float* x, const float* w, float* y, int64_t n, float eps);

// Same, then + b (BERT)
void ops_layernorm_bias(const float* x, const float* w, const float* b, float* y, int64_t n, float eps);

// cos/sin of each of the n_rot/2 rotated pairs at position pos: theta_i = pos * pos_scale *
// base^(-2i/n_rot) / freq_factors[i] (freq_factors may be null). cs: (n_rot/2, 2). Positions from
// kRopeExactFrom on are computed in double.
constexpr int64_t kRopeExactFrom = 1 << 16;

// YaRN (rope.scaling.type "yarn"): pair i uses theta = interp * (1 - mix) + extrap * mix, where
// extrap is the unscaled angle, interp = extrap * pos_scale (1 / factor), and mix = ext_factor *
// ramp(i) falls linearly from 1 at pair `low` to 0 at pair `high` (the correction dimensions); cos
// and sin are multiplied by attn_factor * (1 + 0.1 ln(factor)).
struct RopeYarn {
    float ext_factor = 0.0f;  // 0: YaRN off (pos_scale scales every angle: linear scaling)
    float attn_factor = 1.0f;
    float low = 0.0f, high = 0.0f;
};
// Correction dimensions of YaRN for n_rot rotated dims, the original training context, the RoPE
// base and the fast/slow rotation counts (32 / 1 by default): the pair index where a frequency
// completes n rotations over the original context, floored/ceiled and clamped to [0, n_rot - 1].
void ops_rope_yarn_dims(int32_t n_rot, int64_t n_ctx_orig, float base, float beta_fast, float beta_slow, float* low,
                        float* high);

void ops_rope_cache(float* cs, int32_t n_rot, int64_t pos, float pos_scale, float base, const float* freq_factors,
                    const RopeYarn* yarn = nullptr);

// Rotates adjacent pairs (2i, 2i+1), i < n_rot/2, of each of n_heads heads of head_dim (llama NORM).
void ops_rope_apply_norm(float* x, int32_t n_heads, int32_t head_dim, int32_t n_rot, const float* cs);

// Rotates half-split pairs (i, i + n_rot/2), i < n_rot/2, of each head (NEOX order).
void ops_rope_apply_neox(float* x, int32_t n_heads, int32_t head_dim, int32_t n_rot, const float* cs);

// x = cap * tanh(x / cap)
void ops_softcap(float* x, int64_t n, float cap);

// x *= a
void ops_scale(float* x, float a, int64_t n);

// x = softmax(x) in place; returns nothing, sums in double.
void ops_softmax(float* x, int64_t n);

// g = silu(g) * u
void ops_swiglu(float* g, const float* u, int64_t n);

// g = gelu(g) * u, gelu in its tanh approximation
void ops_geglu(float* g, const float* u, int64_t n);

// x = gelu(x), tanh approximation (BERT's FFN, as llama.cpp computes it)
void ops_gelu(float* x, int64_t n);

// y += a * x
void ops_axpy(float* y, float a, const float* x, int64_t n);

// Adds the bias b (n floats; none when null) to each of m rows of n floats, stride `stride`.
void ops_add_bias_rows(float* y, const float* b, int64_t m, int64_t n, int64_t stride);

}  // namespace rl
