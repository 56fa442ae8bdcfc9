// Weight type -> kernels for one ISA tier: how to quantize the activation row a weight row is
// multiplied with, the dot product, and the row dequantizer (embedding lookup, norms).
#pragma once

#include <cstddef>
#include <cstdint>

#include "../kernels/kernel_table.h"
#include "../kernels/packed.h"

namespace rl {

enum ActFormat : uint8_t {
    ACT_F32 = 0,   // activations used as f32 (float weights)
    ACT_Q8_0 = 1,  // blocks of 32 (BlockQ8_0)
    ACT_Q8_K = 2,  // blocks of 256 with sums (BlockQ8K)
};

struct WeightKernels {
    uint32_t type;       // GgmlType id
    ActFormat act;       // format vec_dot expects for its activation argument
    uint32_t act_block;  // elements per activation block (1 for f32)
    // f32 -> act format; nullptr when act is ACT_F32 (the f32 row is used as is)
    void (*quantize_act)(const float* x, void* y, int64_t n);
    // dot of one weight row (n elements) with an activation row in `act` format
    float (*vec_dot)(int64_t n, const void* w, const void* a);
    // one weight row -> f32
    void (*dequantize_row)(const void* x, float* y, int64_t n);
    // optional: one weight row with 4 activation rows a + t * a_stride, bit-identical to 4 vec_dot
    // calls (the weight is unpacked once); nullptr when the type has none
    void (*vec_dot_x4)(int64_t n, const void* w, const void* a, size_t a_stride, float* out);
    // optional packed 8-row form (kernels/packed.h): elements and bytes per packed block (rows whose
    // length is not a multiple of pack_elems stay unpacked), the packer, the kernel
    uint32_t pack_elems;
    uint32_t pack_block_bytes;
    void (*pack)(const uint8_t* rows, size_t row_bytes, int64_t nb, void* out);
    PackedGemmFn gemm_x8;
    // optional: two consecutive groups at once (16 rows), the same bits as two gemm_x8 calls
    PackedGemmFn gemm_x16 = nullptr;
};

// Kernels for `type` on `tier` (generic when tier is null or has no override); nullptr when the
// engine cannot compute with the type.
const WeightKernels* weight_kernels(uint32_t type, const KernelTable* tier);

// Bytes of an activation row of n elements in `act` format (n a multiple of the block).
size_t act_row_bytes(ActFormat act, int64_t n);

}  // namespace rl
