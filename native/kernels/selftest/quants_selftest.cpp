// Standalone check of the weight-type kernels (quants.h): generic vec_dot against "dequantize, then
// dot in double", avx2 against generic, activation quantizers bit-exact across tiers, plus a GB/s
// figure per avx2 vec_dot. Exit status 0 = pass. `--quick` skips the timing (sanitizer runs).
//   g++ -std=c++17 -O2 -mavx2 -mfma -mf16c -c avx2/quants_avx2.cpp
//   g++ -std=c++17 -O2 selftest/quants_selftest.cpp generic/quants_generic.cpp quants_avx2.o
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#include "../../util/test_rng.h"
#include "../fp16.h"
#include "../quants.h"

using namespace rl;

// The SIMD tier under test ("avx2" in the messages below): avx2:: on x86, neon:: on aarch64.
#if defined(__aarch64__)
namespace tier = rl::neon;
static const char* const kTierName = "neon";
#else
namespace tier = rl::avx2;
static const char* const kTierName = "avx2";
#endif

// Bounds, normalized by ||w||_2 * ||a||_2 (the Cauchy-Schwarz bound on the dot's magnitude):
// the generic reference differs from the double dot of dequantized rows only by float rounding of
// the scale products. avx2 must equal generic bit for bit on quantized rows (same integer block sums,
// same double block terms in the same order) and within one float rounding on float rows (a double
// sum in another order). A last-bit difference is not harmless: the engine rounds matmul outputs to
// f16 (KV cache) and re-quantizes activations to Q8, and each flip there grows to ~1e-2 in logits.
static const double kRefBound = 2e-6;
static const double kAvx2FloatBound = 1.2e-7;


enum ActFormat { ACT_F32, ACT_Q8_0, ACT_Q8_K };

typedef void (*DequantFn)(const void*, float*, int64_t);
typedef float (*DotFn)(int64_t, const void*, const void*);

struct QuantType {
    const char* name;
    int block;         // elements per block
    int bytes;         // bytes per block
    int scale_off[2];  // byte offsets of fp16 scale fields in a block (-1: none)
    ActFormat act;
    DequantFn deq_generic, deq_avx2;
    DotFn dot_generic, dot_avx2;
};

#define RL_TYPE(name, blk, bytes, s0, s1, act, deq, dot) \
    {name, blk, bytes, {s0, s1}, act, generic::deq, tier::deq, generic::dot, tier::dot}
static const QuantType kTypes[] = {
    RL_TYPE("F32", 1, 4, -1, -1, ACT_F32, dequantize_row_f32, vec_dot_f32_f32),
    RL_TYPE("F16", 1, 2, -1, -1, ACT_F32, dequantize_row_f16, vec_dot_f16_f32),
    RL_TYPE("BF16", 1, 2, -1, -1, ACT_F32, dequantize_row_bf16, vec_dot_bf16_f32),
    RL_TYPE("Q8_0", 32, 34, 0, -1, ACT_Q8_0, dequantize_row_q8_0, vec_dot_q8_0_q8_0),
    RL_TYPE("Q4_0", 32, 18, 0, -1, ACT_Q8_0, dequantize_row_q4_0, vec_dot_q4_0_q8_0),
    RL_TYPE("Q4_1", 32, 20, 0, 2, ACT_Q8_0, dequantize_row_q4_1, vec_dot_q4_1_q8_0),
    RL_TYPE("Q5_0", 32, 22, 0, -1, ACT_Q8_0, dequantize_row_q5_0, vec_dot_q5_0_q8_0),
    RL_TYPE("Q5_1", 32, 24, 0, 2, ACT_Q8_0, dequantize_row_q5_1, vec_dot_q5_1_q8_0),
    RL_TYPE("IQ4_NL", 32, 18, 0, -1, ACT_Q8_0, dequantize_row_iq4_nl, vec_dot_iq4_nl_q8_0),
    RL_TYPE("Q2_K", 256, 84, 80, 82, ACT_Q8_K, dequantize_row_q2_K, vec_dot_q2_K_q8_K),
    RL_TYPE("Q3_K", 256, 110, 108, -1, ACT_Q8_K, dequantize_row_q3_K, vec_dot_q3_K_q8_K),
    RL_TYPE("Q4_K", 256, 144, 0, 2, ACT_Q8_K, dequantize_row_q4_K, vec_dot_q4_K_q8_K),
    RL_TYPE("Q5_K", 256, 176, 0, 2, ACT_Q8_K, dequantize_row_q5_K, vec_dot_q5_K_q8_K),
    RL_TYPE("Q6_K", 256, 210, 208, -1, ACT_Q8_K, dequantize_row_q6_K, vec_dot_q6_K_q8_K),
    RL_TYPE("IQ4_XS", 256, 136, 0, -1, ACT_Q8_K, dequantize_row_iq4_xs, vec_dot_iq4_xs_q8_K),
};
#undef RL_TYPE

