// KV cache and attention self-test (no Node), LONG_CONTEXT.md sections 1, 2, 5, 6, 7:
//  - GQA attention equals multi-head attention with K/V explicitly repeated (H=32/G=8, 12/4, 8/1),
//    for f16, q8_0 and q4_0 rows, with and without soft-capping;
//  - flash-decoding: any split count (not dividing n, more splits than keys: empty ranges) merges
//    to the unsplit result, and empty partials weigh nothing (no NaN);
//  - ring bookkeeping: after n tokens slot p mod W holds p; a query sees exactly min(p+1, W) keys,
//    and exactly the right positions when a chunk (smaller, equal or larger than W) is staged;
//    sinks keep 0..S-1 and the last R; h2o evicts the lowest score outside the recent tokens;
//  - KV rows: quantize/dequantize error bounds; RoPE: rotating at p then by d equals rotating at p+d.
// Build and run: scripts/test-native.sh (ASan + UBSan).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <set>
#include <vector>

#include "../../engine/ops.h"
#include "../../kernels/kernels.h"
#include "../attention.h"
#include "../kv_cache.h"
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

static void test_gqa(int32_t H, int32_t G, KvType type, float softcap) {
    const int32_t dk = 64, dv = 64, group = H / G, n = 77;
    const size_t kh = kv_row_bytes(type, dk), vh = kv_row_bytes(type, dv);
    // cache rows: (n, G heads) in the storage type
    std::vector<uint8_t> kc((size_t)n * G * kh), vc((size_t)n * G * vh);
    std::vector<std::vector<std::vector<float>>> K(G), V(G);  // dequantized, per KV head
    for (int32_t j = 0; j < n; j++)
        for (int32_t g = 0; g < G; g++) {
            std::vector<float> k = randn(dk), v = randn(dv);
            kv_store_row(type, kt(), k.data(), kc.data() + ((size_t)j * G + g) * kh, dk);
            kv_store_row(type, kt(), v.data(), vc.data() + ((size_t)j * G + g) * vh, dv);
            kv_load_row(type, kt(), kc.data() + ((size_t)j * G + g) * kh, k.data(), dk);
            kv_load_row(type, kt(), vc.data() + ((size_t)j * G + g) * vh, v.data(), dv);
            K[g].push_back(k);
            V[g].push_back(v);
        }
    std::vector<float> q = randn((size_t)H * dk);
    AttnShape s;
    s.group = group;
    s.head_dim_k = dk;
    s.head_dim_v = dv;
    s.scale = 1.0f / 8.0f;
    s.softcap = softcap;
    s.type = type;
    s.kt = kt();
    std::vector<float> part(attn_partial_floats(s)), scratch(attn_scratch_floats(s)), out((size_t)group * dv);
    std::vector<float> ref(dv);
    float worst = 0;
    for (int32_t g = 0; g < G; g++) {
        // two runs (a wrapped ring): rows 40..76 then 0..39
        AttnRun runs[2] = {
            {kc.data() + ((size_t)40 * G + g) * kh, vc.data() + ((size_t)40 * G + g) * vh, G * kh, G * vh, n - 40, 0},
            {kc.data() + (size_t)g * kh, vc.data() + (size_t)g * vh, G * kh, G * vh, 40, 0},
        };
        const float* qs[2] = {q.data() + (size_t)g * group * dk, nullptr};
        qs[1] = qs[0];
        attn_partial(s, qs, runs, 2, 0, n, part.data(), scratch.data());
        attn_merge(s, part.data(), 1, out.data());
        for (int32_t h = 0; h < group; h++) {
            // query head g*group+h reads KV head (g*group+h) / group = g: contiguous groups
            const int32_t qh = g * group + h;
            std::vector<std::vector<float>> Kr, Vr;  // K/V "repeated": the head's own copy, in ring order
            for (int32_t j = 40; j < n; j++) Kr.push_back(K[qh / group][j]), Vr.push_back(V[qh / group][j]);
            for (int32_t j = 0; j < 40; j++) Kr.push_back(K[qh / group][j]), Vr.push_back(V[qh / group][j]);
            naive_attention(q.data() + (size_t)qh * dk, Kr, Vr, s.scale, softcap, ref.data());
            for (int32_t i = 0; i < dv; i++) worst = std::max(worst, std::fabs(ref[i] - out[(size_t)h * dv + i]));
        }
    }
    CHECK(worst < 2e-5f, "GQA H=%d G=%d %s softcap %.0f: max |diff| %g", H, G, kv_type_name(type), softcap, worst);
}

