// KV cache and attention self-test (no Node), LONG_CONTEXT.md sections 1, 2, 5, 6, 7:
//  - tiled attention over a wrapped window ring with staged rows equals multi-head attention with
//    K/V explicitly repeated (H=32/G=8, 12/4, 8/1), for f16, q8_0 and q4_0 rows, with and without
//    soft-capping; every policy (window mask, sinks with their own query rotation) on ragged head
//    sizes and blocks; each row of a block bit for bit the same position computed alone;
//  - flash-decoding: any split count (not dividing the tiles, more splits than tiles: empty ranges)
//    merges to the unsplit result, and empty partials weigh nothing (no NaN);
//  - ring bookkeeping: after n tokens slot p mod W holds p; a query sees exactly min(p+1, W) keys,
//    and exactly the right positions when a chunk (smaller, equal or larger than W) is staged;
//    sinks keep 0..S-1 and the last R; h2o evicts the lowest score outside the recent tokens;
//  - recall: evicted rows move into the store exactly once and unchanged (f16, q8_0, q4_0, any
//    chunking; a file-backed store too); block min/max representatives equal a slow recomputation; selection equals a slow
//    reference (exact scores, top-k, ties to the lower block index) and the bound holds; a 1M-token
//    stream keeps the attended keys bounded and store bytes = evicted tokens x row bytes;
//  - KV rows: quantize/dequantize error bounds; RoPE: rotating at p then by d equals rotating at p+d.
// Build and run: scripts/test-native.sh (ASan + UBSan).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <unistd.h>
#include <set>
#include <vector>

#include "../../engine/ops.h"
#include "../../kernels/kernels.h"
#include "../attention.h"
#include "../kv_cache.h"
#include "../kv_store.h"
#include "../../util/selftest.h"

using namespace rl;


static std::mt19937 rng(1234);
static std::vector<float> randn(size_t n, float scale = 1.0f) {
    std::normal_distribution<float> d(0.0f, scale);
    std::vector<float> v(n);
    for (float& x : v) x = d(rng);
    return v;
}

static const KernelTable* kt() {
    static const KernelTable* t = [] {
        const KernelTable* k = nullptr;
        kernels_select(nullptr, &k);
        return k;
    }();
    return t;
}

// Multi-head attention of one query head over n keys given as f32 rows (the reference).
static void naive_attention(const float* q, const std::vector<std::vector<float>>& K,
                            const std::vector<std::vector<float>>& V, float scale, float softcap, float* out) {
    const size_t n = K.size(), dk = K[0].size(), dv = V[0].size();
    std::vector<double> s(n);
    double mx = -INFINITY;
    for (size_t j = 0; j < n; j++) {
        double d = 0;
        for (size_t i = 0; i < dk; i++) d += (double)q[i] * K[j][i];
        d *= scale;
        if (softcap > 0) d = softcap * std::tanh(d / softcap);
        s[j] = d;
        mx = std::max(mx, d);
    }
    double sum = 0;
    for (double& x : s) sum += (x = std::exp(x - mx));
    for (size_t i = 0; i < dv; i++) {
        double o = 0;
        for (size_t j = 0; j < n; j++) o += s[j] / sum * V[j][i];
        out[i] = (float)o;
    }
}

// A layer of G KV heads holding positions 0..n_cached-1 (written through the policy's slots, so a
// ring wraps), positions n_cached..n-1 staged, and every row's dequantized value for the reference.
struct TestLayer {
    KvLayer L;
    std::vector<uint8_t> k, v;                          // (n, G) rows in the storage type
    std::vector<std::vector<std::vector<float>>> K, V;  // [g][p] dequantized
    int64_t p0 = 0;
    AttnKeys keys(int32_t g) const {
        return AttnKeys{&L, g, k.data() + (size_t)p0 * L.k_row_bytes(), v.data() + (size_t)p0 * L.v_row_bytes(), p0};
    }
};

static void make_layer(TestLayer* T, const KvLayerConfig& c, KvType type, int32_t G, int32_t dk, int32_t dv, int64_t n,
                       int64_t n_cached) {
    CHECK(T->L.init(c, type, G, dk, dv).ok(), "layer init");
    T->k.resize((size_t)n * T->L.k_row_bytes());
    T->v.resize((size_t)n * T->L.v_row_bytes());
    T->K.assign(G, {});
    T->V.assign(G, {});
    for (int64_t p = 0; p < n; p++)
        for (int32_t g = 0; g < G; g++) {
            std::vector<float> kk = randn(dk), vv = randn(dv);
            uint8_t* kr = T->k.data() + (size_t)p * T->L.k_row_bytes() + g * T->L.k_head_bytes();
            uint8_t* vr = T->v.data() + (size_t)p * T->L.v_row_bytes() + g * T->L.v_head_bytes();
            kv_store_row(type, kt(), kk.data(), kr, dk);
            kv_store_row(type, kt(), vv.data(), vr, dv);
            kv_load_row(type, kt(), kr, kk.data(), dk);
            kv_load_row(type, kt(), vr, vv.data(), dv);
            T->K[g].push_back(kk);
            T->V[g].push_back(vv);
        }
    T->L.commit(T->k.data(), T->v.data(), 0, (int32_t)n_cached);
    T->p0 = n_cached;
}

