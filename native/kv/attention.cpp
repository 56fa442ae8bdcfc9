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
    float* ktile = scratch;                           // (kAttnTile, dk) the tile's keys as f32
    float* vtile = ktile + (size_t)kAttnTile * dk;    // (kAttnTile, dv) its values
    float* sc = vtile + (size_t)kAttnTile * dv;       // (G, kAttnTile) scores, then weights

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
            kv_load_row(s.type, kt, run.k + (size_t)j * run.k_stride, ktile + (size_t)t * dk, dk);
            if (++j >= run.n) {
                j = 0;
                r++;
            }
        }
        const int32_t n = t;
        // scores of all heads, one call per stretch of keys seen through the same query rotation
        for (int32_t t0 = 0; t0 < n;) {
            const int rot = tile_run[t0]->rot;
            int32_t t1 = t0 + 1;
            while (t1 < n && tile_run[t1]->rot == rot) t1++;
            kt->dot_rows_f32(q[rot], dk, G, ktile + (size_t)t0 * dk, dk, t1 - t0, dk, sc + t0, kAttnTile);
            t0 = t1;
        }
        // per head: scale (and cap), new running max, one rescale, the tile's weights
        bool any = false;
        for (int32_t h = 0; h < G; h++) {
            float* sh = sc + h * kAttnTile;
            float tmax = ninf;
            for (int32_t i = 0; i < n; i++) {
                float v = sh[i] * s.scale;
                if (s.softcap > 0) v = s.softcap * std::tanh(v / s.softcap);
                sh[i] = v == v ? v : ninf;  // NaN weighs nothing
                tmax = std::max(tmax, sh[i]);
            }
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
        // value rows some head weighs (axpy_rows skips zero weights, so the others are never read)
        for (int32_t i = 0; i < n; i++) {
            bool used = false;
            for (int32_t h = 0; h < G && !used; h++) used = sc[h * kAttnTile + i] != 0.0f;
            if (used) kv_load_row(s.type, kt, tile_run[i]->v + (size_t)tile_row[i] * tile_run[i]->v_stride,
                                  vtile + (size_t)i * dv, dv);
        }
        kt->axpy_rows_f32(o, dv, G, sc, kAttnTile, vtile, dv, n, dv);
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
