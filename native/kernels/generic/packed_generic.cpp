// Scalar reference of the packed 8-row kernels (packed.h): the packing itself (tier-independent)
// and the kernels every SIMD tier must reproduce bit for bit.
#include <cmath>
#include <cstring>

#include "../fp16.h"
#include "../packed.h"

namespace rl {
namespace generic {

static_assert(sizeof(BlockQ4_0x8) == 144 && sizeof(BlockQ8_0x8) == 272 && sizeof(BlockQ4_Kx8) == 1184 && sizeof(BlockQ5_Kx8) == 1440 &&
                  sizeof(BlockQ6_Kx8) == 1680 && sizeof(BlockF16x8) == 128 && sizeof(BlockF32x8) == 256,
              "packed block sizes");

void pack_q4_0x8(const uint8_t* rows, size_t row_bytes, int64_t nb, void* out) {
    BlockQ4_0x8* o = (BlockQ4_0x8*)out;
    for (int64_t b = 0; b < nb; b++) {
        for (int r = 0; r < 8; r++) {
            const uint8_t* blk = rows + r * row_bytes + b * 18;  // Q4_0: f16 d, 16 bytes of nibbles
            std::memcpy(&o[b].d[r], blk, 2);
            for (int c = 0; c < 4; c++) std::memcpy(&o[b].qs[32 * c + 4 * r], blk + 2 + 4 * c, 4);
        }
    }
}

void pack_q8_0x8(const uint8_t* rows, size_t row_bytes, int64_t nb, void* out) {
    BlockQ8_0x8* o = (BlockQ8_0x8*)out;
    for (int64_t b = 0; b < nb; b++) {
        for (int r = 0; r < 8; r++) {
            const uint8_t* blk = rows + r * row_bytes + b * 34;  // Q8_0: f16 d, 32 int8
            std::memcpy(&o[b].d[r], blk, 2);
            for (int c = 0; c < 8; c++) std::memcpy(&o[b].qs[32 * c + 4 * r], blk + 2 + 4 * c, 4);
        }
    }
}

// Q4_K: d, dmin, scales[12], qs[128] (144 bytes); Q5_K: d, dmin, scales[12], qh[32], qs[128] (176).
template <typename B, bool Q5>
static void pack_k45(const uint8_t* rows, size_t row_bytes, int64_t nb, void* out) {
    B* o = (B*)out;
    const size_t block = Q5 ? 176 : 144, qs_at = Q5 ? 48 : 16;
    for (int64_t b = 0; b < nb; b++) {
        for (int r = 0; r < 8; r++) {
            const uint8_t* blk = rows + r * row_bytes + b * block;
            std::memcpy(&o[b].d[r], blk, 2);
            std::memcpy(&o[b].dmin[r], blk + 2, 2);
            for (int sb = 0; sb < 8; sb++) {
                int sc, m;
                k4_scale_min(blk + 4, sb, &sc, &m);
                o[b].sc[sb][r] = (uint8_t)sc;
                o[b].m[sb][r] = (uint8_t)m;
            }
            for (int j = 0; j < 4; j++)
                for (int c = 0; c < 8; c++) std::memcpy(&o[b].qs[256 * j + 32 * c + 4 * r], blk + qs_at + 32 * j + 4 * c, 4);
            if constexpr (Q5)
                for (int c = 0; c < 8; c++) std::memcpy(&o[b].qh[32 * c + 4 * r], blk + 16 + 4 * c, 4);
        }
    }
}

void pack_q4_Kx8(const uint8_t* rows, size_t row_bytes, int64_t nb, void* out) {
    pack_k45<BlockQ4_Kx8, false>(rows, row_bytes, nb, out);
}
void pack_q5_Kx8(const uint8_t* rows, size_t row_bytes, int64_t nb, void* out) {
    pack_k45<BlockQ5_Kx8, true>(rows, row_bytes, nb, out);
}

// Element e of row r: run G = e / 4 of group G / 4, byte 4r + e % 4 of its ql chunk (G & 2) / 2
// (nibble G & 1) and of its qh (bits 2 * (G & 3)).
void pack_q6_Kx8(const uint8_t* rows, size_t row_bytes, int64_t nb, void* out) {
    BlockQ6_Kx8* o = (BlockQ6_Kx8*)out;
    int q[256];
    for (int64_t b = 0; b < nb; b++) {
        std::memset(&o[b], 0, sizeof o[b]);
        for (int r = 0; r < 8; r++) {
            const uint8_t* blk = rows + r * row_bytes + b * 210;  // Q6_K: ql[128], qh[64], scales[16], d
            q6k_values(blk, q);
            std::memcpy(&o[b].d[r], blk + 208, 2);
            for (int g = 0; g < 16; g++) o[b].sc[g][r] = (int8_t)blk[192 + g];
            for (int e = 0; e < 256; e++) {
                const int v = q[e] + 32, G = e / 4, at = 4 * r + e % 4;
                o[b].grp[G / 4].ql[32 * ((G & 2) / 2) + at] |= (uint8_t)((v & 15) << (4 * (G & 1)));
                o[b].grp[G / 4].qh[at] |= (uint8_t)((v >> 4) << (2 * (G & 3)));
            }
        }
    }
}

template <typename T>
static void pack_float_x8(const uint8_t* rows, size_t row_bytes, int64_t nb, void* out) {
    T* o = (T*)out;  // [block][element][row]
    for (int64_t b = 0; b < nb; b++)
        for (int e = 0; e < 8; e++)
            for (int r = 0; r < 8; r++) std::memcpy(&o[(b * 8 + e) * 8 + r], rows + r * row_bytes + (b * 8 + e) * sizeof(T), sizeof(T));
}

void pack_f16x8(const uint8_t* rows, size_t row_bytes, int64_t nb, void* out) { pack_float_x8<uint16_t>(rows, row_bytes, nb, out); }
void pack_f32x8(const uint8_t* rows, size_t row_bytes, int64_t nb, void* out) { pack_float_x8<float>(rows, row_bytes, nb, out); }

void packed_act_sums(const BlockQ8_0* q, size_t q_stride, int64_t nb, int n_tok, float* d, int32_t* s) {
    for (int t = 0; t < n_tok; t++) {
        const BlockQ8_0* row = (const BlockQ8_0*)((const uint8_t*)q + t * q_stride);
        for (int64_t b = 0; b < nb; b++) {
            int32_t sum = 0;
            for (int j = 0; j < 32; j++) sum += row[b].qs[j];
            d[t * nb + b] = fp16_to_fp32(row[b].d);
            s[t * nb + b] = sum;
        }
    }
}

// Element j (0..31) of row r in a packed block: chunk (j % 16) / 4, byte 4r + j % 4.
static inline int q4_0x8_value(const BlockQ4_0x8& blk, int r, int j) {
    const uint8_t byte = blk.qs[32 * ((j & 15) >> 2) + 4 * r + (j & 3)];
    return (j < 16 ? byte & 15 : byte >> 4) - 8;
}
static inline int q8_0x8_value(const BlockQ8_0x8& blk, int r, int j) { return blk.qs[32 * (j >> 2) + 4 * r + (j & 3)]; }

template <typename Block, typename Value>
static void gemm_x8(const void* w, const PackedAct& a, int n_tok, float* y, int64_t y_stride, Value value) {
    const Block* wb = (const Block*)w;
    for (int t = 0; t < n_tok; t++) {
        const BlockQ8_0* q = (const BlockQ8_0*)((const uint8_t*)a.q + t * a.q_stride);
        for (int r = 0; r < 8; r++) {
            float acc = 0.0f;
            for (int64_t b = 0; b < a.nb; b++) {
                int32_t sum = 0;
                for (int j = 0; j < 32; j++) sum += value(wb[b], r, j) * q[b].qs[j];
                acc = std::fmaf((float)sum, fp16_to_fp32(wb[b].d[r]) * a.d[t * a.nb + b], acc);
            }
            y[t * y_stride + r] = acc;
        }
    }
}

void gemm_q4_0x8(const void* w, const PackedAct& a, int n_tok, float* y, int64_t y_stride) {
    gemm_x8<BlockQ4_0x8>(w, a, n_tok, y, y_stride, q4_0x8_value);
}

void gemm_q8_0x8(const void* w, const PackedAct& a, int n_tok, float* y, int64_t y_stride) {
    gemm_x8<BlockQ8_0x8>(w, a, n_tok, y, y_stride, q8_0x8_value);
}

template <typename T, typename ToFloat>
static void gemm_float_x8(const void* w, const PackedAct& a, int n_tok, float* y, int64_t y_stride, ToFloat to_float) {
    const T* wb = (const T*)w;  // [block][element][row]
    for (int t = 0; t < n_tok; t++) {
        const float* x = (const float*)((const uint8_t*)a.q + t * a.q_stride);
        for (int r = 0; r < 8; r++) {
            float p[4] = {0.0f, 0.0f, 0.0f, 0.0f};
            for (int64_t i = 0; i < a.nb * 8; i++) p[i % 4] = std::fmaf(to_float(wb[i * 8 + r]), x[i], p[i % 4]);
            y[t * y_stride + r] = (p[0] + p[1]) + (p[2] + p[3]);
        }
    }
}

void gemm_f16x8(const void* w, const PackedAct& a, int n_tok, float* y, int64_t y_stride) {
    gemm_float_x8<uint16_t>(w, a, n_tok, y, y_stride, fp16_to_fp32);
}

void gemm_f32x8(const void* w, const PackedAct& a, int n_tok, float* y, int64_t y_stride) {
    gemm_float_x8<float>(w, a, n_tok, y, y_stride, [](float v) { return v; });
}

// Q8_K activation block (quants.h BlockQ8K): f32 scale, 256 int8, sums of each 16.
template <typename B, bool Q5>
static void gemm_k45(const void* w, const PackedAct& a, int n_tok, float* y, int64_t y_stride) {
    const B* wb = (const B*)w;
    for (int t = 0; t < n_tok; t++) {
        const BlockQ8K* q = (const BlockQ8K*)((const uint8_t*)a.q + t * a.q_stride);
        for (int r = 0; r < 8; r++) {
            float acc = 0.0f;
            for (int64_t b = 0; b < a.nb; b++) {
                int32_t sumi = 0, summ = 0;
                for (int sb = 0; sb < 8; sb++) {
                    const int j = sb / 2, high = sb % 2;
                    int32_t dot = 0, asum = 0;
                    for (int i = 0; i < 32; i++) {
                        const uint8_t byte = wb[b].qs[256 * j + 32 * (i / 4) + 4 * r + i % 4];
                        int v = high ? byte >> 4 : byte & 15;
                        if constexpr (Q5) v |= ((wb[b].qh[32 * (i / 4) + 4 * r + i % 4] >> sb) & 1) << 4;
                        dot += v * q[b].qs[32 * sb + i];
                        asum += q[b].qs[32 * sb + i];
                    }
                    sumi += wb[b].sc[sb][r] * dot;
                    summ += wb[b].m[sb][r] * asum;
                }
                acc = std::fmaf((float)sumi, fp16_to_fp32(wb[b].d[r]) * q[b].d, acc);
                acc = std::fmaf((float)-summ, fp16_to_fp32(wb[b].dmin[r]) * q[b].d, acc);
            }
            y[t * y_stride + r] = acc;
        }
    }
}

void gemm_q4_Kx8(const void* w, const PackedAct& a, int n_tok, float* y, int64_t y_stride) {
    gemm_k45<BlockQ4_Kx8, false>(w, a, n_tok, y, y_stride);
}
void gemm_q5_Kx8(const void* w, const PackedAct& a, int n_tok, float* y, int64_t y_stride) {
    gemm_k45<BlockQ5_Kx8, true>(w, a, n_tok, y, y_stride);
}

void gemm_q6_Kx8(const void* w, const PackedAct& a, int n_tok, float* y, int64_t y_stride) {
    const BlockQ6_Kx8* wb = (const BlockQ6_Kx8*)w;
    for (int t = 0; t < n_tok; t++) {
        const BlockQ8K* q = (const BlockQ8K*)((const uint8_t*)a.q + t * a.q_stride);
        for (int r = 0; r < 8; r++) {
            float acc = 0.0f;
            for (int64_t b = 0; b < a.nb; b++) {
                int32_t sumi = 0;
                for (int g = 0; g < 16; g++) {
                    int32_t dot = 0;
                    for (int i = 0; i < 16; i++) {
                        const int e = 16 * g + i, G = e / 4, at = 4 * r + e % 4;
                        const int lo = (wb[b].grp[g].ql[32 * ((G & 2) / 2) + at] >> (4 * (G & 1))) & 15;
                        const int hi = (wb[b].grp[g].qh[at] >> (2 * (G & 3))) & 3;
                        dot += ((lo | hi << 4) - 32) * q[b].qs[e];
                    }
                    sumi += wb[b].sc[g][r] * dot;
                }
                acc = std::fmaf((float)sumi, fp16_to_fp32(wb[b].d[r]) * q[b].d, acc);
            }
            y[t * y_stride + r] = acc;
        }
    }
}

}  // namespace generic
}  // namespace rl