static AttnShape shape(int32_t group, int32_t dk, int32_t dv, KvType type, float scale, float softcap) {
    AttnShape s;
    s.group = group;
    s.head_dim_k = dk;
    s.head_dim_v = dv;
    s.scale = scale;
    s.softcap = softcap;
    s.type = type;
    s.kt = kt();
    return s;
}

// Attention of the block of positions [first, first + n_pos) of KV head g: rows (t, h) against the
// reference over exactly the positions each query may see (sinks with their own query rotation q1),
// and each row bit for bit equal to the same position computed alone (a block of one).
static float check_block(const TestLayer& T, const AttnShape& s, int32_t g, int64_t first, int32_t n_pos,
                         const std::vector<float>& q0, const std::vector<float>& q1, bool* alone_equal) {
    const int32_t G = s.group, dk = s.head_dim_k, dv = s.head_dim_v, rows = n_pos * G;
    AttnView view;
    attn_view(T.L, first, n_pos, &view);
    std::vector<float> ml(2 * (size_t)rows), o((size_t)rows * dv), out((size_t)rows * dv);
    std::vector<float> scratch(attn_block_scratch_floats(s, rows));
    const bool two = q1 != q0;
    attn_block(s, T.keys(g), view, q0.data(), two ? q1.data() : q0.data(), 0, view.n_tiles(), ml.data(),
               ml.data() + rows, o.data(), scratch.data());
    attn_finish(s, rows, ml.data() + rows, o.data(), out.data(), dv);
    float worst = 0;
    std::vector<float> ref(dv), one((size_t)G * dv), part(attn_partial_floats(s));
    for (int32_t t = 0; t < n_pos; t++) {
        const int64_t p = first + t;
        KvSpan sp[kKvMaxSpans];
        const int ns = T.L.spans(p, sp);
        for (int32_t h = 0; h < G; h++) {
            const size_t r = (size_t)t * G + h;
            // reference: sink keys scored against q1 through a rescaled copy of the key (q1.k = q0.k')
            std::vector<std::vector<float>> Kr, Vr;
            std::vector<float> qr(q0.begin() + r * dk, q0.begin() + (r + 1) * dk);
            for (int i = 0; i < ns; i++)
                for (int64_t u = sp[i].lo; u <= sp[i].hi; u++) {
                    std::vector<float> kk = T.K[g][(size_t)u];
                    if (sp[i].rot == 1 && two) {  // score q1.k as qr.k'' with k'' chosen so that qr.k'' = q1.k
                        double num = 0, den = 0;
                        for (int32_t d = 0; d < dk; d++) num += (double)q1[r * dk + d] * kk[d], den += (double)qr[d] * qr[d];
                        for (int32_t d = 0; d < dk; d++) kk[d] = (float)(num / den * qr[d]);
                    }
                    Kr.push_back(kk);
                    Vr.push_back(T.V[g][(size_t)u]);
                }
            naive_attention(qr.data(), Kr, Vr, s.scale, s.softcap, ref.data());
            for (int32_t i = 0; i < dv; i++) worst = std::max(worst, std::fabs(ref[i] - out[r * dv + i]));
        }
        // the same position alone
        AttnView v1;
        attn_view(T.L, p, 1, &v1);
        std::vector<float> q0t(q0.begin() + (size_t)t * G * dk, q0.begin() + (size_t)(t + 1) * G * dk);
        std::vector<float> q1t(q1.begin() + (size_t)t * G * dk, q1.begin() + (size_t)(t + 1) * G * dk);
        std::vector<float> sc1(attn_block_scratch_floats(s, G));
        attn_block(s, T.keys(g), v1, q0t.data(), two ? q1t.data() : q0t.data(), 0, v1.n_tiles(), part.data(),
                   part.data() + G, part.data() + 2 * G, sc1.data());
        attn_finish(s, G, part.data() + G, part.data() + 2 * G, one.data(), dv);
        *alone_equal &= std::memcmp(one.data(), out.data() + (size_t)t * G * dv, one.size() * sizeof(float)) == 0;
    }
    return worst;
}

// GQA over a window ring that wrapped, with staged rows: equals multi-head attention with K/V
// explicitly repeated per query head, over exactly the positions of each query's window.
static void test_gqa(int32_t H, int32_t G, KvType type, float softcap) {
    const int32_t dk = 64, dv = 64, group = H / G;
    KvLayerConfig c;
    c.policy = KvPolicy::Window;
    c.window = 50;
    TestLayer T;
    make_layer(&T, c, type, G, dk, dv, 77, 70);  // the ring holds 20..69; 70..76 staged
    const AttnShape s = shape(group, dk, dv, type, 1.0f / 8.0f, softcap);
    float worst = 0;
    bool alone = true;
    for (int32_t g = 0; g < G; g++) {
        const std::vector<float> q = randn((size_t)7 * group * dk);
        worst = std::max(worst, check_block(T, s, g, 70, 7, q, q, &alone));
    }
    CHECK(worst < 2e-5f, "GQA H=%d G=%d %s softcap %.0f: max |diff| %g", H, G, kv_type_name(type), softcap, worst);
    CHECK(alone, "GQA H=%d G=%d %s: each row of a block equals its position alone, bit for bit", H, G, kv_type_name(type));
}

