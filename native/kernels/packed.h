// Weights repacked at load into groups of 8 rows, so one pass over an activation block feeds 8
// output rows with whole-register integer dot products (AVX2 maddubs, AVX-512 VNNI dpbusd).
//
// Layout of a group (8 consecutive rows of the original matrix), block b of every row together:
//   BlockQ4_0x8: d[r] = row r's scale; qs chunk c (bytes 32c..32c+31, c < 4) holds row r's original
//                qs[4c..4c+3] at bytes 4r..4r+3 — low nibbles are elements 4c..4c+3, high nibbles
//                elements 16+4c..16+4c+3 (Q4_0's own nibble order), stored unsigned (0..15).
//   BlockQ8_0x8: d[r] = row r's scale; qs chunk c (c < 8) holds row r's qs[4c..4c+3] at 4r..4r+3.
//
// Meaning (the scalar generic:: kernels are the reference; every tier is bit-identical to it):
//   for each row r and token t:  acc = 0.0f;  for b in blocks order:
//       S = sum_j w[r][b][j] * a[t][b][j]   (exact, integer; Q4_0 weights as nibble - 8)
//       acc = fmaf((float)S, d_w[r][b] * d_a[t][b], acc)     (d products of two halves are exact)
//   y[t][r] = acc
// Float accumulation per block (one fused multiply-add each) instead of the double sums of the row
// kernels: it is what lets 8 rows share a register, and it is exactly reproducible on every tier.
#pragma once

#include <cstddef>
#include <cstdint>

#include "quants.h"

namespace rl {

constexpr int kPackRows = 8;

struct BlockQ4_0x8 {
    uint16_t d[8];
    uint8_t qs[128];
};
struct BlockQ8_0x8 {
    uint16_t d[8];
    int8_t qs[256];
};

// Quantized activations as the packed kernels read them: token t's Q8_0 blocks at
// (const uint8_t*)q + t * q_stride; its block scales (as f32) at d + t * nb and block sums
// (sum of the 32 int8 values) at s + t * nb.
struct PackedAct {
    const BlockQ8_0* q;
    size_t q_stride;
    const float* d;
    const int32_t* s;
    int64_t nb;
};

// One group of 8 rows (nb blocks each, `w` = the group's first packed block) times n_tok tokens:
// y[t * y_stride + r] for r < 8, t < n_tok.
typedef void (*PackedGemmFn)(const void* w, const PackedAct& a, int n_tok, float* y, int64_t y_stride);

#define RL_PACKED_DECLS                                                                              \
    void gemm_q4_0x8(const void* w, const PackedAct& a, int n_tok, float* y, int64_t y_stride);     \
    void gemm_q8_0x8(const void* w, const PackedAct& a, int n_tok, float* y, int64_t y_stride);

namespace generic {
RL_PACKED_DECLS
// Packs 8 rows (row r at rows + r * row_bytes, nb blocks each) into nb packed blocks at out.
void pack_q4_0x8(const uint8_t* rows, size_t row_bytes, int64_t nb, void* out);
void pack_q8_0x8(const uint8_t* rows, size_t row_bytes, int64_t nb, void* out);
// Block scales as f32 and block sums of n_tok activation rows (the PackedAct d and s arrays).
void packed_act_sums(const BlockQ8_0* q, size_t q_stride, int64_t nb, int n_tok, float* d, int32_t* s);
}  // namespace generic
namespace avx2 {
RL_PACKED_DECLS
}
namespace avx512 {  // AVX-512 VNNI (256-bit registers)
RL_PACKED_DECLS
}

#undef RL_PACKED_DECLS

}  // namespace rl
