#include "attention.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace rl {

void attn_partial(const AttnShape& s, const float* const q[2], const AttnRun* runs, int n_runs, int64_t begin,
                  int64_t end, float* part, float* scratch) {
    const int32_t G = s.group, dk = s.head_dim_k, dv = s.head_dim_v;
    const KernelTable* kt = s.kt;
    const float ninf = -std::numeric_limits<float>::infinity();
    float* m = part;
    float* l = part + G;
    float* o = part + 2 * G;
    for (int32_t i = 0; i < G; i++) {
        m[i] = ninf;
        l[i] = 0.0f;
    }
    for (int64_t i = 0; i < (int64_t)G * dv; i++) o[i] = 0.0f;
    float* krow = scratch;
    float* vrow = scratch + dk;
    float* sc = vrow + dv;  // (G, kAttnTile) scores, then weights

    // Tiles follow the key sequence, not the runs, so the same keys in the same order give the
    // same bits however they are split into runs (a ring's wrap, sinks + recent, staging).
    int r = 0;
    int64_t j = begin;  // offset within run r
    while (r < n_runs && j >= runs[r].n) j -= runs[r++].n;
    const AttnRun* tile_run[kAttnTile];
    int64_t tile_row[kAttnTile];
    for (int64_t k0 = begin; k0 < end && r < n_runs; k0 += kAttnTile) {
        const int32_t nt = (int32_t)std::min<int64_t>(kAttnTile, end - k0);
        int32_t t = 0;
        for (; t < nt && r < n_runs; t++) {
            const AttnRun& run = runs[r];
            tile_run[t] = &run;
            tile_row[t] = j;
            kv_load_row(s.type, kt, run.k + (size_t)j * run.k_stride, krow, dk);
            const float* qr = q[run.rot];
            for (int32_t h = 0; h < G; h++) {
                float v = kt->dot_f32(qr + (int64_t)h * dk, krow, dk) * s.scale;
                if (s.softcap > 0) v = s.softcap * std::tanh(v / s.softcap);
                sc[h * kAttnTile + t] = v == v ? v : ninf;  // NaN weighs nothing
            }
            if (++j >= run.n) {
                j = 0;
                r++;
            }
        }
        const int32_t n = t;
        // per head: new running max, one rescale, the tile's weights
        bool any = false;
        for (int32_t h = 0; h < G; h++) {
            float* sh = sc + h * kAttnTile;
            float tmax = ninf;
            for (int32_t i = 0; i < n; i++) tmax = std::max(tmax, sh[i]);
            if (!(tmax > ninf)) {  // fully masked for this head
                for (int32_t i = 0; i < n; i++) sh[i] = 0.0f;
                continue;
            }
            if (tmax > m[h]) {
                const float c = std::exp(m[h] - tmax);  // 0 on the first keys (m = -inf)
                kt->scale_f32(o + (int64_t)h * dv, c, dv);
                l[h] *= c;
                m[h] = tmax;
            }
            l[h] += kt->exp_shift(sh, n, m[h]);
            any = true;
        }
        if (!any) continue;
        for (int32_t i = 0; i < n; i++) {
            const AttnRun& run = *tile_run[i];
            kv_load_row(s.type, kt, run.v + (size_t)tile_row[i] * run.v_stride, vrow, dv);
            for (int32_t h = 0; h < G; h++) {
                const float w = sc[h * kAttnTile + i];
                if (w != 0.0f) kt->axpy_f32(o + (int64_t)h * dv, w, vrow, dv);
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