// Ragged shapes and every policy: head sizes that are not multiples of the vector width, blocks that
// straddle tile boundaries, a full cache with a window mask, sinks after eviction (rot-1 queries),
// blocks of 1..16 positions.
static void test_policies() {
    struct Case {
        const char* name;
        KvPolicy policy;
        int32_t a, b;  // window / mask window, or sinks S, recent R
        int32_t dk, dv, group;
        int64_t n, cached;
        int32_t n_pos;
    };
    const Case cases[] = {
        {"full", KvPolicy::Full, 0, 0, 24, 40, 3, 150, 133, 16},
        {"full, mask window 37", KvPolicy::Full, 37, 0, 8, 8, 2, 120, 100, 13},
        {"window 33", KvPolicy::Window, 33, 0, 80, 72, 1, 200, 190, 10},
        {"window 5", KvPolicy::Window, 5, 0, 16, 16, 4, 90, 77, 9},
        {"sinks 3 + 40", KvPolicy::Sinks, 3, 40, 64, 64, 2, 140, 128, 12},
        {"sinks 36 + 10", KvPolicy::Sinks, 36, 10, 32, 32, 2, 100, 90, 6},
        {"sinks 4 + 60, before eviction", KvPolicy::Sinks, 4, 60, 32, 32, 3, 60, 50, 10},
    };
    for (const Case& cs : cases) {
        KvLayerConfig c;
        c.policy = cs.policy;
        c.n_ctx = 256;
        if (cs.policy == KvPolicy::Full) c.mask_window = cs.a;
        if (cs.policy == KvPolicy::Window) c.window = cs.a;
        c.sinks = cs.a;
        c.recent = cs.b;
        TestLayer T;
        make_layer(&T, c, KvType::F16, 2, cs.dk, cs.dv, cs.n, cs.cached);
        const AttnShape s = shape(cs.group, cs.dk, cs.dv, KvType::F16, 0.3f, cs.dk == 8 ? 4.0f : 0.0f);
        float worst = 0;
        bool alone = true;
        for (int32_t g = 0; g < 2; g++) {
            const std::vector<float> q0 = randn((size_t)cs.n_pos * cs.group * cs.dk);
            std::vector<float> q1 = q0;
            if (cs.policy == KvPolicy::Sinks)  // rows past the first eviction see the sinks through q1
                for (int32_t t = 0; t < cs.n_pos; t++)
                    if (T.L.sink_query_pos(cs.cached + t) != cs.cached + t)
                        for (size_t i = 0; i < (size_t)cs.group * cs.dk; i++) q1[(size_t)t * cs.group * cs.dk + i] = randn(1)[0];
            worst = std::max(worst, check_block(T, s, g, cs.cached, cs.n_pos, q0, q1, &alone));
        }
        CHECK(worst < 2e-5f, "%s: max |diff| %g", cs.name, worst);
        CHECK(alone, "%s: each row of a block equals its position alone, bit for bit", cs.name);
    }
}

// Flash-decoding: one query's tiles split into any number of ranges (not dividing the tiles, more
// ranges than tiles: empty ones) merge to the unsplit result; an empty partial alone gives zeros.
static void test_splits(KvType type) {
    const int32_t group = 3, dk = 32, dv = 32;
    KvLayerConfig c;
    c.policy = KvPolicy::Sinks;
    c.sinks = 10;
    c.recent = 150;
    TestLayer T;
    make_layer(&T, c, type, 1, dk, dv, 400, 399);
    const AttnShape s = shape(group, dk, dv, type, 0.3f, 0.0f);
    const std::vector<float> q = randn((size_t)group * dk), q2 = randn((size_t)group * dk);
    AttnView view;
    attn_view(T.L, 399, 1, &view);
    const int64_t n = view.n_tiles();
    CHECK(n == 1 + 6, "sinks 10 + recent 150 at 399: tile 0, then tiles 7..12 (got %lld)", (long long)n);
    const size_t pf = attn_partial_floats(s);
    std::vector<float> scratch(attn_block_scratch_floats(s, group)), one((size_t)group * dv), got((size_t)group * dv);
    std::vector<float> part(pf);
    attn_block(s, T.keys(0), view, q.data(), q2.data(), 0, n, part.data(), part.data() + group, part.data() + 2 * group,
               scratch.data());
    attn_finish(s, group, part.data() + group, part.data() + 2 * group, one.data(), dv);
    for (int splits : {2, 3, 7, 8, 20}) {
        std::vector<float> parts((size_t)splits * pf);
        for (int k = 0; k < splits; k++) {
            float* pk = parts.data() + k * pf;
            attn_block(s, T.keys(0), view, q.data(), q2.data(), n * k / splits, n * (k + 1) / splits, pk, pk + group,
                       pk + 2 * group, scratch.data());
        }
        attn_merge(s, parts.data(), splits, got.data());
        float worst = 0;
        bool finite = true;
        for (size_t i = 0; i < got.size(); i++) {
            finite &= std::isfinite(got[i]);
            worst = std::max(worst, std::fabs(got[i] - one[i]));
        }
        CHECK(finite && worst < 1e-5f, "%s %d splits: max |diff| %g finite %d", kv_type_name(type), splits, worst, finite);
    }
    // an empty partial alone merges to zeros, not NaN
    attn_block(s, T.keys(0), view, q.data(), q2.data(), 3, 3, part.data(), part.data() + group, part.data() + 2 * group,
               scratch.data());
    attn_merge(s, part.data(), 1, got.data());
    bool zeros = true;
    for (float x : got) zeros &= x == 0.0f;
    CHECK(zeros, "empty partial merges to zeros");
}

