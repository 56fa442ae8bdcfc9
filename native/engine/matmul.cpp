#include "matmul.h"

#include <algorithm>

namespace rl {

// Tokens per pass over a thread's row groups in the packed path: their activations (a few hundred
// KiB for 2K-5K wide rows) stay in L2 while the groups stream through.
static const int32_t k_token_chunk = 64;

static size_t align64(size_t n) { return (n + 63) & ~(size_t)63; }

size_t matmul_act_bytes(const WeightMatrix& w, int32_t n_tok) {
    if (w.k->act == ACT_F32) return 0;
    size_t bytes = align64(act_row_bytes(w.k->act, w.n_in) * (size_t)n_tok);
    if (w.packed && w.k->act == ACT_Q8_0) bytes += 2 * align64((size_t)(w.n_in / 32) * 4 * (size_t)n_tok);  // d, s
    return bytes;
}

// Rows [r0, r1) one dot per token (the row kernels; 4 tokens at a time where the type has it).
static void rows_vec_dot(const WeightMatrix& w, int64_t r0, int64_t r1, const uint8_t* a0, size_t a_stride,
                         int32_t n_tok, float* y, int64_t y_stride) {
    const WeightKernels* k = w.k;
    for (int64_t r = r0; r < r1; r++) {
        const uint8_t* wr = w.data + (size_t)r * w.row_bytes;
        int32_t t = 0;
        if (k->vec_dot_x4) {  // prefill: each weight block unpacked once per 4 tokens
            float out[4];
            for (; t + 4 <= n_tok; t += 4) {
                k->vec_dot_x4(w.n_in, wr, a0 + t * a_stride, a_stride, out);
                for (int u = 0; u < 4; u++) y[(t + u) * y_stride + r] = out[u];
            }
        }
        for (; t < n_tok; t++) y[t * y_stride + r] = k->vec_dot(w.n_in, wr, a0 + t * a_stride);
    }
}

void matmul(ThreadPool* pool, const WeightMatrix& w, const float* x, int64_t x_stride, int32_t n_tok, float* y,
            int64_t y_stride, uint8_t* act) {
    const WeightKernels* k = w.k;
    const int64_t n_in = w.n_in;
    // Activation rows in the format vec_dot wants: the f32 rows themselves, or quantized copies.
    const uint8_t* a0 = (const uint8_t*)x;
    size_t a_stride = (size_t)x_stride * sizeof(float);
    if (k->act != ACT_F32) {
        a_stride = act_row_bytes(k->act, n_in);
        for (int32_t t = 0; t < n_tok; t++) k->quantize_act(x + t * x_stride, act + t * a_stride, n_in);
        a0 = act;
    }
    if (!w.packed) {
        pool->parallel_for_work(w.n_out, n_in * n_tok, [&](int64_t begin, int64_t end, int) {
            rows_vec_dot(w, begin, end, a0, a_stride, n_tok, y, y_stride);
        });
        return;
    }
    // Packed groups of 8 rows: block scales and sums of the activations once, then each thread takes
    // a range of groups, tokens in chunks.
    const int64_t nb = n_in / (int64_t)k->pack_elems;
    float* d = nullptr;  // Q8_K blocks carry their f32 scale and sums
    int32_t* s = nullptr;
    if (k->act == ACT_Q8_0) {
        d = (float*)(act + align64(a_stride * (size_t)n_tok));
        s = (int32_t*)((uint8_t*)d + align64((size_t)nb * 4 * (size_t)n_tok));
        generic::packed_act_sums((const BlockQ8_0*)a0, a_stride, nb, n_tok, d, s);
    }
    const int64_t groups = w.packed_rows / kPackRows;
    pool->parallel_for_work(groups, kPackRows * n_in * n_tok, [&](int64_t begin, int64_t end, int) {
        for (int32_t t0 = 0; t0 < n_tok; t0 += k_token_chunk) {
            const int32_t nt = std::min(k_token_chunk, n_tok - t0);
            const PackedAct pa{a0 + (size_t)t0 * a_stride, a_stride, d ? d + t0 * nb : nullptr, s ? s + t0 * nb : nullptr, nb};
            for (int64_t g = begin; g < end; g++)
                k->gemm_x8(w.packed + (size_t)g * w.packed_group_bytes, pa, nt, y + t0 * y_stride + g * kPackRows,
                           y_stride);
        }
    });
    rows_vec_dot(w, w.packed_rows, w.n_out, a0, a_stride, n_tok, y, y_stride);
}

void matrix_get_row(const WeightMatrix& w, int64_t row, float* y) {
    w.k->dequantize_row(w.data + (size_t)row * w.row_bytes, y, w.n_in);
}

}  // namespace rl