// Weight scale regimes: the fp16 scale fields are overwritten with values of this kind.
enum ScaleKind { SC_NORMAL, SC_ZERO, SC_HUGE, SC_SUBNORMAL, SC_NEGATIVE, SC_COUNT };
static const char* kScaleNames[SC_COUNT] = {"normal", "zero", "huge", "subnormal", "negative"};

static uint16_t scale_value(ScaleKind k) {
    float u = std::fabs(rnd_uniform());
    switch (k) {
        case SC_NORMAL: return fp32_to_fp16((rnd_u32() & 1 ? 1.f : -1.f) * (0.001f + 0.05f * u));
        case SC_ZERO: return 0;
        case SC_HUGE: return fp32_to_fp16(30000.0f + 35000.0f * u);
        case SC_SUBNORMAL: return (uint16_t)(1 + (rnd_u32() % 0x3ff));  // fp16 subnormals
        case SC_NEGATIVE: return fp32_to_fp16(-(0.001f + 0.05f * u));
        default: return 0;
    }
}

// Random weight row: random quant bytes, valid fp16 scales; float types get finite values.
static void make_weights(const QuantType& t, ScaleKind k, int64_t n, uint8_t* w) {
    if (t.block == 1) {
        for (int64_t i = 0; i < n; i++) {
            float v = k == SC_ZERO ? 0.0f : rnd_uniform() * (k == SC_HUGE ? 6e4f : k == SC_SUBNORMAL ? 1e-6f : 1.0f);
            if (k == SC_NEGATIVE) v = -std::fabs(v);
            if (t.bytes == 4) std::memcpy(w + 4 * i, &v, 4);
            uint16_t h = t.name[0] == 'B' ? fp32_to_bf16(v) : fp32_to_fp16(v);
            if (t.bytes == 2) std::memcpy(w + 2 * i, &h, 2);
        }
        return;
    }
    int64_t nb = n / t.block;
    for (int64_t i = 0; i < nb * t.bytes; i++) w[i] = (uint8_t)rnd_u32();
    for (int64_t b = 0; b < nb; b++) {
        for (int s = 0; s < 2; s++) {
            if (t.scale_off[s] < 0) continue;
            uint16_t h = scale_value(k);
            std::memcpy(w + b * t.bytes + t.scale_off[s], &h, 2);
        }
    }
}

// Activation row of this kind (finite values only).
enum ActKind { AK_UNIFORM, AK_NEGATIVE, AK_ZERO, AK_SPIKY, AK_COUNT };
static void make_acts(ActKind k, int64_t n, float* x) {
    for (int64_t i = 0; i < n; i++) {
        float v = rnd_uniform();
        switch (k) {
            case AK_UNIFORM: x[i] = v; break;
            case AK_NEGATIVE: x[i] = -std::fabs(v) - 1e-3f; break;
            case AK_ZERO: x[i] = 0.0f; break;
            case AK_SPIKY: x[i] = (rnd_u32() % 61 == 0) ? 300.0f * v : 1e-3f * v; break;
            default: break;
        }
    }
}