// Positions a query at p sees, from its spans.
static std::vector<int64_t> seen(const KvLayer& L, int64_t p) {
    KvSpan sp[kKvMaxSpans];
    const int n = L.spans(p, sp);
    std::vector<int64_t> pos;
    for (int i = 0; i < n; i++)
        for (int64_t u = sp[i].lo; u <= sp[i].hi; u++) pos.push_back(u);
    return pos;
}

static void test_ring(KvPolicy policy, int32_t chunk) {
    const int32_t W = 4, S = 2, R = 5;
    KvLayerConfig c;
    c.policy = policy;
    c.window = W;
    c.sinks = S;
    c.recent = R;
    c.n_ctx = 64;
    c.mask_window = policy == KvPolicy::Full ? W : 0;
    KvLayer L;
    Status st = L.init(c, KvType::F16, 1, 32, 32);
    CHECK(st.ok(), "init");
    std::vector<uint8_t> sk((size_t)chunk * L.k_row_bytes()), sv((size_t)chunk * L.v_row_bytes());
    bool ok = true;
    for (int64_t p0 = 0; p0 + chunk <= 40; p0 += chunk) {
        for (int32_t t = 0; t < chunk; t++) {  // every query of the chunk sees exactly its positions
            const int64_t p = p0 + t;
            std::vector<int64_t> want;
            if (policy == KvPolicy::Sinks) {
                for (int64_t u = 0; u < std::min<int64_t>(S, p + 1); u++) want.push_back(u);
                for (int64_t u = std::max<int64_t>(S, p - R + 1); u <= p; u++) want.push_back(u);
            } else {
                for (int64_t u = std::max<int64_t>(0, p - W + 1); u <= p; u++) want.push_back(u);
            }
            std::vector<int64_t> got = seen(L, p);
            std::vector<int64_t> sorted = got;
            std::sort(sorted.begin(), sorted.end());
            if (sorted != want || got != want) {  // keys come in position order too
                ok = false;
                std::printf("  %s chunk %d: query %lld sees %zu keys, wants %zu\n", kv_policy_name(policy), chunk,
                            (long long)p, got.size(), want.size());
            }
            if (policy == KvPolicy::Window && (int64_t)got.size() != std::min<int64_t>(p + 1, W)) ok = false;
        }
        L.commit(sk.data(), sv.data(), p0, chunk);
        const int64_t n = p0 + chunk;
        std::vector<int64_t> tbl;
        std::vector<double> sc;
        L.slots(0, &tbl, &sc);
        if (policy == KvPolicy::Window)
            for (int64_t p = std::max<int64_t>(0, n - W); p < n; p++) ok &= tbl[(size_t)(p % W)] == p;
        if (policy == KvPolicy::Sinks) {
            for (int64_t p = 0; p < std::min<int64_t>(S, n); p++) ok &= tbl[(size_t)p] == p;
            ok &= L.held() == std::min<int64_t>(n, S + R);
        }
    }
    CHECK(ok, "%s ring with chunks of %d", kv_policy_name(policy), chunk);
    if (policy == KvPolicy::Sinks) CHECK(L.sink_query_pos(3) == 3 && L.sink_query_pos(100) == S + R - 1, "sink query position");
}

static void test_h2o() {
    KvLayerConfig c;
    c.policy = KvPolicy::H2O;
    c.heavy = 2;
    c.recent = 3;
    KvLayer L;
    CHECK(L.init(c, KvType::F16, 2, 32, 32).ok(), "h2o init");
    std::vector<uint8_t> k(L.k_head_bytes()), v(L.v_head_bytes());
    std::vector<int64_t> held((size_t)L.n_slots());
    // scores: token p receives 10 if p is odd, else p/100: heavy hitters are the odd tokens
    for (int64_t p = 0; p < 20; p++) {
        for (int32_t g = 0; g < 2; g++) {
            L.h2o_insert(g, p, k.data(), v.data());
            const int64_t n = L.h2o_held(g, held.data());
            CHECK(n <= 6, "h2o holds at most heavy + recent + 1 within a step");
            std::vector<int64_t> pos;
            std::vector<double> sc;
            L.slots(g, &pos, &sc);
            for (int64_t j = 0; j < n; j++) L.h2o_add_score(g, held[j], pos[(size_t)held[j]] % 2 ? 10.0 : g * 0.01);
            L.h2o_evict(g, p);
        }
    }
    std::vector<int64_t> pos;
    std::vector<double> sc;
    L.slots(0, &pos, &sc);
    std::set<int64_t> kept;
    for (int64_t x : pos)
        if (x >= 0) kept.insert(x);
    // last 3 (17, 18, 19) and the two best older ones: odd tokens with the most accumulated score
    // are the oldest odd ones still held... each step adds 10 to every held odd token, so the odd
    // tokens kept longest (the earliest) have the highest scores: 1 and 3.
    CHECK(kept == (std::set<int64_t>{1, 3, 17, 18, 19}), "h2o kept set");
    CHECK(L.held() == 5, "h2o held %lld", (long long)L.held());
}

