#include "weight_types.h"

#include <cstring>

#include "../gguf/gguf_types.h"
#include "../kernels/quants.h"

namespace rl {

// One row per computable type; the same table is instantiated for each namespace of kernels.
#define RL_WEIGHT_TABLE(ns)                                                                                \
    {GGML_TYPE_F32, ACT_F32, 1, nullptr, ns::vec_dot_f32_f32, ns::dequantize_row_f32, nullptr},                     \
    {GGML_TYPE_F16, ACT_F32, 1, nullptr, ns::vec_dot_f16_f32, ns::dequantize_row_f16, nullptr},                     \
    {GGML_TYPE_BF16, ACT_F32, 1, nullptr, ns::vec_dot_bf16_f32, ns::dequantize_row_bf16, nullptr},                  \
    {GGML_TYPE_Q8_0, ACT_Q8_0, 32, ns::quantize_row_q8_0, ns::vec_dot_q8_0_q8_0, ns::dequantize_row_q8_0,            \
     ns::vec_dot_q8_0_q8_0_x4}, \
    {GGML_TYPE_Q4_0, ACT_Q8_0, 32, ns::quantize_row_q8_0, ns::vec_dot_q4_0_q8_0, ns::dequantize_row_q4_0,            \
     ns::vec_dot_q4_0_q8_0_x4}, \
    {GGML_TYPE_Q4_1, ACT_Q8_0, 32, ns::quantize_row_q8_0, ns::vec_dot_q4_1_q8_0, ns::dequantize_row_q4_1, nullptr}, \
    {GGML_TYPE_Q5_0, ACT_Q8_0, 32, ns::quantize_row_q8_0, ns::vec_dot_q5_0_q8_0, ns::dequantize_row_q5_0, nullptr}, \
    {GGML_TYPE_Q5_1, ACT_Q8_0, 32, ns::quantize_row_q8_0, ns::vec_dot_q5_1_q8_0, ns::dequantize_row_q5_1, nullptr}, \
    {GGML_TYPE_IQ4_NL, ACT_Q8_0, 32, ns::quantize_row_q8_0, ns::vec_dot_iq4_nl_q8_0,                      \
     ns::dequantize_row_iq4_nl, nullptr},                                                                           \
    {GGML_TYPE_Q2_K, ACT_Q8_K, 256, ns::quantize_row_q8_K, ns::vec_dot_q2_K_q8_K, ns::dequantize_row_q2_K, nullptr}, \
    {GGML_TYPE_Q3_K, ACT_Q8_K, 256, ns::quantize_row_q8_K, ns::vec_dot_q3_K_q8_K, ns::dequantize_row_q3_K, nullptr}, \
    {GGML_TYPE_Q4_K, ACT_Q8_K, 256, ns::quantize_row_q8_K, ns::vec_dot_q4_K_q8_K, ns::dequantize_row_q4_K, nullptr}, \
    {GGML_TYPE_Q5_K, ACT_Q8_K, 256, ns::quantize_row_q8_K, ns::vec_dot_q5_K_q8_K, ns::dequantize_row_q5_K, nullptr}, \
    {GGML_TYPE_Q6_K, ACT_Q8_K, 256, ns::quantize_row_q8_K, ns::vec_dot_q6_K_q8_K, ns::dequantize_row_q6_K, nullptr}, \
    {GGML_TYPE_IQ4_XS, ACT_Q8_K, 256, ns::quantize_row_q8_K, ns::vec_dot_iq4_xs_q8_K,                     \
     ns::dequantize_row_iq4_xs, nullptr},

static const WeightKernels k_generic[] = {RL_WEIGHT_TABLE(generic)};
static const WeightKernels k_avx2[] = {RL_WEIGHT_TABLE(avx2)};

#undef RL_WEIGHT_TABLE

template <size_t N>
static const WeightKernels* find_type(const WeightKernels (&table)[N], uint32_t type) {
    for (const WeightKernels& k : table)
        if (k.type == type) return &k;
    return nullptr;
}

const WeightKernels* weight_kernels(uint32_t type, const KernelTable* tier) {
    // avx512 reuses the avx2 kernels until it has its own.
    if (tier && tier->name && (std::strcmp(tier->name, "avx2") == 0 || std::strcmp(tier->name, "avx512") == 0))
        return find_type(k_avx2, type);
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