static int64_t act_bytes(ActFormat f, int64_t n) {
    return f == ACT_F32 ? n * 4 : f == ACT_Q8_0 ? n / 32 * (int64_t)sizeof(BlockQ8_0) : n / 256 * (int64_t)sizeof(BlockQ8K);
}

static void dequant_q8_K(const void* x, float* y, int64_t n) {
    const BlockQ8K* b = (const BlockQ8K*)x;
    for (int64_t i = 0; i < n / 256; i++)
        for (int j = 0; j < 256; j++) y[256 * i + j] = b[i].d * b[i].qs[j];
}

static void quantize_act(ActFormat f, const float* x, uint8_t* y, int64_t n) {
    if (f == ACT_F32) std::memcpy(y, x, (size_t)n * 4);
    if (f == ACT_Q8_0) generic::quantize_row_q8_0(x, y, n);
    if (f == ACT_Q8_K) generic::quantize_row_q8_K(x, y, n);
}

static void dequant_act(ActFormat f, const uint8_t* a, float* y, int64_t n) {
    if (f == ACT_F32) std::memcpy(y, a, (size_t)n * 4);
    if (f == ACT_Q8_0) generic::dequantize_row_q8_0(a, y, n);
    if (f == ACT_Q8_K) dequant_q8_K(a, y, n);
}

static bool g_have_avx2 = false;
static int g_failures = 0;

struct TypeStats {
    double ref_err = 0, avx2_err = 0;
    int cases = 0, deq_mismatch = 0;
};

static void check_type(const QuantType& t, TypeStats* st) {
    const int64_t sizes32[] = {32, 64, 96, 160, 32 * 37, 4096, 32 * 129};
    const int64_t sizes256[] = {256, 512, 768, 256 * 17, 4096};
    const int64_t sizes1[] = {1, 3, 7, 8, 9, 31, 33, 100, 1000, 4099};
    const int64_t* sizes = t.block == 1 ? sizes1 : t.block == 32 ? sizes32 : sizes256;
    int nsizes = t.block == 1 ? 10 : t.block == 32 ? 7 : 5;
    for (int si = 0; si < nsizes; si++) {
        int64_t n = sizes[si];
        int64_t wbytes = n / t.block * t.bytes;
        // +2 bytes / +4 bytes: rows need not sit at vector-aligned addresses
        std::vector<uint8_t> wbuf(wbytes + 64), abuf(act_bytes(t.act, n) + 64);
        std::vector<float> xa(n + 16), wd(n), wd2(n), ad(n);
        uint8_t* w = wbuf.data() + (t.bytes == 4 ? 4 : 2);
        uint8_t* a = abuf.data() + (t.act == ACT_Q8_K ? 0 : t.act == ACT_F32 ? 4 : 2);
        float* xs = xa.data() + 1;
        for (int k = 0; k < SC_COUNT; k++) {
            for (int ak = 0; ak < AK_COUNT; ak++) {
                make_weights(t, (ScaleKind)k, n, w);
                make_acts((ActKind)ak, n, xs);
                quantize_act(t.act, xs, a, n);
                t.deq_generic(w, wd.data(), n);
                dequant_act(t.act, a, ad.data(), n);
                double ref = 0, nw = 0, na = 0;
                for (int64_t i = 0; i < n; i++) {
                    ref += (double)wd[i] * ad[i];
                    nw += (double)wd[i] * wd[i];
                    na += (double)ad[i] * ad[i];
                }
                double norm = std::sqrt(nw) * std::sqrt(na) + 1e-300;
                float g = t.dot_generic(n, w, a);
                double e = std::fabs(g - ref) / norm;
                if (!(e <= kRefBound)) {
                    std::printf("FAIL %s n=%lld scales=%s acts=%d: generic %.9g vs dequant-dot %.9g (norm err %.3g)\n",
                                t.name, (long long)n, kScaleNames[k], ak, g, ref, e);
                    g_failures++;
                }
                if (e > st->ref_err) st->ref_err = e;
                st->cases++;
                if (!g_have_avx2) continue;
                t.deq_avx2(w, wd2.data(), n);
                if (std::memcmp(wd.data(), wd2.data(), (size_t)n * 4) != 0) {
                    if (st->deq_mismatch++ == 0) {
                        for (int64_t i = 0; i < n; i++)
                            if (std::memcmp(&wd[i], &wd2[i], 4) != 0) {
                                std::printf("FAIL %s dequantize n=%lld scales=%s: [%lld] generic %.9g avx2 %.9g\n",
                                            t.name, (long long)n, kScaleNames[k], (long long)i, wd[i], wd2[i]);
                                break;
                            }
                    }
                    g_failures++;
                }
                float v = t.dot_avx2(n, w, a);
                double e2 = std::fabs((double)v - g) / norm;
                bool same = t.block == 1 ? e2 <= kAvx2FloatBound : std::memcmp(&v, &g, 4) == 0;
                if (!same) {
                    std::printf("FAIL %s n=%lld scales=%s acts=%d: avx2 %.9g vs generic %.9g (norm err %.3g)\n", t.name,
                                (long long)n, kScaleNames[k], ak, v, g, e2);
                    g_failures++;
                }
                if (e2 > st->avx2_err) st->avx2_err = e2;
            }
        }
    }
}