static void test_rows() {
    for (KvType t : {KvType::Q8_0, KvType::Q4_0}) {
        std::vector<float> x = randn(256), y(256);
        std::vector<uint8_t> b(kv_row_bytes(t, 256));
        kv_store_row(t, kt(), x.data(), b.data(), 256);
        kv_load_row(t, kt(), b.data(), y.data(), 256);
        double err = 0, norm = 0;
        for (int i = 0; i < 256; i++) err += (x[i] - y[i]) * (x[i] - y[i]), norm += x[i] * x[i];
        const double rel = std::sqrt(err / norm);
        CHECK(rel < (t == KvType::Q8_0 ? 0.01 : 0.12), "%s row relative error %g", kv_type_name(t), rel);
        std::vector<float> bad(32, NAN);
        kv_store_row(t, kt(), bad.data(), b.data(), 32);  // must not trap (UBSan)
    }
}

static void test_rope_shift() {
    const int32_t n_rot = 64;
    std::vector<float> cs(n_rot), x = randn(n_rot), a = x, b = x;
    for (int64_t p : {5LL, 1000LL, 70000LL, 3000000LL}) {
        const int64_t d = 37;
        a = x;
        b = x;
        ops_rope_cache(cs.data(), n_rot, p, 1.0f, 10000.0f, nullptr);
        ops_rope_apply_norm(a.data(), 1, n_rot, n_rot, cs.data());
        ops_rope_cache(cs.data(), n_rot, d, 1.0f, 10000.0f, nullptr);
        ops_rope_apply_norm(a.data(), 1, n_rot, n_rot, cs.data());
        ops_rope_cache(cs.data(), n_rot, p + d, 1.0f, 10000.0f, nullptr);
        ops_rope_apply_norm(b.data(), 1, n_rot, n_rot, cs.data());
        float worst = 0;
        for (int i = 0; i < n_rot; i++) worst = std::max(worst, std::fabs(a[i] - b[i]));
        // float's angle recurrence below kRopeExactFrom loses ~p * 1e-7 rad; double above it
        CHECK(worst < (p < kRopeExactFrom ? 2e-3f : 1e-4f), "rope(p=%lld) then shift %lld vs rope(p+d): %g", (long long)p,
              (long long)d, worst);
    }
}

// YaRN with factor 1 (pos_scale 1) is plain RoPE: interpolated and extrapolated angles coincide
// and the magnitude scale 1 + 0.1 ln(1) is 1.
static void test_yarn_factor_one() {
    const int32_t n_rot = 64;
    RopeYarn y;
    y.ext_factor = 1.0f;
    ops_rope_yarn_dims(n_rot, 4096, 10000.0f, 32.0f, 1.0f, &y.low, &y.high);
    CHECK(y.low >= 0 && y.high <= n_rot - 1 && y.low < y.high, "yarn dims %g..%g", y.low, y.high);
    std::vector<float> a(n_rot), b(n_rot);
    bool same = true;
    for (int64_t p : {0LL, 7LL, 5000LL, 100000LL}) {
        ops_rope_cache(a.data(), n_rot, p, 1.0f, 10000.0f, nullptr, &y);
        ops_rope_cache(b.data(), n_rot, p, 1.0f, 10000.0f, nullptr, nullptr);
        for (int i = 0; i < n_rot; i++) same &= std::fabs(a[i] - b[i]) <= 1e-6f;
    }
    CHECK(same, "yarn factor 1 == plain rope");
}

// A recall layer fed a stream of random rows in chunks (stage, prepare, commit: the engine's order).
struct RecallStream {
    KvLayer L;
    KvType type;
    int32_t G, dk, dv;
    std::vector<std::vector<uint8_t>> k, v;  // [p] row (all heads) as staged
    int64_t n = 0;

    void feed(int32_t m, bool keep = true) {
        std::vector<uint8_t> sk((size_t)m * L.k_row_bytes()), sv((size_t)m * L.v_row_bytes());
        for (int32_t t = 0; t < m; t++) {
            const std::vector<float> kk = randn((size_t)G * dk), vv = randn((size_t)G * dv);
            for (int32_t g = 0; g < G; g++) {
                kv_store_row(type, kt(), kk.data() + (size_t)g * dk, sk.data() + t * L.k_row_bytes() + g * L.k_head_bytes(), dk);
                kv_store_row(type, kt(), vv.data() + (size_t)g * dv, sv.data() + t * L.v_row_bytes() + g * L.v_head_bytes(), dv);
            }
            if (keep) {
                k.emplace_back(sk.begin() + t * L.k_row_bytes(), sk.begin() + (t + 1) * L.k_row_bytes());
                v.emplace_back(sv.begin() + t * L.v_row_bytes(), sv.begin() + (t + 1) * L.v_row_bytes());
            }
        }
        CHECK(L.recall_prepare(n + m - 1, sk.data(), n, kt()).ok(), "recall_prepare");
        L.commit(sk.data(), sv.data(), n, m);
        n += m;
    }
};

