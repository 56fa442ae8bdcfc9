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
//   Q4_K and Q5_K (activations Q8_K, da = the activation block's f32 scale; q in 0..15 / 0..31),
//   per super-block:
//       sumi = sum_sb sc[sb] * sum_i q[32sb+i] * a[32sb+i],  summ = sum_sb m[sb] * sum_i a[32sb+i]
//       acc = fmaf((float)sumi, d_w * da, acc);  acc = fmaf((float)-summ, dmin_w * da, acc)
//   Q6_K (activations Q8_K):  sumi = sum_g sc[g] * sum_i (q[16g+i] - 32) * a[16g+i]  (exact int)
//       acc = fmaf((float)sumi, d_w * da, acc)
//   F16 / F32 (activations f32 rows): four partial sums by element index mod 4, each one fmaf per
//       element in order: p[i % 4] = fmaf(w[i], x[i], p[i % 4]); y = (p0 + p1) + (p2 + p3)
//   Q4_0 / Q8_0 (activations Q8_0):
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

// Fully unrolls the small fixed loops of the kernels (tokens of a tile, chunks of a block): their
// accumulators must live in registers, and GCC -O2 alone keeps such arrays in memory.
#if defined(__GNUC__)
#define RL_UNROLL _Pragma("GCC unroll 16")
#else
#define RL_UNROLL
#endif

struct BlockQ4_0x8 {
    uint16_t d[8];
    uint8_t qs[128];
};
struct BlockQ8_0x8 {
    uint16_t d[8];
    int8_t qs[256];
};
// Float rows in blocks of 8 elements: w[e][r] = row r's element e of the block (f16 or f32).
struct BlockF16x8 {
    uint16_t w[8][8];
};
struct BlockF32x8 {
    float w[8][8];
};
// Q4_K super-blocks of 256 (8 sub-blocks of 32 with 6-bit scale and min, unpacked here to bytes):
//   d[r], dmin[r]: row r's halves; sc[sb][r], m[sb][r]: sub-block sb's scale and min of row r;
//   qs: 32-byte chunk (j, c) at 256j + 32c (j < 4, c < 8) holds row r's original qs[32j+4c..+3] at
//   4r — low nibbles are elements 64j+4c..+3 (sub-block 2j), high nibbles 64j+32+4c..+3 (2j+1).
struct BlockQ4_Kx8 {
    uint16_t d[8], dmin[8];
    uint8_t sc[8][8];
    uint8_t m[8][8];
    uint8_t qs[1024];
};
// Q5_K: Q4_K's layout plus the fifth bits: qh chunk c (32 bytes at 32c, c < 8) holds row r's
// original qh[4c..4c+3] at 4r — bit sb of byte 4r + i is bit 4 of element 32sb + 4c + i.
struct BlockQ5_Kx8 {
    uint16_t d[8], dmin[8];
    uint8_t sc[8][8];
    uint8_t m[8][8];
    uint8_t qh[256];  // before qs: the first sub-block reads all of it, then qs streams in order
    uint8_t qs[1024];
};
// Q6_K super-blocks of 256 (16 groups of 16 with an int8 scale; values q - 32, q in 0..63):
//   d[r]: row r's half; sc[g][r]: group g's scale of row r; group g's 4-element runs G = 4g..4g+3
//   (elements 4G..4G+3) in grp[g], one stream: ql (two 32-byte chunks, chunk (G & 2) / 2) holds
//   row r's low 4 bits at 4r (low nibbles for even G, high for odd G); qh holds row r's top 2 bits
//   at 4r, bits 2 * (G & 3) of each byte.
struct BlockQ6_Kx8 {
    uint16_t d[8];
    int8_t sc[16][8];
    struct {
        uint8_t ql[64];
        uint8_t qh[32];
    } grp[16];
};

// Activations as the packed kernels read them: token t's blocks (BlockQ8_0, BlockQ8K for the K
// types, the f32 row itself for F16/F32) at (const uint8_t*)q + t * q_stride; for Q8_0 also its block scales (as f32) at
// d + t * nb and block sums (sum of the 32 int8 values) at s + t * nb (null for Q8_K: its blocks
// carry their f32 scale and sums).
struct PackedAct {
    const void* q;
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
    void gemm_q8_0x8(const void* w, const PackedAct& a, int n_tok, float* y, int64_t y_stride);     \
    void gemm_q4_Kx8(const void* w, const PackedAct& a, int n_tok, float* y, int64_t y_stride);     \
    void gemm_q5_Kx8(const void* w, const PackedAct& a, int n_tok, float* y, int64_t y_stride);     \
    void gemm_q6_Kx8(const void* w, const PackedAct& a, int n_tok, float* y, int64_t y_stride);     \
    void gemm_f16x8(const void* w, const PackedAct& a, int n_tok, float* y, int64_t y_stride);      \
    void gemm_f32x8(const void* w, const PackedAct& a, int n_tok, float* y, int64_t y_stride);

namespace generic {
RL_PACKED_DECLS
// Packs 8 rows (row r at rows + r * row_bytes, nb blocks each) into nb packed blocks at out.
void pack_q4_0x8(const uint8_t* rows, size_t row_bytes, int64_t nb, void* out);
void pack_q8_0x8(const uint8_t* rows, size_t row_bytes, int64_t nb, void* out);
void pack_q4_Kx8(const uint8_t* rows, size_t row_bytes, int64_t nb, void* out);
void pack_q5_Kx8(const uint8_t* rows, size_t row_bytes, int64_t nb, void* out);
void pack_q6_Kx8(const uint8_t* rows, size_t row_bytes, int64_t nb, void* out);
void pack_f16x8(const uint8_t* rows, size_t row_bytes, int64_t nb, void* out);
void pack_f32x8(const uint8_t* rows, size_t row_bytes, int64_t nb, void* out);
// The 256 values (q - 32) of a Q6_K block (quants_generic.cpp).
void q6k_values(const void* block, int* q);
// Q4_K/Q5_K 6-bit scale and min of sub-block j of a block's 12 scale bytes (quants_generic.cpp).
void k4_scale_min(const uint8_t* scales, int j, int* sc, int* m);
// Block scales as f32 and block sums of n_tok activation rows (the PackedAct d and s arrays).
void packed_act_sums(const BlockQ8_0* q, size_t q_stride, int64_t nb, int n_tok, float* d, int32_t* s);
// Two consecutive groups (16 rows: w, then the next group nb blocks later) times n_tok tokens,
// y[t * y_stride + r] for r < 16: the same bits as two gemm_x8 calls. Only the AVX-512 VNNI tier
// has one (Q8_0 on 512-bit registers); elsewhere nullptr.
constexpr PackedGemmFn gemm_q8_0x16 = nullptr;
}  // namespace generic
namespace avx2 {
RL_PACKED_DECLS
constexpr PackedGemmFn gemm_q8_0x16 = nullptr;
}
namespace avx512 {  // AVX-512 VNNI (256-bit registers; 512-bit for the 16-row Q8_0 tiles)
RL_PACKED_DECLS
void gemm_q8_0x16(const void* w, const PackedAct& a, int n_tok, float* y, int64_t y_stride);
}
namespace neon {  // SDOT when the CPU has dotprod (chosen at run time), else vmull_s8 + vpadalq_s16
RL_PACKED_DECLS
constexpr PackedGemmFn gemm_q8_0x16 = nullptr;
bool packed_uses_sdot();  // which of the two paths the kernels take on this CPU
}

#undef RL_PACKED_DECLS

}  // namespace rl