static void from_hex(const char* hex, uint8_t* out) {
    for (size_t i = 0; hex[2 * i]; i++) std::sscanf(hex + 2 * i, "%2hhx", &out[i]);
}

// Regression: one Q4_0 row (wv, layer 0, row 23 of `make-model.ts --type Q4_0 --dim 256 --ffn 512
// --layers 2 --seed 1`) against the Q8_0 activations of token 1. The exact sum is just above an f16
// rounding tie; a float block accumulator returned the tie itself (0xbefbd000 instead of 0xbefbd001),
// the KV cache rounded it the other way, and logits from position 4 on moved by 0.1.
static void check_q4_0_kv_tie() {
    static const char* kW =
        "3025b8a88c876a59b8929b0797847c96798cb625659583cb667640877598b5988e85bb4a67a5c9ca5b90ea94e99a5a98867a6796"
        "4464f924954ad7bbfca86f96a7a57d884667cb80b82267d2a47b9361344eab1762c0ac5bb58d642339b3ca47307746592ac86812"
        "c49b79fc1524660e967afebcb3c2e92ac288c128e296faa4ae5649db2d76309f6dc4b9969557654d";
    static const char* kA =
        "3025d00030103f4f3ff05ff05f102020f0101000e0816ff0e0e00030e0d0a1e0204f982210b1d0c0a120303020e0b130d020008"
        "110b12030e020206fd0b1a16f2010e010702600f0f010f000812010f000c02030300000d0e0003010e01020c0d01000e02000732"
        "400c09140d07fb1d010a100c0f07f2000d010d0001020f04fe020d0b130e0f01048246f30e0f0106f00b120f030204fc1f05fa17"
        "f203f30c1a130f0302010f030d0e0682430f020f04fc0305ff0e05fc000106fc0106f81e000106f00204000f000c030f00324303"
        "0302020f040814ff040a1c04f81e0c02030401030b130d03030402010204f8e25b1f000306fc01000302010f010c0e0d0b1c0913"
        "0e040d0f0f07f00d0d020f010";
    uint8_t w[8 * 18], a[8 * sizeof(BlockQ8_0)];
    from_hex(kW, w);
    from_hex(kA, a);
    float g = generic::vec_dot_q4_0_q8_0(256, w, a);
    if (fp32_to_bits(g) != 0xbefbd001u || fp32_to_fp16(g) != 47071) {
        std::printf("FAIL Q4_0 KV-tie case: generic %.9g (0x%08x)\n", g, fp32_to_bits(g));
        g_failures++;
    }
    if (!g_have_avx2) return;
    float v = tier::vec_dot_q4_0_q8_0(256, w, a);
    if (fp32_to_bits(v) != fp32_to_bits(g)) {
        std::printf("FAIL Q4_0 KV-tie case: avx2 %.9g (0x%08x) != generic (0x%08x)\n", v, fp32_to_bits(v),
                    fp32_to_bits(g));
        g_failures++;
    }
}