static KvLayerConfig recall_config(int32_t S, int32_t R, int32_t B, int32_t K) {
    KvLayerConfig c;
    c.policy = KvPolicy::Recall;
    c.sinks = S;
    c.recent = R;
    c.block = B;
    c.top_blocks = K;
    return c;
}

// Slow representatives: min and max per dimension of block i's dequantized keys of head g.
static void slow_rep(const RecallStream& st, int64_t i, int32_t g, std::vector<float>* mn, std::vector<float>* mx) {
    int64_t lo, hi;
    st.L.recall_block(i, &lo, &hi);
    mn->assign((size_t)st.dk, INFINITY);
    mx->assign((size_t)st.dk, -INFINITY);
    std::vector<float> row((size_t)st.dk);
    for (int64_t p = lo; p <= hi; p++) {
        kv_load_row(st.type, kt(), st.k[(size_t)p].data() + (size_t)g * st.L.k_head_bytes(), row.data(), st.dk);
        for (int32_t d = 0; d < st.dk; d++) {
            (*mn)[(size_t)d] = std::min((*mn)[(size_t)d], row[(size_t)d]);
            (*mx)[(size_t)d] = std::max((*mx)[(size_t)d], row[(size_t)d]);
        }
    }
}

// Rows leave the ring into the store once, unchanged, in position order, with any chunking; every
// position a query may see is readable (sinks, store, ring); representatives match a slow pass.
static void test_recall_store(KvType type, const std::vector<int32_t>& chunks) {
    RecallStream st{{}, type, 2, 32, 64, {}, {}, 0};
    CHECK(st.L.init(recall_config(4, 40, 32, 3), type, st.G, st.dk, st.dv).ok(), "recall init");
    bool rows_ok = true, reps_ok = true, count_ok = true;
    for (int32_t m : chunks) {
        st.feed(m);
        const int64_t evicted = std::max<int64_t>(0, st.n - 4 - 40);
        count_ok &= st.L.store_rows() == evicted && st.L.store_bytes() == (size_t)evicted * (st.L.k_row_bytes() + st.L.v_row_bytes());
        count_ok &= st.L.held() == st.n;
        for (int64_t p = 0; p < st.n; p++) {
            rows_ok &= std::memcmp(st.L.k_at(p), st.k[(size_t)p].data(), st.L.k_row_bytes()) == 0;
            rows_ok &= std::memcmp(st.L.v_at(p), st.v[(size_t)p].data(), st.L.v_row_bytes()) == 0;
        }
        count_ok &= st.L.recall_blocks() == st.L.recall_avail(st.n - 1);
    }
    std::vector<float> mn, mx;
    for (int64_t i = 0; i < st.L.recall_blocks(); i++)
        for (int32_t g = 0; g < st.G; g++) {
            slow_rep(st, i, g, &mn, &mx);
            reps_ok &= std::memcmp(st.L.recall_rep(i, g), mn.data(), mn.size() * sizeof(float)) == 0;
            reps_ok &= std::memcmp(st.L.recall_rep(i, g) + st.dk, mx.data(), mx.size() * sizeof(float)) == 0;
        }
    CHECK(count_ok, "recall %s: store rows = evicted tokens, bytes = rows x row bytes, blocks as available", kv_type_name(type));
    CHECK(rows_ok, "recall %s: every position's rows read back unchanged (sinks, store, ring)", kv_type_name(type));
    CHECK(reps_ok, "recall %s: block min/max equal a slow recomputation", kv_type_name(type));
    CHECK(st.L.recall_blocks() > 3, "recall %s: the stream made %lld blocks", kv_type_name(type), (long long)st.L.recall_blocks());
}

// A file-backed store holds the same rows as the heap one (segments mapped from one unlinked file),
// and an unwritable path is a coded error.
static void test_recall_file_store() {
    KvFileStore file;
    char path[] = "/tmp/ringllm-kv-selftest-XXXXXX";
    const int fd = mkstemp(path);
    CHECK(fd >= 0, "mkstemp");
    close(fd);
    CHECK(file.open(path).ok(), "file store open");
    CHECK(access(path, F_OK) != 0, "file store unlinked once created");
    RecallStream st{{}, KvType::Q8_0, 2, 32, 32, {}, {}, 0};
    CHECK(st.L.init(recall_config(4, 40, 32, 3), KvType::Q8_0, st.G, st.dk, st.dv).ok(), "recall init");
    st.L.set_file_store(&file);
    for (int i = 0; i < 30; i++) st.feed(333);  // 10K tokens: three 4096-row segments
    bool rows_ok = true;
    for (int64_t p = 0; p < st.n; p++) {
        rows_ok &= std::memcmp(st.L.k_at(p), st.k[(size_t)p].data(), st.L.k_row_bytes()) == 0;
        rows_ok &= std::memcmp(st.L.v_at(p), st.v[(size_t)p].data(), st.L.v_row_bytes()) == 0;
    }
    CHECK(rows_ok && st.L.store_rows() == st.n - 44, "file store: every row reads back unchanged (%lld rows)", (long long)st.L.store_rows());
    CHECK(file.size() >= st.L.store_bytes(), "file store size %llu >= store bytes %zu", (unsigned long long)file.size(), st.L.store_bytes());
    st.L.reset();
    file.reset();
    CHECK(file.size() == 0 && st.L.store_rows() == 0, "file store reset");
    KvFileStore bad;
    const Status e = bad.open("/nonexistent-dir/recall.store");
    CHECK(!e.ok() && e.code == "ENOENT", "unwritable store path: %s", e.code.c_str());
}

