// Standalone check of every kernel tier this CPU runs against the generic reference, without
// Node: used to test the NEON tier under qemu-aarch64 (scripts/test-neon.sh). Exit status 0 = pass.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "../fp16.h"
#include "../kernels.h"

using namespace rl;

static uint32_t g_state = 12345;
static float rnd() {
    g_state = g_state * 1664525u + 1013904223u;
    return (float)((g_state >> 8) * (1.0 / 16777216.0)) * 2.0f - 1.0f;
}

static int check_tier(const KernelTable* ref, const KernelTable* k) {
    int failures = 0;
    const int sizes[] = {0, 1, 3, 4, 7, 8, 15, 16, 17, 31, 32, 33, 64, 100, 257, 1000, 4099};
    for (int n : sizes) {
        std::vector<float> a(n), b(n);
        double mag = 0;
        for (int i = 0; i < n; i++) {
            a[i] = rnd();
            b[i] = rnd();
            mag += std::fabs((double)a[i] * b[i]);
        }
        float r = ref->dot_f32(a.data(), b.data(), n), g = k->dot_f32(a.data(), b.data(), n);
        if (std::fabs((double)r - g) > mag * 1e-6 + 1e-30) {
            std::printf("%s dot_f32 n=%d: %g vs reference %g\n", k->name, n, g, r);
            failures++;
        }
    }
    const int n = 65536 + 5;
    std::vector<uint16_t> h(n), h2(n);
    std::vector<float> f1(n), f2(n);
    for (int i = 0; i < n; i++) h[i] = (uint16_t)i;
    ref->fp16_to_f32_row(h.data(), f1.data(), n);
    k->fp16_to_f32_row(h.data(), f2.data(), n);
    if (std::memcmp(f1.data(), f2.data(), n * sizeof(float)) != 0) {
        std::printf("%s fp16_to_f32 differs from the reference\n", k->name);
        failures++;
    }
    ref->bf16_to_f32_row(h.data(), f1.data(), n);
    k->bf16_to_f32_row(h.data(), f2.data(), n);
    if (std::memcmp(f1.data(), f2.data(), n * sizeof(float)) != 0) {
        std::printf("%s bf16_to_f32 differs from the reference\n", k->name);
        failures++;
    }
    for (int i = 0; i < n; i++) f1[i] = std::ldexp(rnd(), (int)(rnd() * 23) - 8);  // around the half range
    ref->f32_to_fp16_row(f1.data(), h.data(), n);
    k->f32_to_fp16_row(f1.data(), h2.data(), n);
    for (int i = 0; i < n; i++) {
        if (h[i] != h2[i]) {
            std::printf("%s f32_to_fp16(%g) = %04x, reference %04x\n", k->name, f1[i], h2[i], h[i]);
            failures++;
            break;
        }
    }
    // exp_shift: within 1e-6 relative of the reference on ragged sizes, exact 0 for -inf, NaN and
    // anything below the underflow cut-off, the returned sum agreeing likewise.
    for (int n : sizes) {
        std::vector<float> x(n), y(n);
        for (int i = 0; i < n; i++) {
            x[i] = rnd() * 40.0f;
            if (i % 11 == 3) x[i] = -INFINITY;
            if (i % 13 == 5) x[i] = -200.0f;
            if (i % 17 == 7) x[i] = NAN;
        }
        y = x;
        const float m = 5.0f;
        const float s1 = ref->exp_shift(x.data(), n, m), s2 = k->exp_shift(y.data(), n, m);
        bool ok = std::fabs(s1 - s2) <= 1e-6f * std::fabs(s1) + 1e-30f;
        for (int i = 0; i < n && ok; i++) ok = std::fabs(x[i] - y[i]) <= 1e-6f * x[i] && !(y[i] != y[i]);
        if (!ok) {
            std::printf("%s exp_shift n=%d differs from the reference (sum %g vs %g)\n", k->name, n, s2, s1);
            failures++;
        }
        std::vector<float> a(n), b(n), c(n);
        for (int i = 0; i < n; i++) a[i] = rnd(), b[i] = c[i] = rnd();
        ok = true;
        ref->axpy_f32(b.data(), 0.37f, a.data(), n);
        k->axpy_f32(c.data(), 0.37f, a.data(), n);
        for (int i = 0; i < n; i++) ok &= std::fabs(b[i] - c[i]) <= 1e-6f;
        ref->scale_f32(b.data(), -1.5f, n);
        k->scale_f32(c.data(), -1.5f, n);
        for (int i = 0; i < n; i++) ok &= std::fabs(b[i] - c[i]) <= 2e-6f;
        if (!ok) {
            std::printf("%s axpy_f32/scale_f32 n=%d differ from the reference\n", k->name, n);
            failures++;
        }
    }
    // Attention tile kernels: bit for bit the reference (one FMA chain per output, same order), on
    // ragged head sizes, row counts and key ranges.
    for (int dk : {8, 24, 40, 64, 80, 128, 130}) {
        const int T = kAttnKeys;
        std::vector<float> x((size_t)T * dk), y1((size_t)T * dk), y2((size_t)T * dk);
        for (float& e : x) e = rnd();
        ref->attn_transpose(x.data(), dk, y1.data());
        k->attn_transpose(x.data(), dk, y2.data());
        if (std::memcmp(y1.data(), y2.data(), y1.size() * sizeof(float)) != 0) {
            std::printf("%s attn_transpose dk=%d differs from the reference\n", k->name, dk);
            failures++;
        }
        for (int rows : {1, 2, 3, 4, 5, 6, 7, 13, 64}) {
            std::vector<float> q((size_t)rows * dk), s1((size_t)rows * T), s2((size_t)rows * T);
            for (float& e : q) e = rnd();
            ref->attn_scores(q.data(), rows, dk, y1.data(), 0.125f, s1.data());
            k->attn_scores(q.data(), rows, dk, y1.data(), 0.125f, s2.data());
            if (std::memcmp(s1.data(), s2.data(), s1.size() * sizeof(float)) != 0) {
                std::printf("%s attn_scores dk=%d rows=%d differs from the reference\n", k->name, dk, rows);
                failures++;
            }
            const int dv = dk;
            std::vector<float> v((size_t)T * dv), o1((size_t)rows * dv), o2;
            for (float& e : v) e = rnd();
            for (float& e : o1) e = rnd();
            for (float& e : s1) e = e > 0 ? e : 0.0f;  // weights, some zero
            o2 = o1;
            const int j0 = rows % 3, j1 = T - rows % 5;
            ref->attn_pv(o1.data(), rows, dv, s1.data(), v.data(), j0, j1);
            k->attn_pv(o2.data(), rows, dv, s1.data(), v.data(), j0, j1);
            if (std::memcmp(o1.data(), o2.data(), o1.size() * sizeof(float)) != 0) {
                std::printf("%s attn_pv dv=%d rows=%d differs from the reference\n", k->name, dv, rows);
                failures++;
            }
        }
    }
    // f16 tile loads: bit for bit the reference, null rows zero.
    for (int n : {8, 24, 64, 80, 128, 136}) {
        const int T = kAttnKeys;
        std::vector<uint16_t> src((size_t)T * n);
        for (size_t i = 0; i < src.size(); i++) src[i] = fp32_to_fp16(rnd() * 3);
        const uint16_t* rows[kAttnKeys];
        for (int j = 0; j < T; j++) rows[j] = j % 7 == 3 ? nullptr : src.data() + (size_t)((j * 5) % T) * n;
        std::vector<float> a((size_t)T * n, 1.0f), b((size_t)T * n, 2.0f), c((size_t)T * n, 1.0f), d((size_t)T * n, 2.0f);
        ref->attn_load_k_f16(rows, n, a.data());
        k->attn_load_k_f16(rows, n, b.data());
        ref->attn_load_v_f16(rows, n, c.data());
        k->attn_load_v_f16(rows, n, d.data());
        if (std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) != 0 ||
            std::memcmp(c.data(), d.data(), c.size() * sizeof(float)) != 0) {
            std::printf("%s attn_load_k_f16/attn_load_v_f16 n=%d differ from the reference\n", k->name, n);
            failures++;
        }
    }
    // The online-softmax step: the same maxima and rescales, exponentials within exp_shift's
    // tolerance; rows without a finite score (all -inf or NaN) untouched and zeroed.
    {
        const int T = kAttnKeys, rows = 7, dv = 40;
        std::vector<float> s((size_t)rows * T), m(rows), l(rows), o((size_t)rows * dv);
        for (int r = 0; r < rows; r++) {
            m[r] = r % 3 == 0 ? -INFINITY : rnd() * 4;
            l[r] = m[r] > -INFINITY ? 1.0f + rnd() * rnd() : 0.0f;
            for (int j = 0; j < T; j++) s[(size_t)r * T + j] = r == 4 ? (j % 2 ? NAN : -INFINITY) : rnd() * 8;
            if (r == 2) s[(size_t)r * T + 5] = NAN, s[(size_t)r * T + 9] = -INFINITY;
        }
        for (float& e : o) e = rnd();
        std::vector<float> s2 = s, m2 = m, l2 = l, o2 = o;
        ref->attn_softmax(s.data(), rows, m.data(), l.data(), o.data(), dv);
        k->attn_softmax(s2.data(), rows, m2.data(), l2.data(), o2.data(), dv);
        bool ok = std::memcmp(m.data(), m2.data(), sizeof(float) * rows) == 0 &&
                  std::memcmp(o.data(), o2.data(), sizeof(float) * o.size()) == 0;
        for (int r = 0; r < rows; r++) ok &= std::fabs(l[r] - l2[r]) <= 1e-6f * l[r];
        for (size_t i = 0; i < s.size(); i++) ok &= (s[i] == 0) == (s2[i] == 0) && std::fabs(s[i] - s2[i]) <= 1e-6f * s[i];
        for (int j = 0; j < T; j++) ok &= s2[4 * T + j] == 0.0f;
        if (!ok) {
            std::printf("%s attn_softmax differs from the reference\n", k->name);
            failures++;
        }
    }
    return failures;
}

int main() {
    const KernelTable* ref = kernels_generic();
    const char* names[] = {"avx512", "avx2", "neon"};
    int tested = 0, failures = 0;
    for (const char* name : names) {
        const KernelTable* k = kernels_by_name(name);
        if (!k) continue;
        int f = check_tier(ref, k);
        std::printf("tier %s: %s\n", name, f ? "FAIL" : "ok");
        failures += f;
        tested++;
    }
    std::printf("%d tiers tested, %d failures\n", tested, failures);
    return failures ? 1 : 0;
}