// Every half bit pattern (NaN, inf, subnormals) through both f16/bf16 dequantizers.
static void check_all_halves() {
    std::vector<uint16_t> h(65536);
    std::vector<float> a(65536), b(65536);
    for (int i = 0; i < 65536; i++) h[i] = (uint16_t)i;
    const DequantFn pairs[2][2] = {{generic::dequantize_row_f16, tier::dequantize_row_f16},
                                   {generic::dequantize_row_bf16, tier::dequantize_row_bf16}};
    for (int p = 0; p < 2; p++) {
        pairs[p][0](h.data(), a.data(), 65536);
        pairs[p][1](h.data(), b.data(), 65536);
        if (std::memcmp(a.data(), b.data(), a.size() * 4) != 0) {
            std::printf("FAIL %s dequantize of all 65536 bit patterns differs\n", p ? "BF16" : "F16");
            g_failures++;
        }
    }
}

// ---------------------------------------------------------------- activation quantizers

static const char* kQInputNames[] = {"uniform", "negative", "zeros", "huge", "tiny", "subnormal", "ties", "nan/inf"};
static void make_q_input(int kind, float* x, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        float v = rnd_uniform();
        switch (kind) {
            case 0: x[i] = v * 3.0f; break;
            case 1: x[i] = -std::fabs(v) * 7.0f; break;
            case 2: x[i] = (i & 1) ? 0.0f : -0.0f; break;
            case 3: x[i] = v * 3e38f; break;
            case 4: x[i] = v * 1e-37f; break;
            case 5: x[i] = v * 1e-40f; break;
            case 6: x[i] = (float)((int)(rnd_u32() % 255) - 127) * 0.5f; break;  // many exact .5 ties
            case 7: {
                uint32_t r = rnd_u32() % 16;
                x[i] = r == 0 ? NAN : r == 1 ? INFINITY : r == 2 ? -INFINITY : v;
                break;
            }
            default: break;
        }
    }
}

