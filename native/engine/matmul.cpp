#include "matmul.h"

namespace rl {

size_t matmul_act_bytes(const WeightMatrix& w, int32_t n_tok) {
    return w.k->act == ACT_F32 ? 0 : act_row_bytes(w.k->act, w.n_in) * (size_t)n_tok;
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
    pool->parallel_for_work(w.n_out, n_in * n_tok, [&](int64_t begin, int64_t end, int) {
        for (int64_t r = begin; r < end; r++) {
            const uint8_t* wr = w.data + (size_t)r * w.row_bytes;
            int32_t t = 0;
            if (k->vec_dot_x4) {  // prefill: each weight block unpacked once per 4 tokens
                float out[4];
                for (; t + 4 <= n_tok; t += 4) {
                    k->vec_dot_x4(n_in, wr, a0 + t * a_stride, a_stride, out);
                    for (int u = 0; u < 4; u++) y[(t + u) * y_stride + r] = out[u];
                }
            }
            for (; t < n_tok; t++) y[t * y_stride + r] = k->vec_dot(n_in, wr, a0 + t * a_stride);
        }
    });
}

void matrix_get_row(const WeightMatrix& w, int64_t row, float* y) {
    w.k->dequantize_row(w.data + (size_t)row * w.row_bytes, y, w.n_in);
}

}  // namespace rl
