// y[t, r0 + r] = W[r0 + r] . x[t] for t < m: one workgroup per weight row and TOK tokens; each
// thread dequantizes blocks of 32 weights once and uses them for every token of its group.
// Variants (-D): FMT_F32, FMT_F16, FMT_Q8_0, FMT_Q4_0, FMT_Q4_K, FMT_Q5_K, FMT_Q6_K (layouts:
// native/backend/gpu.h DevFormat).
#version 450
layout(local_size_x = 64) in;

layout(set = 0, binding = 0) readonly buffer Scales { float scales[]; };  // (n_out, n_in / 32[, 2])
layout(set = 0, binding = 1) readonly buffer Weights { uint w[]; };       // (n_out, row words)
layout(set = 0, binding = 2) readonly buffer X { float x[]; };            // (m, x_stride)
layout(set = 0, binding = 3) writeonly buffer Y { float y[]; };           // (m, y_stride)

layout(push_constant) uniform Params {
    int n_in, n_out, m, r0;
    int x_off, x_stride, y_off, y_stride;
    int w_off, s_off;
} p;

#define TOK 8
shared float red[TOK][64];

void main() {
    const int r = p.r0 + int(gl_WorkGroupID.x);
    const int t0 = int(gl_WorkGroupID.y) * TOK;
    const int tid = int(gl_LocalInvocationID.x);
    const int nt = min(TOK, p.m - t0);
    const int nb = (p.n_in + 31) / 32;
    float acc[TOK];
    for (int t = 0; t < TOK; t++) acc[t] = 0.0;
    for (int b = tid; b < nb; b += 64) {
        float v[32];
#if defined(FMT_F32)
        for (int i = 0; i < 32; i++) {
            const int e = b * 32 + i;
            v[i] = e < p.n_in ? uintBitsToFloat(w[p.w_off + r * p.n_in + e]) : 0.0;
        }
#elif defined(FMT_F16)
        const int row_words = (p.n_in + 1) / 2;
        for (int i = 0; i < 16; i++) {
            const int e = b * 32 + 2 * i;
            const vec2 h = e < p.n_in ? unpackHalf2x16(w[p.w_off + r * row_words + e / 2]) : vec2(0.0);
            v[2 * i] = h.x;
            v[2 * i + 1] = e + 1 < p.n_in ? h.y : 0.0;
        }
#elif defined(FMT_Q8_0)
        const float d = scales[p.s_off + r * nb + b];
        const int base = p.w_off + (r * nb + b) * 8;
        for (int j = 0; j < 8; j++) {
            const int word = int(w[base + j]);
            for (int k = 0; k < 4; k++) v[4 * j + k] = d * float(bitfieldExtract(word, 8 * k, 8));
        }
#elif defined(FMT_Q4_0)
        const float d = scales[p.s_off + r * nb + b];
        const int base = p.w_off + (r * nb + b) * 4;
        for (int j = 0; j < 4; j++) {
            const uint word = w[base + j];
            for (int k = 0; k < 4; k++) {
                const uint q = (word >> (8 * k)) & 0xFFu;
                v[4 * j + k] = d * (float(q & 15u) - 8.0);
                v[4 * j + k + 16] = d * (float(q >> 4) - 8.0);
            }
        }
#elif defined(FMT_Q4_K) || defined(FMT_Q5_K)
        // sub-block: scale, min; nibbles as Q4_0 (Q5_K: a fifth word with each element's high bit)
        const float d = scales[p.s_off + (r * nb + b) * 2], dm = scales[p.s_off + (r * nb + b) * 2 + 1];
#if defined(FMT_Q4_K)
        const int base = p.w_off + (r * nb + b) * 4;
        const uint hb = 0u;
#else
        const int base = p.w_off + (r * nb + b) * 5;
        const uint hb = w[base + 4];
#endif
        for (int j = 0; j < 4; j++) {
            const uint word = w[base + j];
            for (int k = 0; k < 4; k++) {
                const int e = 4 * j + k;
                const uint q = (word >> (8 * k)) & 0xFFu;
                v[e] = d * float((q & 15u) | (((hb >> e) & 1u) << 4)) - dm;
                v[e + 16] = d * float((q >> 4) | (((hb >> (e + 16)) & 1u) << 4)) - dm;
            }
        }
#elif defined(FMT_Q6_K)
        // sub-block: a scale per 16 elements; values as int8 (-32..31)
        const float d0 = scales[p.s_off + (r * nb + b) * 2], d1 = scales[p.s_off + (r * nb + b) * 2 + 1];
        const int base = p.w_off + (r * nb + b) * 8;
        for (int j = 0; j < 8; j++) {
            const int word = int(w[base + j]);
            for (int k = 0; k < 4; k++) v[4 * j + k] = (j < 4 ? d0 : d1) * float(bitfieldExtract(word, 8 * k, 8));
        }
#else
#error "define one of FMT_F32, FMT_F16, FMT_Q8_0, FMT_Q4_0, FMT_Q4_K, FMT_Q5_K, FMT_Q6_K"
#endif
        const int n_here = min(32, p.n_in - b * 32);
        for (int t = 0; t < TOK; t++) {
            if (t >= nt) break;
            const int xb = p.x_off + (t0 + t) * p.x_stride + b * 32;
            float s = 0.0;
            for (int i = 0; i < n_here; i++) s += v[i] * x[xb + i];
            acc[t] += s;
        }
    }
    for (int t = 0; t < TOK; t++) red[t][tid] = acc[t];
    barrier();
    for (int s = 32; s > 0; s >>= 1) {
        if (tid < s)
            for (int t = 0; t < TOK; t++) red[t][tid] += red[t][tid + s];
        barrier();
    }
    if (tid < nt) y[p.y_off + (t0 + tid) * p.y_stride + r] = red[tid][0];
}