static void check_act_quantizers(double* q80_err, double* q8k_err) {
    const int64_t n = 256 * 9;
    std::vector<float> x(n + 1), y(n);
    std::vector<BlockQ8_0> a0(n / 32), b0(n / 32);
    std::vector<BlockQ8K> ak(n / 256), bk(n / 256);
    for (int kind = 0; kind < 8; kind++) {
        for (int rep = 0; rep < 20; rep++) {
            make_q_input(kind, x.data() + 1, n);
            const float* xs = x.data() + 1;
            generic::quantize_row_q8_0(xs, a0.data(), n);
            generic::quantize_row_q8_K(xs, ak.data(), n);
            if (kind < 7) {  // round trip: |x - q*d| within half a step (+ the fp16 rounding of d for Q8_0)
                generic::dequantize_row_q8_0(a0.data(), y.data(), n);
                for (int64_t i = 0; i < n; i++) {
                    float d = std::fabs(fp16_to_fp32(a0[i / 32].d));
                    if (!std::isfinite(d)) continue;  // |x|/127 beyond the fp16 range
                    double amax = 0;
                    for (int j = 0; j < 32; j++) amax = std::fmax(amax, std::fabs(xs[i / 32 * 32 + j]));
                    double e = std::fabs((double)xs[i] - y[i]);
                    // + fp16 rounding of d (relative, or absolute among fp16 subnormals) times 127
                    double tol = 0.5 * d + amax * 0.0011 + 127.0 * std::ldexp(1.0, -25);
                    if (amax > 0 && kind != 4 && kind != 5 && e / amax > *q80_err) *q80_err = e / amax;
                    if (!(e <= tol)) {
                        std::printf("FAIL Q8_0 round trip (%s) [%lld]: x %.9g q*d %.9g\n", kQInputNames[kind],
                                    (long long)i, xs[i], y[i]);
                        g_failures++;
                        break;
                    }
                }
                dequant_q8_K(ak.data(), y.data(), n);
                for (int64_t b = 0; b < n / 256; b++) {
                    int sums[16] = {0};
                    for (int j = 0; j < 256; j++) sums[j / 16] += ak[b].qs[j];
                    for (int g = 0; g < 16; g++)
                        if (sums[g] != ak[b].bsums[g]) {
                            std::printf("FAIL Q8_K bsums (%s)\n", kQInputNames[kind]);
                            g_failures++;
                        }
                    double amax = 0;
                    for (int j = 0; j < 256; j++) amax = std::fmax(amax, std::fabs(xs[256 * b + j]));
                    for (int j = 0; j < 256; j++) {
                        int64_t i = 256 * b + j;
                        double e = std::fabs((double)xs[i] - y[i]);
                        if (amax > 0 && kind != 4 && kind != 5 && e / amax > *q8k_err) *q8k_err = e / amax;
                        // -127/max overflows below ~3.7e-37: such blocks quantize to zeros by design
                        double tol = amax < 4e-37 ? amax : 0.5 * std::fabs(ak[b].d) * 1.0001 + amax * 1e-6;
                        if (!(e <= tol)) {
                            std::printf("FAIL Q8_K round trip (%s) [%lld]: x %.9g q*d %.9g\n", kQInputNames[kind],
                                        (long long)i, xs[i], y[i]);
                            g_failures++;
                            break;
                        }
                    }
                }
            }
            if (!g_have_avx2) continue;
            tier::quantize_row_q8_0(xs, b0.data(), n);
            tier::quantize_row_q8_K(xs, bk.data(), n);
            if (std::memcmp(a0.data(), b0.data(), a0.size() * sizeof(BlockQ8_0)) != 0) {
                std::printf("FAIL quantize_row_q8_0 avx2 != generic (%s)\n", kQInputNames[kind]);
                g_failures++;
            }
            if (std::memcmp(ak.data(), bk.data(), ak.size() * sizeof(BlockQ8K)) != 0) {
                std::printf("FAIL quantize_row_q8_K avx2 != generic (%s)\n", kQInputNames[kind]);
                g_failures++;
            }
        }
    }
}

// Exact .5 ties after scaling (max 127 makes id = 1): Q8_0 rounds them away from zero, Q8_K to even;
// random inputs almost never hit a tie, so a tier rounding the other way would go unnoticed.
static void check_quantizer_ties() {
    const int64_t n = 256;
    std::vector<float> x(n);
    for (int64_t i = 0; i < n; i++) x[i] = i % 32 == 0 ? 127.0f : (float)((int)(i % 7) - 3) + 0.5f;
    std::vector<BlockQ8_0> a0(n / 32), b0(n / 32);
    std::vector<BlockQ8K> ak(n / 256), bk(n / 256);
    generic::quantize_row_q8_0(x.data(), a0.data(), n);
    generic::quantize_row_q8_K(x.data(), ak.data(), n);
    if (a0[0].qs[1] != -2 || a0[0].qs[3] != 1 || ak[0].qs[1] != 2 || ak[0].qs[3] != 0) {  // -1.5, 0.5 (Q8_K negated)
        std::printf("FAIL quantizer ties: generic q8_0 %d %d, q8_K %d %d\n", a0[0].qs[1], a0[0].qs[3], ak[0].qs[1],
                    ak[0].qs[3]);
        g_failures++;
    }
    if (!g_have_avx2) return;
    tier::quantize_row_q8_0(x.data(), b0.data(), n);
    tier::quantize_row_q8_K(x.data(), bk.data(), n);
    if (std::memcmp(a0.data(), b0.data(), a0.size() * sizeof(BlockQ8_0)) != 0 ||
        std::memcmp(ak.data(), bk.data(), ak.size() * sizeof(BlockQ8K)) != 0) {
        std::printf("FAIL quantizer ties: %s differs from generic\n", kTierName);
        g_failures++;
    }
}

