#include "attention.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

namespace rl {

namespace {
constexpr int32_t T = kAttnKeys;
const float kNegInf = -std::numeric_limits<float>::infinity();
}  // namespace

void attn_view(const KvLayer& kv, int64_t first, int32_t n_pos, AttnView* v) {
    v->first = first;
    v->n_pos = n_pos;
    for (KvSpan& u : v->unions) u = KvSpan{1, 0, 0};
    for (int32_t t = 0; t < n_pos; t++) {
        v->n_spans[t] = kv.spans(first + t, v->spans[t]);
        for (int i = 0; i < v->n_spans[t]; i++) {
            const KvSpan& sp = v->spans[t][i];
            KvSpan& u = v->unions[sp.rot];
            if (u.lo > u.hi) {
                u = sp;
            } else {
                u.lo = std::min(u.lo, sp.lo);
                u.hi = std::max(u.hi, sp.hi);
            }
        }
    }
    // tile ranges of the unions (rot 1 spans, the sinks, come first in position order)
    v->n_ranges = 0;
    for (int k : {1, 0}) {
        const KvSpan& u = v->unions[k];
        if (u.lo > u.hi) continue;
        const int64_t a = u.lo / T, b = u.hi / T + 1;
        if (v->n_ranges > 0 && a <= v->ranges[v->n_ranges - 1][1]) {
            v->ranges[v->n_ranges - 1][1] = std::max(v->ranges[v->n_ranges - 1][1], b);
        } else {
            v->ranges[v->n_ranges][0] = a;
            v->ranges[v->n_ranges][1] = b;
            v->n_ranges++;
        }
    }
}

void attn_view_run(int64_t p, int64_t lo, int64_t hi, AttnView* v) {
    v->first = p;
    v->n_pos = 1;
    v->spans[0][0] = KvSpan{lo, hi, 0};
    v->n_spans[0] = 1;
    v->unions[0] = KvSpan{lo, hi, 0};
    v->unions[1] = KvSpan{1, 0, 0};
    v->ranges[0][0] = lo / T;
    v->ranges[0][1] = hi / T + 1;
    v->n_ranges = 1;
}

int64_t AttnView::n_tiles() const {
    int64_t n = 0;
    for (int i = 0; i < n_ranges; i++) n += ranges[i][1] - ranges[i][0];
    return n;
}

int64_t AttnView::tile(int64_t i) const {
    for (int r = 0; r < n_ranges; r++) {
        const int64_t len = ranges[r][1] - ranges[r][0];
        if (i < len) return ranges[r][0] + i;
        i -= len;
    }
    return -1;
}

int64_t AttnView::n_keys() const {
    int64_t n = 0;
    for (const KvSpan& u : unions)
        if (u.lo <= u.hi) n += u.hi - u.lo + 1;
    return n;
}

// Quantized rows (q8_0/q4_0) of a tile as f32 rows of n; a null row is zeros.
static void load_rows(const AttnShape& s, const uint8_t* const* rows, int32_t n, float* out) {
    for (int32_t j = 0; j < T; j++) {
        if (rows[j])
            kv_load_row(s.type, s.kt, rows[j], out + (size_t)j * n, n);
        else
            std::memset(out + (size_t)j * n, 0, sizeof(float) * n);
    }
}

void attn_load_keys(const AttnShape& s, const uint8_t* const* k, float* kr, float* ktr) {
    if (s.type == KvType::F16) return s.kt->attn_load_k_f16((const uint16_t* const*)k, s.head_dim_k, ktr);
    load_rows(s, k, s.head_dim_k, kr);
    s.kt->attn_transpose(kr, s.head_dim_k, ktr);
}

void attn_load_values(const AttnShape& s, const uint8_t* const* v, float* vr) {
    if (s.type == KvType::F16) return s.kt->attn_load_v_f16((const uint16_t* const*)v, s.head_dim_v, vr);
    load_rows(s, v, s.head_dim_v, vr);
}

size_t attn_block_scratch_floats(const AttnShape& s, int32_t rows) {
    // K rows, K transposed, V rows, scores with q0 and with q1
    return (size_t)T * (2 * (size_t)s.head_dim_k + s.head_dim_v) + 2 * (size_t)rows * T;
}

void attn_block(const AttnShape& s, const AttnKeys& keys, const AttnView& view, const float* q0, const float* q1,
                int64_t i0, int64_t i1, float* m, float* l, float* o, float* scratch) {
    const int32_t G = s.group, dk = s.head_dim_k, dv = s.head_dim_v, rows = view.n_pos * G;
    const KernelTable* kt = s.kt;
    for (int32_t r = 0; r < rows; r++) {
        m[r] = kNegInf;
        l[r] = 0.0f;
    }
    std::fill(o, o + (size_t)rows * dv, 0.0f);
    float* kr = scratch;                      // (T, dk)
    float* ktr = kr + (size_t)T * dk;         // (dk, T)
    float* vr = ktr + (size_t)T * dk;         // (T, dv)
    float* s0 = vr + (size_t)T * dv;          // (rows, T) scores, then weights
    float* s1 = s0 + (size_t)rows * T;        // (rows, T) scores with q1
    const bool two_rot = q1 != q0;

    for (int64_t i = i0; i < i1; i++) {
        const int64_t k0 = view.tile(i) * T, k1 = k0 + T - 1;  // the tile's positions [k0, k1]
        // rows of positions some query of the block sees; the others are zero (and masked)
        int32_t jlo = T, jhi = -1;
        const uint8_t* kp[T] = {};
        const uint8_t* vp[T] = {};
        bool rot1 = false;
        for (int u = 0; u < kKvMaxSpans; u++) {
            const KvSpan& sp = view.unions[u];
            const int64_t a = std::max(sp.lo, k0), b = std::min(sp.hi, k1);
            if (a > b) continue;
            rot1 |= sp.rot == 1;
            for (int64_t p = a; p <= b; p++) {
                kp[p - k0] = keys.k(p);
                vp[p - k0] = keys.v(p);
            }
            jlo = std::min(jlo, (int32_t)(a - k0));
            jhi = std::max(jhi, (int32_t)(b - k0));
        }
        if (jhi < 0) continue;
        attn_load_keys(s, kp, kr, ktr);
        attn_load_values(s, vp, vr);
        kt->attn_scores(q0, rows, dk, ktr, s.scale, s0);
        const bool use_s1 = two_rot && rot1;
        if (use_s1) kt->attn_scores(q1, rows, dk, ktr, s.scale, s1);

        // masks: per position (its G rows share them); a span covering the whole tile needs none
        for (int32_t t = 0; t < view.n_pos; t++) {
            const KvSpan* sp = view.spans[t];
            const int ns = view.n_spans[t];
            bool whole = false, any = false;
            for (int k = 0; k < ns; k++) {
                if (sp[k].lo > k1 || sp[k].hi < k0) continue;
                any = true;
                whole |= sp[k].lo <= k0 && sp[k].hi >= k1 && !(use_s1 && sp[k].rot == 1);
            }
            if (whole && !(s.softcap > 0)) continue;
            for (int32_t h = 0; h < G; h++) {
                const int32_t r = t * G + h;
                float* sr = s0 + (size_t)r * T;
                if (!any) {  // the row cannot see this tile: the softmax step leaves it untouched
                    std::fill(sr, sr + T, kNegInf);
                    continue;
                }
                if (!whole) {
                    float masked[T];
                    for (int32_t j = 0; j < T; j++) masked[j] = kNegInf;
                    for (int k = 0; k < ns; k++) {
                        const int64_t a = std::max(sp[k].lo, k0), b = std::min(sp[k].hi, k1);
                        const float* src = use_s1 && sp[k].rot == 1 ? s1 + (size_t)r * T : sr;
                        for (int64_t p = a; p <= b; p++) masked[p - k0] = src[p - k0];
                    }
                    std::memcpy(sr, masked, sizeof(masked));
                }
                if (s.softcap > 0)
                    for (int32_t j = 0; j < T; j++)
                        if (sr[j] > kNegInf) sr[j] = s.softcap * std::tanh(sr[j] / s.softcap);  // masked stays -inf
            }
        }
        kt->attn_softmax(s0, rows, m, l, o, dv);
        kt->attn_pv(o, rows, dv, s0, vr, jlo, jhi + 1);
    }
}

void attn_finish(const AttnShape& s, int32_t rows, const float* l, const float* o, float* out, int64_t out_stride) {
    const int32_t dv = s.head_dim_v;
    for (int32_t r = 0; r < rows; r++) {
        const float inv = l[r] > 0 ? (float)(1.0 / (double)l[r]) : 0.0f;
        const float* orow = o + (size_t)r * dv;
        float* y = out + (size_t)r * out_stride;
        for (int32_t d = 0; d < dv; d++) y[d] = orow[d] * inv;
    }
}

void attn_merge(const AttnShape& s, const float* parts, int n, float* out) {
    const int32_t G = s.group, dv = s.head_dim_v;
    const size_t stride = attn_partial_floats(s);
    for (int32_t h = 0; h < G; h++) {
        float M = kNegInf;
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
