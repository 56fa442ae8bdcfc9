#include "weight_types.h"

#include <cstring>

#include "../gguf/gguf_types.h"
#include "../kernels/packed.h"
#include "../kernels/quants.h"
#include "../util/cpu_features.h"

namespace rl {

// One row per computable type; the same table is instantiated for each namespace of kernels.
#define RL_NO_PACK 0, 0, nullptr, nullptr
#define RL_WEIGHT_TABLE(ns, pns)                                                                                \
    {GGML_TYPE_F32, ACT_F32, 1, nullptr, ns::vec_dot_f32_f32, ns::dequantize_row_f32, nullptr, 8,                  \
     sizeof(BlockF32x8), generic::pack_f32x8, pns::gemm_f32x8},                     \
    {GGML_TYPE_F16, ACT_F32, 1, nullptr, ns::vec_dot_f16_f32, ns::dequantize_row_f16, nullptr, 8,                  \
     sizeof(BlockF16x8), generic::pack_f16x8, pns::gemm_f16x8},                     \
    {GGML_TYPE_BF16, ACT_F32, 1, nullptr, ns::vec_dot_bf16_f32, ns::dequantize_row_bf16, nullptr, RL_NO_PACK},                  \
    {GGML_TYPE_Q8_0, ACT_Q8_0, 32, ns::quantize_row_q8_0, ns::vec_dot_q8_0_q8_0, ns::dequantize_row_q8_0,            \
     ns::vec_dot_q8_0_q8_0_x4, 32, sizeof(BlockQ8_0x8), generic::pack_q8_0x8, pns::gemm_q8_0x8, pns::gemm_q8_0x16}, \
    {GGML_TYPE_Q4_0, ACT_Q8_0, 32, ns::quantize_row_q8_0, ns::vec_dot_q4_0_q8_0, ns::dequantize_row_q4_0,            \
     ns::vec_dot_q4_0_q8_0_x4, 32, sizeof(BlockQ4_0x8), generic::pack_q4_0x8, pns::gemm_q4_0x8}, \
    {GGML_TYPE_Q4_1, ACT_Q8_0, 32, ns::quantize_row_q8_0, ns::vec_dot_q4_1_q8_0, ns::dequantize_row_q4_1, nullptr, RL_NO_PACK}, \
    {GGML_TYPE_Q5_0, ACT_Q8_0, 32, ns::quantize_row_q8_0, ns::vec_dot_q5_0_q8_0, ns::dequantize_row_q5_0, nullptr, RL_NO_PACK}, \
    {GGML_TYPE_Q5_1, ACT_Q8_0, 32, ns::quantize_row_q8_0, ns::vec_dot_q5_1_q8_0, ns::dequantize_row_q5_1, nullptr, RL_NO_PACK}, \
    {GGML_TYPE_IQ4_NL, ACT_Q8_0, 32, ns::quantize_row_q8_0, ns::vec_dot_iq4_nl_q8_0,                      \
     ns::dequantize_row_iq4_nl, nullptr, RL_NO_PACK},                                                                           \
    {GGML_TYPE_Q2_K, ACT_Q8_K, 256, ns::quantize_row_q8_K, ns::vec_dot_q2_K_q8_K, ns::dequantize_row_q2_K, nullptr, RL_NO_PACK}, \
    {GGML_TYPE_Q3_K, ACT_Q8_K, 256, ns::quantize_row_q8_K, ns::vec_dot_q3_K_q8_K, ns::dequantize_row_q3_K, nullptr, RL_NO_PACK}, \
    {GGML_TYPE_Q4_K, ACT_Q8_K, 256, ns::quantize_row_q8_K, ns::vec_dot_q4_K_q8_K, ns::dequantize_row_q4_K, nullptr, 256, sizeof(BlockQ4_Kx8), generic::pack_q4_Kx8, pns::gemm_q4_Kx8}, \
    {GGML_TYPE_Q5_K, ACT_Q8_K, 256, ns::quantize_row_q8_K, ns::vec_dot_q5_K_q8_K, ns::dequantize_row_q5_K, nullptr, 256, sizeof(BlockQ5_Kx8), generic::pack_q5_Kx8, pns::gemm_q5_Kx8}, \
    {GGML_TYPE_Q6_K, ACT_Q8_K, 256, ns::quantize_row_q8_K, ns::vec_dot_q6_K_q8_K, ns::dequantize_row_q6_K, nullptr, 256, sizeof(BlockQ6_Kx8), generic::pack_q6_Kx8, pns::gemm_q6_Kx8}, \
    {GGML_TYPE_IQ4_XS, ACT_Q8_K, 256, ns::quantize_row_q8_K, ns::vec_dot_iq4_xs_q8_K,                     \
     ns::dequantize_row_iq4_xs, nullptr, RL_NO_PACK},

static const WeightKernels k_generic[] = {RL_WEIGHT_TABLE(generic, generic)};
static const WeightKernels k_avx2[] = {RL_WEIGHT_TABLE(avx2, avx2)};
// AVX-512 with VNNI: the avx2 row kernels, VNNI packed kernels.
static const WeightKernels k_avx512_vnni[] = {RL_WEIGHT_TABLE(avx2, avx512)};
// aarch64: NEON row kernels; the packed kernels pick SDOT at run time when the CPU has dotprod.
static const WeightKernels k_neon[] = {RL_WEIGHT_TABLE(neon, neon)};

#undef RL_WEIGHT_TABLE
#undef RL_NO_PACK

template <size_t N>
static const WeightKernels* find_type(const WeightKernels (&table)[N], uint32_t type) {
    for (const WeightKernels& k : table)
        if (k.type == type) return &k;
    return nullptr;
}

const WeightKernels* weight_kernels(uint32_t type, const KernelTable* tier) {
    // avx512 reuses the avx2 row kernels; its packed kernels need VNNI.
    if (tier && tier->name && std::strcmp(tier->name, "avx512") == 0)
        return find_type(cpu_features_get().avx512vnni ? k_avx512_vnni : k_avx2, type);
    if (tier && tier->name && std::strcmp(tier->name, "avx2") == 0) return find_type(k_avx2, type);
    if (tier && tier->name && std::strcmp(tier->name, "neon") == 0) return find_type(k_neon, type);
    return find_type(k_generic, type);
}

size_t act_row_bytes(ActFormat act, int64_t n) {
    switch (act) {
        case ACT_F32: return (size_t)n * sizeof(float);
        case ACT_Q8_0: return (size_t)(n / 32) * sizeof(BlockQ8_0);
        case ACT_Q8_K: return (size_t)(n / 256) * sizeof(BlockQ8K);
    }
    return 0;
}

}  // namespace rl
