// Scalar reference of the packed 8-row kernels (packed.h): the packing itself (tier-independent)
// and the kernels every SIMD tier must reproduce bit for bit.
#include <cmath>
#include <cstring>

#include "../fp16.h"
#include "../packed.h"

namespace rl {
namespace generic {

static_assert(sizeof(BlockQ4_0x8) == 144 && sizeof(BlockQ8_0x8) == 272, "packed block sizes");

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

}  // namespace generic
}  // namespace rl