// Block geometry: blocks tile [S, tail_lo) exactly, aligned to absolute multiples of B; the tail is
// the last R positions plus the rest of their block.
static void test_recall_geometry() {
    bool ok = true;
    for (int32_t S : {0, 4, 40, 64})
        for (int32_t R : {1, 31, 32, 100}) {
            KvLayer L;
            CHECK(L.init(recall_config(S, R, 32, 2), KvType::F16, 1, 32, 32).ok(), "init");
            for (int64_t p = 0; p < 400; p++) {
                const int64_t tl = L.recall_tail_lo(p), na = L.recall_avail(p);
                ok &= tl >= S && (tl == S || tl % 32 == 0) && tl <= std::max<int64_t>(S, p - R + 1);
                ok &= p < S || p - tl + 1 <= (int64_t)R + 31;  // tail bounded by R + B - 1
                int64_t next = S;
                for (int64_t i = 0; i < na; i++) {
                    int64_t lo, hi;
                    L.recall_block(i, &lo, &hi);
                    ok &= lo == next && hi >= lo && (hi + 1) % 32 == 0 && hi - lo < 32;
                    next = hi + 1;
                }
                ok &= next == tl;
            }
        }
    CHECK(ok, "recall blocks tile [S, tail_lo) and the tail holds at most R + B - 1 positions");
    // bad configurations are refused, never crash
    for (auto [B, K] : {std::pair<int32_t, int32_t>{48, 2}, {0, 2}, {64, 0}, {16, 1}}) {
        KvLayer L;
        const Status st = L.init(recall_config(4, 16, B, K), KvType::Q8_0, 1, 32, 32);
        CHECK(!st.ok() && st.code == "INVALID_ARGUMENT", "recall block %d top %d refused", B, K);
    }
}

// Selection against a slow reference: scores in double from the slow representatives, the top K by
// (score desc, index asc), returned in block order; ties; the bound is an upper bound of q.k.
static void test_recall_select() {
    const int32_t group = 3, K = 4;
    RecallStream st{{}, KvType::F16, 2, 32, 32, {}, {}, 0};
    CHECK(st.L.init(recall_config(4, 32, 32, K), KvType::F16, st.G, st.dk, st.dv).ok(), "recall init");
    for (int i = 0; i < 12; i++) st.feed(37);
    const int64_t p = st.n - 1, na = st.L.recall_avail(p);
    std::vector<float> score((size_t)na);
    std::vector<int64_t> idx((size_t)na);
    bool same = true, bound = true;
    double worst = 0;
    std::vector<float> mn, mx, row((size_t)st.dk);
    for (int trial = 0; trial < 20; trial++)
        for (int32_t g = 0; g < st.G; g++) {
            const std::vector<float> q = randn((size_t)group * st.dk);
            const int64_t k = st.L.recall_select(g, q.data(), group, p, score.data(), idx.data());
            std::vector<double> ref((size_t)na);
            for (int64_t i = 0; i < na; i++) {
                slow_rep(st, i, g, &mn, &mx);
                double sc = 0, best = 0;
                for (int32_t h = 0; h < group; h++) {
                    for (int32_t d = 0; d < st.dk; d++)
                        sc += std::max((double)q[(size_t)h * st.dk + d] * mn[(size_t)d], (double)q[(size_t)h * st.dk + d] * mx[(size_t)d]);
                    double bh = -INFINITY;  // the best actual q.k of head h over the block
                    int64_t lo, hi;
                    st.L.recall_block(i, &lo, &hi);
                    for (int64_t u = lo; u <= hi; u++) {
                        kv_load_row(st.type, kt(), st.k[(size_t)u].data() + (size_t)g * st.L.k_head_bytes(), row.data(), st.dk);
                        double dot = 0;
                        for (int32_t d = 0; d < st.dk; d++) dot += (double)q[(size_t)h * st.dk + d] * row[(size_t)d];
                        bh = std::max(bh, dot);
                    }
                    best += bh;
                }
                ref[(size_t)i] = sc;
                worst = std::max(worst, std::fabs(sc - score[(size_t)i]) / std::max(1.0, std::fabs(sc)));
                bound &= sc + 1e-9 >= best;
            }
            std::vector<int64_t> order((size_t)na);
            for (int64_t i = 0; i < na; i++) order[(size_t)i] = i;
            std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return ref[(size_t)a] > ref[(size_t)b]; });
            order.resize((size_t)std::min<int64_t>(K, na));
            std::sort(order.begin(), order.end());
            same &= k == (int64_t)order.size() && std::equal(order.begin(), order.end(), idx.begin());
        }
    CHECK(worst < 1e-5, "recall scores vs double reference: %g", worst);
    CHECK(same, "recall top-%d equals the slow reference's, in block order (%lld blocks)", K, (long long)na);
    CHECK(bound, "recall score bounds every q.k of its block (summed over the group)");

    // ties: blocks with identical keys score identically; the lower index wins
    RecallStream tie{{}, KvType::Q8_0, 1, 32, 32, {}, {}, 0};
    CHECK(tie.L.init(recall_config(0, 32, 32, 2), KvType::Q8_0, 1, 32, 32).ok(), "recall init");
    std::vector<float> key = randn(32);
    std::vector<uint8_t> kr(tie.L.k_row_bytes()), vr(tie.L.v_row_bytes());
    kv_store_row(KvType::Q8_0, kt(), key.data(), kr.data(), 32);
    for (int64_t p2 = 0; p2 < 32 * 8; p2++) {  // every key the same: every block ties
        CHECK(tie.L.recall_prepare(p2, kr.data(), p2, kt()).ok(), "prepare");
        tie.L.commit(kr.data(), vr.data(), p2, 1);
    }
    const int64_t tp = 32 * 8 - 1, tn = tie.L.recall_avail(tp);
    std::vector<float> ts((size_t)tn);
    std::vector<int64_t> ti((size_t)tn);
    const std::vector<float> q = randn(32);
    const int64_t tk = tie.L.recall_select(0, q.data(), 1, tp, ts.data(), ti.data());
    CHECK(tn >= 5 && tk == 2 && ti[0] == 0 && ti[1] == 1, "recall ties go to the lower block index (%lld of %lld: %lld %lld)",
          (long long)tk, (long long)tn, (long long)ti[0], (long long)ti[1]);
}

