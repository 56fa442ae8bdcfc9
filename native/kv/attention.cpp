#include "attention.h"

#include <cmath>
#include <limits>

namespace rl {

void attn_partial(const AttnShape& s, const float* const q[2], const AttnRun* runs, int n_runs, int64_t begin,
                  int64_t end, float* part, float* scratch) {
    const int32_t G = s.group, dk = s.head_dim_k, dv = s.head_dim_v;
    float* m = part;
    float* l = part + G;
    float* o = part + 2 * G;
    for (int32_t i = 0; i < G; i++) {
        m[i] = -std::numeric_limits<float>::infinity();
        l[i] = 0.0f;
    }
    for (int64_t i = 0; i < (int64_t)G * dv; i++) o[i] = 0.0f;
    float* krow = scratch;
    float* vrow = scratch + dk;

    int64_t base = 0;  // index of the run's first key in the concatenation
    for (int r = 0; r < n_runs && base < end; base += runs[r].n, r++) {
        const AttnRun& run = runs[r];
        const int64_t lo = begin > base ? begin - base : 0;
        const int64_t hi = end - base < run.n ? end - base : run.n;
        const float* qr = q[run.rot];
        for (int64_t j = lo; j < hi; j++) {
            kv_load_row(s.type, s.kt, run.k + (size_t)j * run.k_stride, krow, dk);
            bool loaded_v = false;
            for (int32_t h = 0; h < G; h++) {
                float sc = s.kt->dot_f32(qr + (int64_t)h * dk, krow, dk) * s.scale;
                if (s.softcap > 0) sc = s.softcap * std::tanh(sc / s.softcap);
                if (!(sc > -std::numeric_limits<float>::infinity())) continue;  // weight 0 (or NaN input)
                if (!loaded_v) {
                    kv_load_row(s.type, s.kt, run.v + (size_t)j * run.v_stride, vrow, dv);
                    loaded_v = true;
                }
                float* oh = o + (int64_t)h * dv;
                float w;
                if (sc > m[h]) {
                    const float c = std::exp(m[h] - sc);  // 0 on the first key (m = -inf)
                    for (int32_t d = 0; d < dv; d++) oh[d] *= c;
                    l[h] *= c;
                    m[h] = sc;
                    w = 1.0f;
                } else {
                    w = std::exp(sc - m[h]);
                }
                l[h] += w;
                for (int32_t d = 0; d < dv; d++) oh[d] += w * vrow[d];
            }
        }
    }
}

void attn_merge(const AttnShape& s, const float* parts, int n, float* out) {
    const int32_t G = s.group, dv = s.head_dim_v;
    const size_t stride = attn_partial_floats(s);
    for (int32_t h = 0; h < G; h++) {
        float M = -std::numeric_limits<float>::infinity();
        for (int k = 0; k < n; k++) {
            const float* p = parts + (size_t)k * stride;
            if (p[G + h] > 0 && p[h] > M) M = p[h];
        }
        float* oh = out + (int64_t)h * dv;
        for (int32_t d = 0; d < dv; d++) oh[d] = 0.0f;
        double L = 0.0;
        for (int k = 0; k < n; k++) {
            const float* p = parts + (size_t)k * stride;
            if (!(p[G + h] > 0)) continue;  // empty or fully masked: weighs nothing
            const float c = n == 1 ? 1.0f : std::exp(p[h] - M);
            L += (double)c * p[G + h];
            const float* o = p + 2 * G + (int64_t)h * dv;
            for (int32_t d = 0; d < dv; d++) oh[d] += c * o[d];
        }
        const float inv = L > 0 ? (float)(1.0 / L) : 0.0f;
        for (int32_t d = 0; d < dv; d++) oh[d] *= inv;
    }
}

}  // namespace rl