static void test_splits(KvType type) {
    const int32_t G = 2, group = 3, dk = 32, dv = 32, n = 53;
    const size_t kh = kv_row_bytes(type, dk), vh = kv_row_bytes(type, dv);
    std::vector<uint8_t> kc((size_t)n * kh), vc((size_t)n * vh);
    for (int32_t j = 0; j < n; j++) {
        std::vector<float> k = randn(dk, 2.0f), v = randn(dv);
        kv_store_row(type, kt(), k.data(), kc.data() + (size_t)j * kh, dk);
        kv_store_row(type, kt(), v.data(), vc.data() + (size_t)j * vh, dv);
    }
    std::vector<float> q = randn((size_t)group * dk);
    AttnShape s;
    s.group = group;
    s.head_dim_k = dk;
    s.head_dim_v = dv;
    s.scale = 0.3f;
    s.type = type;
    s.kt = kt();
    (void)G;
    // three runs: 10 sink-like rows with their own query rotation, then 30 + 13
    std::vector<float> q2 = randn((size_t)group * dk);
    AttnRun runs[3] = {{kc.data(), vc.data(), kh, vh, 10, 1},
                       {kc.data() + 10 * kh, vc.data() + 10 * vh, kh, vh, 30, 0},
                       {kc.data() + 40 * kh, vc.data() + 40 * vh, kh, vh, 13, 0}};
    const float* qs[2] = {q.data(), q2.data()};
    const size_t pf = attn_partial_floats(s);
    std::vector<float> scratch(attn_scratch_floats(s)), one((size_t)group * dv), got((size_t)group * dv);
    std::vector<float> part(pf);
    attn_partial(s, qs, runs, 3, 0, n, part.data(), scratch.data());
    attn_merge(s, part.data(), 1, one.data());
    for (int splits : {2, 3, 7, 52, 53, 60, 100}) {
        std::vector<float> parts((size_t)splits * pf);
        for (int k = 0; k < splits; k++)
            attn_partial(s, qs, runs, 3, (int64_t)n * k / splits, (int64_t)n * (k + 1) / splits, parts.data() + k * pf,
                         scratch.data());
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
    attn_partial(s, qs, runs, 3, 5, 5, part.data(), scratch.data());
    attn_merge(s, part.data(), 1, got.data());
    bool zeros = true;
    for (float x : got) zeros &= x == 0.0f;
    CHECK(zeros, "empty partial merges to zeros");
}

// Positions a query at p sees, read back from the runs (cache slots through the slot table,
// staging rows as p0 + row).
static std::vector<int64_t> seen(const KvLayer& L, int64_t p, int64_t p0) {
    KvRun r[kKvMaxRuns];
    const int n = L.runs(p, p0, r);
    std::vector<int64_t> pos, tbl;
    std::vector<double> sc;
    L.slots(0, &tbl, &sc);
    for (int i = 0; i < n; i++)
        for (int32_t j = 0; j < r[i].n; j++) pos.push_back(r[i].staging ? p0 + r[i].slot + j : tbl[(size_t)(r[i].slot + j)]);
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
            std::vector<int64_t> got = seen(L, p, p0);
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

int main() {
    for (KvType t : {KvType::F16, KvType::Q8_0, KvType::Q4_0}) {
        test_gqa(32, 8, t, 0.0f);
        test_gqa(12, 4, t, 0.0f);
        test_gqa(8, 1, t, 0.0f);
        test_gqa(8, 8, t, 0.0f);
        test_splits(t);
    }
    test_gqa(12, 4, KvType::F16, 5.0f);
    for (int32_t chunk : {1, 3, 4, 5, 9})
        for (KvPolicy p : {KvPolicy::Full, KvPolicy::Window, KvPolicy::Sinks}) test_ring(p, chunk);
    test_h2o();
    test_rows();
    test_rope_shift();
    test_yarn_factor_one();
    std::printf("kv selftest: %d checks, %d failures\n", g_checks, g_failures);
    return g_failures ? 1 : 0;
}