// A 1M-token stream in chunks of 512: store bytes = evicted tokens x row bytes; a query's keys
// (sinks + selected blocks + tail) stay within S + K B + R + B - 1 however long the stream.
static void test_recall_long() {
    const int32_t S = 4, R = 256, B = 64, K = 8;
    RecallStream st{{}, KvType::Q8_0, 1, 32, 32, {}, {}, 0};
    CHECK(st.L.init(recall_config(S, R, B, K), KvType::Q8_0, 1, 32, 32).ok(), "recall init");
    bool bytes_ok = true, keys_ok = true;
    int64_t most = 0;
    std::vector<float> score;
    std::vector<int64_t> idx;
    const std::vector<float> q = randn(32);
    while (st.n < 1000000) {
        st.feed(512, false);
        const int64_t p = st.n - 1, na = st.L.recall_avail(p);
        bytes_ok &= st.L.store_bytes() == (size_t)(st.n - S - R) * (st.L.k_row_bytes() + st.L.v_row_bytes());
        score.resize((size_t)na);
        idx.resize((size_t)na);
        const int64_t k = st.L.recall_select(0, q.data(), 1, p, score.data(), idx.data());
        int64_t keys = std::min<int64_t>(S, p + 1) + (p - st.L.recall_tail_lo(p) + 1);
        for (int64_t j = 0; j < k; j++) {
            int64_t lo, hi;
            st.L.recall_block(idx[(size_t)j], &lo, &hi);
            keys += hi - lo + 1;
        }
        most = std::max(most, keys);
        keys_ok &= keys <= (int64_t)S + (int64_t)K * B + R + B - 1 && k == std::min<int64_t>(K, na);
    }
    CHECK(bytes_ok, "recall 1M stream: store bytes = evicted tokens x row bytes (%zu)", st.L.store_bytes());
    CHECK(keys_ok, "recall 1M stream: keys per query bounded (most %lld <= %d)", (long long)most, S + K * B + R + B - 1);
    CHECK(st.L.recall_blocks() == st.L.recall_avail(st.n - 1), "recall 1M stream: %lld blocks", (long long)st.L.recall_blocks());
}

int main() {
    for (KvType t : {KvType::F16, KvType::Q8_0, KvType::Q4_0}) {
        test_gqa(32, 8, t, 0.0f);
        test_gqa(12, 4, t, 0.0f);
        test_gqa(8, 1, t, 0.0f);
        test_gqa(8, 8, t, 0.0f);
        test_splits(t);
    }
    test_gqa(12, 4, KvType::F16, 5.0f);
    test_policies();
    for (int32_t chunk : {1, 3, 4, 5, 9})
        for (KvPolicy p : {KvPolicy::Full, KvPolicy::Window, KvPolicy::Sinks}) test_ring(p, chunk);
    test_h2o();
    for (KvType t : {KvType::F16, KvType::Q8_0, KvType::Q4_0}) {
        test_recall_store(t, {1, 1, 3, 50, 7, 64, 1, 100, 33, 2, 90});
        test_recall_store(t, std::vector<int32_t>(300, 1));
    }
    test_recall_geometry();
    test_recall_file_store();
    test_recall_select();
    test_recall_long();
    test_rows();
    test_rope_shift();
    test_yarn_factor_one();
    std::printf("kv selftest: %d checks, %d failures\n", g_checks, g_failures);
    return g_failures ? 1 : 0;
}
