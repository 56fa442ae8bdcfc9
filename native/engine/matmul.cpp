#include "matmul.h"

#include <algorithm>

namespace rl {

// Tokens per pass over a thread's row groups in the packed path: their activations (a few hundred
// KiB for 2K-5K wide rows) stay in L2 while the groups stream through.
static const int32_t k_token_chunk = 64;

// Work units (multiply-adds, for ThreadPool::split_for) of quantizing one activation.
static const int64_t k_quantize_cost = 16;

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

// Activation rows in the format the kernels want: the f32 rows themselves, or quantized copies in
// act (plus, for packed Q8_0 weights, block scales and sums after them).
struct PreparedAct {
    const uint8_t* a0;
    size_t a_stride;
    const float* d = nullptr;
    const int32_t* s = nullptr;
};

static PreparedAct prepare_act(ThreadPool* pool, const WeightMatrix& w, const float* x, int64_t x_stride, int32_t n_tok,
                               uint8_t* act) {
    const WeightKernels* k = w.k;
    PreparedAct p{(const uint8_t*)x, (size_t)x_stride * sizeof(float)};
    if (k->act == ACT_F32) return p;
    p.a_stride = act_row_bytes(k->act, w.n_in);
    p.a0 = act;
    const bool sums = w.packed && k->act == ACT_Q8_0;  // Q8_K blocks carry their f32 scale and sums
    const int64_t nb = w.n_in / 32;
    float* d = sums ? (float*)(act + align64(p.a_stride * (size_t)n_tok)) : nullptr;
    int32_t* s = sums ? (int32_t*)((uint8_t*)d + align64((size_t)nb * 4 * (size_t)n_tok)) : nullptr;
    // rows are independent: spread over the pool when there are several (a batched step)
    pool->parallel_for_work(n_tok, w.n_in * k_quantize_cost, [&](int64_t t0, int64_t t1, int) {
        for (int64_t t = t0; t < t1; t++) k->quantize_act(x + t * x_stride, act + t * p.a_stride, w.n_in);
        if (sums)
            generic::packed_act_sums((const BlockQ8_0*)(act + t0 * p.a_stride), p.a_stride, nb, (int)(t1 - t0),
                                     d + t0 * nb, s + t0 * nb);
    });
    p.d = d;
    p.s = s;
    return p;
}

// Packed groups [g0, g1) of w for every token, in chunks of tokens.
static void packed_groups(const WeightMatrix& w, const PreparedAct& p, int64_t g0, int64_t g1, int32_t n_tok,
                          float* y, int64_t y_stride) {
    const int64_t nb = w.n_in / (int64_t)w.k->pack_elems;
    for (int32_t t0 = 0; t0 < n_tok; t0 += k_token_chunk) {
        const int32_t nt = std::min(k_token_chunk, n_tok - t0);
        const PackedAct pa{p.a0 + (size_t)t0 * p.a_stride, p.a_stride, p.d ? p.d + t0 * nb : nullptr,
                           p.s ? p.s + t0 * nb : nullptr, nb};
        int64_t g = g0;
        if (w.k->gemm_x16 && nt >= 4)  // 16-row tiles pay off on token tiles, not on a gemv
            for (; g + 2 <= g1; g += 2)
                w.k->gemm_x16(w.packed + (size_t)g * w.packed_group_bytes, pa, nt, y + t0 * y_stride + g * kPackRows, y_stride);
        for (; g < g1; g++)
            w.k->gemm_x8(w.packed + (size_t)g * w.packed_group_bytes, pa, nt, y + t0 * y_stride + g * kPackRows, y_stride);
    }
}

void matmul(ThreadPool* pool, const WeightMatrix& w, const float* x, int64_t x_stride, int32_t n_tok, float* y,
            int64_t y_stride, uint8_t* act) {
    const PreparedAct p = prepare_act(pool, w, x, x_stride, n_tok, act);
    if (!w.packed) {
        pool->parallel_for_work(w.n_out, w.n_in * n_tok, [&](int64_t begin, int64_t end, int) {
            rows_vec_dot(w, begin, end, p.a0, p.a_stride, n_tok, y, y_stride);
        });
        return;
    }
    // Packed groups of 8 rows: each thread takes a range of groups; the tail rows after.
    pool->parallel_for_work(w.packed_rows / kPackRows, kPackRows * w.n_in * n_tok, [&](int64_t begin, int64_t end, int) {
        packed_groups(w, p, begin, end, n_tok, y, y_stride);
    });
    rows_vec_dot(w, w.packed_rows, w.n_out, p.a0, p.a_stride, n_tok, y, y_stride);
}

void matmul_many(ThreadPool* pool, const MatmulOut* outs, int n, const float* x, int64_t x_stride, int32_t n_tok,
                 uint8_t* act) {
    const WeightMatrix& w0 = *outs[0].w;
    bool shared = n > 1;
    for (int i = 0; i < n && shared; i++)
        shared = outs[i].w->packed && outs[i].w->k->act == w0.k->act && outs[i].w->n_in == w0.n_in &&
                 outs[i].w->k->pack_elems == w0.k->pack_elems;
    if (!shared) {
        for (int i = 0; i < n; i++) matmul(pool, *outs[i].w, x, x_stride, n_tok, outs[i].y, outs[i].y_stride, act);
        return;
    }
    const PreparedAct p = prepare_act(pool, w0, x, x_stride, n_tok, act);
    int64_t total = 0;
    for (int i = 0; i < n; i++) total += outs[i].w->packed_rows / kPackRows;
    // items: the matrices' groups one after another
    pool->parallel_for_work(total, kPackRows * w0.n_in * n_tok, [&](int64_t begin, int64_t end, int) {
        int64_t first = 0;
        for (int i = 0; i < n && begin < end; i++) {
            const int64_t groups = outs[i].w->packed_rows / kPackRows;
            const int64_t g0 = std::max<int64_t>(begin - first, 0), g1 = std::min<int64_t>(end - first, groups);
            if (g0 < g1) packed_groups(*outs[i].w, p, g0, g1, n_tok, outs[i].y, outs[i].y_stride);
            first += groups;
        }
    });
    for (int i = 0; i < n; i++)
        rows_vec_dot(*outs[i].w, outs[i].w->packed_rows, outs[i].w->n_out, p.a0, p.a_stride, n_tok, outs[i].y,
                     outs[i].y_stride);
}

void matrix_get_row(const WeightMatrix& w, int64_t row, float* y) {
    w.k->dequantize_row(w.data + (size_t)row * w.row_bytes, y, w.n_in);
}

}  // namespace rl