// ---------------------------------------------------------------- timing

static double now_s() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

static volatile float g_sink;

// GB/s of weight bytes streamed by rows x vec_dot(n = 4096).
static double bench(const QuantType& t, DotFn dot, const uint8_t* w, const uint8_t* a, int rows, int reps) {
    const int64_t n = 4096;
    const int64_t rb = n / t.block * t.bytes;
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        double t0 = now_s();
        float s = 0;
        for (int i = 0; i < rows; i++) s += dot(n, w + i * rb, a);
        double dt = now_s() - t0;
        g_sink = s;
        if (dt < best) best = dt;
    }
    return (double)rows * rb / best / 1e9;
}

// cpuid + xgetbv (clang's __builtin_cpu_supports does not know "f16c").
static bool cpu_has_avx2_fma_f16c() {
#if defined(__x86_64__) || defined(__i386__)
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return false;
    bool fma = c & (1u << 12), osxsave = c & (1u << 27), avx = c & (1u << 28), f16c = c & (1u << 29);
    if (!(fma && osxsave && avx && f16c)) return false;
    unsigned lo, hi;
    __asm__("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    if ((lo & 6) != 6) return false;  // XMM and YMM state enabled by the OS
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
    return b & (1u << 5);
#elif defined(__aarch64__)
    return true;  // NEON is mandatory on aarch64
#else
    return false;
#endif
}

// vec_dot_*_x4 (one weight row, 4 activation rows) equals 4 single-row dots bit for bit, on both
// tiers, for ragged block counts (tails of 1-3 blocks after the groups of 4).
static void check_x4() {
    for (int64_t nb : {1, 2, 3, 4, 5, 7, 8, 13, 129}) {
        const int64_t n = nb * 32;
        std::vector<float> x(n), acts(4 * n);
        for (auto& v : x) v = rnd_uniform() * 2.0f - 1.0f;
        for (auto& v : acts) v = rnd_uniform() * 2.0f - 1.0f;
        std::vector<uint8_t> w8(nb * sizeof(BlockQ8_0)), w4(nb * 18), a(4 * nb * sizeof(BlockQ8_0));
        generic::quantize_row_q8_0(x.data(), w8.data(), n);
        for (int64_t b = 0; b < nb; b++) {  // Q4_0: scale from the Q8_0 block, random nibbles
            std::memcpy(&w4[b * 18], &w8[b * sizeof(BlockQ8_0)], 2);
            for (int j = 0; j < 16; j++) w4[b * 18 + 2 + j] = (uint8_t)rnd_u32();
        }
        const size_t stride = nb * sizeof(BlockQ8_0);
        for (int t = 0; t < 4; t++) generic::quantize_row_q8_0(acts.data() + t * n, a.data() + t * stride, n);
        struct Case {
            const char* name;
            const uint8_t* w;
            float (*one)(int64_t, const void*, const void*);
            void (*gx4)(int64_t, const void*, const void*, size_t, float*);
            void (*ax4)(int64_t, const void*, const void*, size_t, float*);
        } cases[] = {{"Q8_0", w8.data(), generic::vec_dot_q8_0_q8_0, generic::vec_dot_q8_0_q8_0_x4, tier::vec_dot_q8_0_q8_0_x4},
                     {"Q4_0", w4.data(), generic::vec_dot_q4_0_q8_0, generic::vec_dot_q4_0_q8_0_x4, tier::vec_dot_q4_0_q8_0_x4}};
        for (const Case& c : cases) {
            float g[4], ax[4];
            c.gx4(n, c.w, a.data(), stride, g);
            if (g_have_avx2) c.ax4(n, c.w, a.data(), stride, ax);
            for (int t = 0; t < 4; t++) {
                const float ref = c.one(n, c.w, a.data() + t * stride);
                if (fp32_to_bits(g[t]) != fp32_to_bits(ref) || (g_have_avx2 && fp32_to_bits(ax[t]) != fp32_to_bits(ref))) {
                    std::printf("FAIL %s x4 n=%lld row %d: %.9g / %.9g vs single %.9g\n", c.name, (long long)n, t, g[t],
                                g_have_avx2 ? ax[t] : 0.0f, ref);
                    g_failures++;
                }
            }
        }
    }
}

int main(int argc, char** argv) {
    bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
    g_have_avx2 = cpu_has_avx2_fma_f16c();
    std::printf("%s tier: %s\n", kTierName, g_have_avx2 ? "tested" : "skipped (CPU lacks AVX2/FMA/F16C)");
    const int ntypes = (int)(sizeof(kTypes) / sizeof(kTypes[0]));
    TypeStats stats[ntypes];
    for (int i = 0; i < ntypes; i++) check_type(kTypes[i], &stats[i]);
    if (g_have_avx2) check_all_halves();
    check_q4_0_kv_tie();
    check_x4();
    double q80 = 0, q8k = 0;
    check_act_quantizers(&q80, &q8k);
    check_quantizer_ties();

    std::printf("\nnormalized error |dot - ref| / (||w|| ||a||); bounds: generic %.0e, avx2 0 (quantized rows) or %.1e\n",
                kRefBound, kAvx2FloatBound);
    std::printf("%-8s %-6s %6s %14s %14s %10s\n", "type", "act", "cases", "generic-vs-ref", "avx2-vs-gen", "deq-exact");
    for (int i = 0; i < ntypes; i++) {
        const QuantType& t = kTypes[i];
        std::printf("%-8s %-6s %6d %14.3g %14.3g %10s\n", t.name,
                    t.act == ACT_F32 ? "f32" : t.act == ACT_Q8_0 ? "q8_0" : "q8_K", stats[i].cases, stats[i].ref_err,
                    g_have_avx2 ? stats[i].avx2_err : 0.0, !g_have_avx2 ? "n/a" : stats[i].deq_mismatch ? "NO" : "yes");
    }
    std::printf("activation round trip (normal-range inputs) max |x - q*d| / max|x| per block: q8_0 %.4g, q8_K %.4g; avx2 bytes %s\n",
                q80, q8k, g_have_avx2 ? "bit-identical checked" : "n/a");

    if (!quick) {
        const int rows = 4096;
        const int64_t n = 4096;
        std::printf("\nvec_dot throughput, %d rows x %lld, weight bytes / time (best of 3)\n", rows, (long long)n);
        std::printf("%-8s %10s %10s\n", "type", "avx2 GB/s", "gen GB/s");
        std::vector<float> x(n);
        make_acts(AK_UNIFORM, n, x.data());
        std::vector<uint8_t> a(act_bytes(ACT_Q8_K, n) + act_bytes(ACT_F32, n));
        for (int i = 0; i < ntypes; i++) {
            const QuantType& t = kTypes[i];
            int64_t rb = n / t.block * t.bytes;
            std::vector<uint8_t> w((size_t)(rb * rows));
            for (int r = 0; r < rows; r++) make_weights(t, SC_NORMAL, n, w.data() + r * rb);
            quantize_act(t.act, x.data(), a.data(), n);
            double ga = g_have_avx2 ? bench(t, t.dot_avx2, w.data(), a.data(), rows, 3) : 0.0;
            double gg = bench(t, t.dot_generic, w.data(), a.data(), rows / 8, 1);
            std::printf("%-8s %10.2f %10.2f\n", t.name, ga, gg);
        }
    }
    std::printf("\n%s (%d failures)\n", g_failures ? "FAILED" : "ok", g_failures);
    return g_failures ? 1 : 0;
}
