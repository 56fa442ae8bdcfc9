// The CUDA backend: the op list of gpu.h as CUDA kernels with the same layouts and arithmetic as the
// Vulkan shaders (native/backend/vulkan/shaders/), built into its own shared library with the CUDA
// runtime linked statically. Each entry point selects the device first: libuv runs calls on any of
// its threads.
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <memory>

#include "cuda_plugin.h"

namespace rl {

namespace {

constexpr int kThreads = 64;
constexpr int kTok = 8;
constexpr int kMaxGroups = 65535;

Status cuda_status(const char* what, cudaError_t e) {
    if (e == cudaErrorMemoryAllocation)
        return status_error("GPU_OUT_OF_MEMORY", std::string(what) + ": out of device memory");
    return status_error("GPU_FAILED", std::string(what) + " failed: " + cudaGetErrorString(e));
}

__device__ inline float half_lo(uint32_t w) { return __half2float(__ushort_as_half((unsigned short)(w & 0xFFFFu))); }
__device__ inline float half_hi(uint32_t w) { return __half2float(__ushort_as_half((unsigned short)(w >> 16))); }
__device__ inline int sbyte(uint32_t w, int k) { return (int)(int8_t)((w >> (8 * k)) & 0xFFu); }

// Sums (or maxes) v over the block's 64 threads; every thread gets the result.
__device__ float block_reduce(float v, float* red, bool take_max) {
    const int tid = threadIdx.x;
    red[tid] = v;
    __syncthreads();
    for (int s = 32; s > 0; s >>= 1) {
        if (tid < s) red[tid] = take_max ? fmaxf(red[tid], red[tid + s]) : red[tid] + red[tid + s];
        __syncthreads();
    }
    const float r = red[0];
    __syncthreads();
    return r;
}

// Dequantizes block b (32 weights) of row r in device format FMT (DevFormat's order) into v.
template <int FMT>
__device__ void dequant_block(const float* scales, const uint32_t* w, int n_in, int r, int b, float* v) {
    const int nb = (n_in + 31) / 32;
    if (FMT == 0) {  // F32
        for (int i = 0; i < 32; i++) {
            const int e = b * 32 + i;
            v[i] = e < n_in ? __uint_as_float(w[(size_t)r * n_in + e]) : 0.0f;
        }
    } else if (FMT == 1) {  // F16
        const int row_words = (n_in + 1) / 2;
        for (int i = 0; i < 16; i++) {
            const int e = b * 32 + 2 * i;
            const uint32_t h = e < n_in ? w[(size_t)r * row_words + e / 2] : 0u;
            v[2 * i] = half_lo(h);
            v[2 * i + 1] = e + 1 < n_in ? half_hi(h) : 0.0f;
        }
    } else if (FMT == 2) {  // Q8_0
        const float d = scales[(size_t)r * nb + b];
        const uint32_t* q = w + ((size_t)r * nb + b) * 8;
        for (int j = 0; j < 8; j++)
            for (int k = 0; k < 4; k++) v[4 * j + k] = d * (float)sbyte(q[j], k);
    } else if (FMT == 3) {  // Q4_0
        const float d = scales[(size_t)r * nb + b];
        const uint32_t* q = w + ((size_t)r * nb + b) * 4;
        for (int j = 0; j < 4; j++)
            for (int k = 0; k < 4; k++) {
                const uint32_t x = (q[j] >> (8 * k)) & 0xFFu;
                v[4 * j + k] = d * ((float)(x & 15u) - 8.0f);
                v[4 * j + k + 16] = d * ((float)(x >> 4) - 8.0f);
            }
    } else if (FMT == 4 || FMT == 5) {  // Q4_K, Q5_K
        const float d = scales[((size_t)r * nb + b) * 2], dm = scales[((size_t)r * nb + b) * 2 + 1];
        const int words = FMT == 4 ? 4 : 5;
        const uint32_t* q = w + ((size_t)r * nb + b) * words;
        const uint32_t hb = FMT == 5 ? q[4] : 0u;
        for (int j = 0; j < 4; j++)
            for (int k = 0; k < 4; k++) {
                const int e = 4 * j + k;
                const uint32_t x = (q[j] >> (8 * k)) & 0xFFu;
                v[e] = d * (float)((x & 15u) | (((hb >> e) & 1u) << 4)) - dm;
                v[e + 16] = d * (float)((x >> 4) | (((hb >> (e + 16)) & 1u) << 4)) - dm;
            }
    } else {  // Q6_K
        const float d0 = scales[((size_t)r * nb + b) * 2], d1 = scales[((size_t)r * nb + b) * 2 + 1];
        const uint32_t* q = w + ((size_t)r * nb + b) * 8;
        for (int j = 0; j < 8; j++)
            for (int k = 0; k < 4; k++) v[4 * j + k] = (j < 4 ? d0 : d1) * (float)sbyte(q[j], k);
    }
}

// y[t, r0 + r] = W[r0 + r] . x[t]: one block per weight row and kTok tokens.
template <int FMT>
__global__ void k_matmul(const float* scales, const uint32_t* w, const float* x, float* y, int n_in, int m, int r0,
                         int x_stride, int y_stride) {
    __shared__ float red[kTok][kThreads];
    const int r = r0 + blockIdx.x, t0 = blockIdx.y * kTok, tid = threadIdx.x;
    const int nt = min(kTok, m - t0), nb = (n_in + 31) / 32;
    float acc[kTok];
    for (int t = 0; t < kTok; t++) acc[t] = 0.0f;
    for (int b = tid; b < nb; b += kThreads) {
        float v[32];
        dequant_block<FMT>(scales, w, n_in, r, b, v);
        const int n_here = min(32, n_in - b * 32);
        for (int t = 0; t < kTok; t++) {
            if (t >= nt) break;
            const float* xb = x + (size_t)(t0 + t) * x_stride + b * 32;
            float s = 0.0f;
            for (int i = 0; i < n_here; i++) s += v[i] * xb[i];
            acc[t] += s;
        }
    }
    for (int t = 0; t < kTok; t++) red[t][tid] = acc[t];
    __syncthreads();
    for (int s = 32; s > 0; s >>= 1) {
        if (tid < s)
            for (int t = 0; t < kTok; t++) red[t][tid] += red[t][tid + s];
        __syncthreads();
    }
    if (tid < nt) y[(size_t)(t0 + tid) * y_stride + r] = red[tid][0];
}

__global__ void k_norm(const float* x, const float* w, float* y, int n, int x_stride, int y_stride, int layer, float eps) {
    __shared__ float red[kThreads];
    const int tid = threadIdx.x;
    const float* xr = x + (size_t)blockIdx.x * x_stride;
    float* yr = y + (size_t)blockIdx.x * y_stride;
    float mean = 0.0f;
    if (layer) {
        float s = 0.0f;
        for (int i = tid; i < n; i += kThreads) s += xr[i];
        mean = block_reduce(s, red, false) / (float)n;
    }
    float s2 = 0.0f;
    for (int i = tid; i < n; i += kThreads) {
        const float d = xr[i] - mean;
        s2 += d * d;
    }
    const float scale = 1.0f / sqrtf(block_reduce(s2, red, false) / (float)n + eps);
    for (int i = tid; i < n; i += kThreads) yr[i] = (xr[i] - mean) * scale * w[i];
}

__global__ void k_add(float* y, const float* a, int n, int y_stride, int a_stride, int copy) {
    const int i = blockIdx.x * kThreads + threadIdx.x, t = blockIdx.y;
    if (i >= n) return;
    const float v = a[(size_t)t * a_stride + i];
    float* at = y + (size_t)t * y_stride + i;
    *at = copy ? v : *at + v;
}

__global__ void k_glu(float* g, const float* u, int n, int gelu) {
    const int i = blockIdx.x * kThreads + threadIdx.x;
    if (i >= n) return;
    const size_t e = (size_t)blockIdx.y * n + i;
    const float v = g[e];
    const float r = gelu ? 0.5f * v * (1.0f + tanhf(0.7978845608028654f * v * (1.0f + 0.044715f * v * v)))
                         : v / (1.0f + expf(-v));
    g[e] = r * u[e];
}

__global__ void k_rope(float* x, const float* cs, int x_stride, int n_heads, int head_dim, int n_rot, int neox) {
    const int half_rot = n_rot / 2;
    const int i = blockIdx.x * kThreads + threadIdx.x, t = blockIdx.y;
    if (i >= n_heads * half_rot) return;
    const int h = i / half_rot, j = i % half_rot;
    float* base = x + (size_t)t * x_stride + h * head_dim;
    float* a = base + (neox ? j : 2 * j);
    float* b = base + (neox ? j + half_rot : 2 * j + 1);
    const float c = cs[(size_t)t * n_rot + 2 * j], s = cs[(size_t)t * n_rot + 2 * j + 1];
    const float x0 = *a, x1 = *b;
    *a = x0 * c - x1 * s;
    *b = x0 * s + x1 * c;
}

__global__ void k_kv_store(const float* src, uint32_t* cache, int src_stride, int dim, int n_ring, int ring0, int sink_rows,
                           int pos0, int n_sinks, int q8) {
    const int i = blockIdx.x * kThreads + threadIdx.x, t = blockIdx.y;
    const int slot = t < sink_rows ? pos0 + t : n_sinks + (ring0 + t - sink_rows) % n_ring;
    const float* s = src + (size_t)t * src_stride;
    if (!q8) {
        if (i >= dim / 2) return;
        const uint32_t lo = __half_as_ushort(__float2half_rn(s[2 * i])), hi = __half_as_ushort(__float2half_rn(s[2 * i + 1]));
        cache[(size_t)slot * (dim / 2) + i] = lo | (hi << 16);
        return;
    }
    if (i >= dim / 32) return;
    const float* xb = s + 32 * i;
    float amax = 0.0f;
    for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(xb[j]));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    uint32_t* ob = cache + (size_t)slot * (dim / 32) * 9 + 9 * i;
    ob[0] = __float_as_uint(__half2float(__float2half_rn(d)));
    for (int w = 0; w < 8; w++) {
        uint32_t word = 0;
        for (int k = 0; k < 4; k++) {
            const int q = (int)roundf(fminf(fmaxf(xb[4 * w + k] * id, -127.0f), 127.0f));
            word |= ((uint32_t)q & 0xFFu) << (8 * k);
        }
        ob[1 + w] = word;
    }
}

struct AttnArgs {
    int q_stride, o_stride, rows, p_newest, p_mod, n_ring, n_sinks, window, group, dk, dv, n_head_kv, q8;
    float scale, softcap;
    int splits, n_head;  // flash-decoding: blockIdx.z takes a part of the ring's keys, o gets partials
};

__device__ float key_dot(const uint32_t* kc, const float* qs, int slot, int kh, const AttnArgs& p) {
    float s = 0.0f;
    if (!p.q8) {
        const uint32_t* k = kc + (size_t)slot * (p.n_head_kv * p.dk / 2) + kh * p.dk / 2;
        for (int i = 0; i < p.dk / 2; i++) s += qs[2 * i] * half_lo(k[i]) + qs[2 * i + 1] * half_hi(k[i]);
        return s;
    }
    const uint32_t* k = kc + (size_t)slot * (p.n_head_kv * p.dk / 32) * 9 + kh * (p.dk / 32) * 9;
    for (int b = 0; b < p.dk / 32; b++) {
        float sb = 0.0f;
        for (int w = 0; w < 8; w++)
            for (int j = 0; j < 4; j++) sb += qs[32 * b + 4 * w + j] * (float)sbyte(k[9 * b + 1 + w], j);
        s += __uint_as_float(k[9 * b]) * sb;
    }
    return s;
}

__device__ float value_at(const uint32_t* vc, int slot, int kh, int e, const AttnArgs& p) {
    if (!p.q8) {
        const uint32_t w = vc[(size_t)slot * (p.n_head_kv * p.dv / 2) + kh * p.dv / 2 + e / 2];
        return (e & 1) ? half_hi(w) : half_lo(w);
    }
    const uint32_t* vb = vc + (size_t)slot * (p.n_head_kv * p.dv / 32) * 9 + kh * (p.dv / 32) * 9 + 9 * (e / 32);
    return __uint_as_float(vb[0]) * (float)sbyte(vb[1 + (e % 32) / 4], e % 4);
}

// One query row and head per block; sinks (query q1) then the ring by distance from the newest
// position, with a running max and sum (attention.comp has the derivation).
__global__ void k_attention(const float* q, const float* q1, const uint32_t* kc, const uint32_t* vc, float* o, AttnArgs p) {
    __shared__ float qs[256];
    __shared__ float red[kThreads];
    __shared__ float probs[kThreads];
    const int h = blockIdx.x, t = blockIdx.y, tid = threadIdx.x, kh = h / p.group;
    const int d_lo = p.rows - 1 - t, qpos = p.p_newest - d_lo;
    int d_hi = min(p.p_newest - p.n_sinks, p.n_ring - 1);
    if (p.window > 0) d_hi = min(d_hi, d_lo + p.window - 1);
    float m_run = -INFINITY, l_run = 0.0f, acc[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    const int z = blockIdx.z;
    for (int phase = 0; phase < 2; phase++) {
        int n = phase == 0 ? min(p.n_sinks, qpos + 1) : d_hi - d_lo + 1;
        int first = 0;
        if (p.splits > 1) {
            if (phase == 0) {
                if (z != 0) n = 0;
            } else {
                const int per = ((n + p.splits - 1) / p.splits + kThreads - 1) / kThreads * kThreads;
                first = min(n, z * per);
                n = min(n, first + per);
            }
        }
        if (n - first <= 0) continue;
        const float* qr = (phase == 0 ? q1 : q) + (size_t)t * p.q_stride + h * p.dk;
        for (int i = tid; i < p.dk; i += kThreads) qs[i] = qr[i];
        __syncthreads();
        for (int c = first; c < n; c += kThreads) {
            const int i = c + tid;
            float score = -INFINITY;
            if (i < n) {
                const int slot = phase == 0 ? i : p.n_sinks + ((p.p_mod - (d_lo + i)) % p.n_ring + p.n_ring) % p.n_ring;
                float s = key_dot(kc, qs, slot, kh, p) * p.scale;
                if (p.softcap > 0.0f) s = p.softcap * tanhf(s / p.softcap);
                score = s;
            }
            const float m_new = fmaxf(m_run, block_reduce(score, red, true));
            const float pr = i < n ? expf(score - m_new) : 0.0f;
            probs[tid] = pr;
            const float corr = expf(m_run - m_new);
            l_run = l_run * corr + block_reduce(pr, red, false);
            m_run = m_new;
            const int n_here = min(kThreads, n - c);
            for (int k = 0; k < 4; k++) {
                const int e = tid + kThreads * k;
                if (e >= p.dv) break;
                float a = acc[k] * corr;
                for (int j = 0; j < n_here; j++) {
                    const int slot = phase == 0 ? c + j : p.n_sinks + ((p.p_mod - (d_lo + c + j)) % p.n_ring + p.n_ring) % p.n_ring;
                    a += probs[j] * value_at(vc, slot, kh, e, p);
                }
                acc[k] = a;
            }
            __syncthreads();
        }
    }
    if (p.splits > 1) {
        float* pb = o + ((size_t)(t * p.n_head + h) * p.splits + z) * (p.dv + 2);
        if (tid == 0) {
            pb[0] = m_run;
            pb[1] = l_run;
        }
        for (int k = 0; k < 4; k++) {
            const int e = tid + kThreads * k;
            if (e < p.dv) pb[2 + e] = acc[k];
        }
        return;
    }
    for (int k = 0; k < 4; k++) {
        const int e = tid + kThreads * k;
        if (e >= p.dv) break;
        o[(size_t)t * p.o_stride + h * p.dv + e] = l_run > 0.0f ? acc[k] / l_run : 0.0f;
    }
}

// Combines the partials of k_attention's splits (attn_merge.comp).
__global__ void k_attn_merge(const float* part, float* o, int o_stride, int splits, int dv, int n_head) {
    const int h = blockIdx.x, t = blockIdx.y;
    const float* base = part + (size_t)(t * n_head + h) * splits * (dv + 2);
    float M = -INFINITY, L = 0.0f;
    for (int z = 0; z < splits; z++) M = fmaxf(M, base[z * (dv + 2)]);
    for (int z = 0; z < splits; z++)
        if (base[z * (dv + 2)] > -INFINITY) L += base[z * (dv + 2) + 1] * expf(base[z * (dv + 2)] - M);
    for (int e = threadIdx.x; e < dv; e += kThreads) {
        float a = 0.0f;
        for (int z = 0; z < splits; z++)
            if (base[z * (dv + 2)] > -INFINITY) a += base[z * (dv + 2) + 2 + e] * expf(base[z * (dv + 2)] - M);
        o[(size_t)t * o_stride + h * dv + e] = L > 0.0f ? a / L : 0.0f;
    }
}

inline float* fptr(DevPtr p) { return (float*)p.buf->impl + p.off; }
inline const uint32_t* wptr(const DevBuf& b) { return (const uint32_t*)b.impl; }

class CudaDevice;

class CudaStream final : public GpuStream {
public:
    CudaStream(int device, cudaStream_t s) : device_(device), s_(s) {}
    ~CudaStream() override {
        cudaSetDevice(device_);
        cudaStreamSynchronize(s_);
        cudaFree(parts_);
        cudaStreamDestroy(s_);
    }
    void matmul(const DevMatrix& w, DevPtr x, int64_t x_stride, int32_t m, DevPtr y, int64_t y_stride) override {
        using Fn = void (*)(const float*, const uint32_t*, const float*, float*, int, int, int, int, int);
        static const Fn fns[] = {k_matmul<0>, k_matmul<1>, k_matmul<2>, k_matmul<3>, k_matmul<4>, k_matmul<5>, k_matmul<6>};
        cudaSetDevice(device_);
        for (int64_t r0 = 0; r0 < w.n_out; r0 += kMaxGroups) {
            dim3 grid((unsigned)std::min<int64_t>(kMaxGroups, w.n_out - r0), (unsigned)((m + kTok - 1) / kTok));
            fns[(int)w.fmt]<<<grid, kThreads, 0, s_>>>((const float*)w.scales.impl, wptr(w.data), fptr(x), fptr(y), (int)w.n_in, m,
                                                       (int)r0, (int)x_stride, (int)y_stride);
        }
        check("matmul");
    }
    void norm(DevNorm kind, DevPtr x, int64_t x_stride, DevPtr w, DevPtr y, int64_t y_stride, int32_t rows, int32_t n,
              float eps) override {
        cudaSetDevice(device_);
        for (int32_t r0 = 0; r0 < rows; r0 += kMaxGroups)
            k_norm<<<std::min(kMaxGroups, rows - r0), kThreads, 0, s_>>>(fptr(x) + (size_t)r0 * x_stride, fptr(w),
                                                                         fptr(y) + (size_t)r0 * y_stride, n, (int)x_stride,
                                                                         (int)y_stride, kind == DevNorm::Layer, eps);
        check("norm");
    }
    void add(DevPtr y, int64_t y_stride, DevPtr a, int64_t a_stride, int32_t rows, int32_t n) override {
        add_or_copy(y, y_stride, a, a_stride, rows, n, 0);
    }
    void copy(DevPtr y, int64_t y_stride, DevPtr a, int64_t a_stride, int32_t rows, int32_t n) override {
        add_or_copy(y, y_stride, a, a_stride, rows, n, 1);
    }
    void rope(DevPtr x, int64_t x_stride, int32_t rows, int32_t n_heads, int32_t head_dim, int32_t n_rot, bool neox,
              DevPtr cs) override {
        cudaSetDevice(device_);
        dim3 grid((unsigned)((n_heads * (n_rot / 2) + kThreads - 1) / kThreads), (unsigned)rows);
        k_rope<<<grid, kThreads, 0, s_>>>(fptr(x), fptr(cs), (int)x_stride, n_heads, head_dim, n_rot, neox ? 1 : 0);
        check("rope");
    }
    void glu(DevGlu act, DevPtr g, DevPtr u, int32_t rows, int32_t n) override {
        cudaSetDevice(device_);
        dim3 grid((unsigned)((n + kThreads - 1) / kThreads), (unsigned)rows);
        k_glu<<<grid, kThreads, 0, s_>>>(fptr(g), fptr(u), n, act == DevGlu::GeluTanh ? 1 : 0);
        check("glu");
    }
    void kv_store(DevPtr src, int64_t src_stride, int32_t rows, int32_t dim, const DevBuf& cache, const DevRing& ring,
                  int64_t pos0) override {
        cudaSetDevice(device_);
        const int64_t S = ring.n_sinks;
        const int sink_rows = pos0 < S ? (int)std::min<int64_t>(rows, S - pos0) : 0;
        const bool q8 = ring.type == DevKv::Q8_0;
        const int units = q8 ? dim / 32 : dim / 2;
        dim3 grid((unsigned)((units + kThreads - 1) / kThreads), (unsigned)rows);
        k_kv_store<<<grid, kThreads, 0, s_>>>(fptr(src), (uint32_t*)cache.impl, (int)src_stride, dim, (int)ring.n_ring,
                                              (int)((std::max(pos0, S) - S) % ring.n_ring), sink_rows, (int)(pos0 < S ? pos0 : 0),
                                              (int)S, q8 ? 1 : 0);
        check("kv_store");
    }
    void attention(const DevAttn& at, DevPtr q, DevPtr q1, int64_t q_stride, const DevBuf& k_cache, const DevBuf& v_cache,
                   DevPtr out, int64_t out_stride) override {
        cudaSetDevice(device_);
        const int64_t newest = at.pos0 + at.rows - 1, S = at.ring.n_sinks;
        AttnArgs p{(int)q_stride,
                   (int)out_stride,
                   at.rows,
                   (int)std::min<int64_t>(newest, 1 << 30),
                   (int)(newest >= S ? (newest - S) % at.ring.n_ring : 0),
                   (int)at.ring.n_ring,
                   (int)S,
                   at.window,
                   at.n_head / at.n_head_kv,
                   at.dk,
                   at.dv,
                   at.n_head_kv,
                   at.ring.type == DevKv::Q8_0 ? 1 : 0,
                   at.scale,
                   at.softcap,
                   dev_attn_splits(at),
                   at.n_head};
        float* dst = fptr(out);
        if (p.splits > 1) {
            const size_t need = (size_t)at.rows * at.n_head * p.splits * (at.dv + 2) * sizeof(float);
            if (parts_bytes_ < need) {
                cudaFree(parts_);
                parts_ = nullptr;
                parts_bytes_ = 0;
                if (cudaMalloc(&parts_, need) != cudaSuccess) {
                    cudaGetLastError();
                    if (failed_.ok()) failed_ = status_error("GPU_OUT_OF_MEMORY", "no device memory for attention partials");
                    return;
                }
                parts_bytes_ = need;
            }
            dst = (float*)parts_;
        }
        dim3 grid((unsigned)at.n_head, (unsigned)at.rows, (unsigned)p.splits);
        k_attention<<<grid, kThreads, 0, s_>>>(fptr(q), fptr(q1), (const uint32_t*)k_cache.impl, (const uint32_t*)v_cache.impl,
                                               dst, p);
        if (p.splits > 1)
            k_attn_merge<<<dim3((unsigned)at.n_head, (unsigned)at.rows), kThreads, 0, s_>>>(
                (const float*)parts_, fptr(out), (int)out_stride, p.splits, at.dv, at.n_head);
        check("attention");
    }
    Status run() override {
        cudaSetDevice(device_);
        Status st = failed_;
        failed_ = status_ok();
        const cudaError_t e = cudaStreamSynchronize(s_);
        if (st.ok() && e != cudaSuccess) st = cuda_status("a device step", e);
        return st;
    }

private:
    void add_or_copy(DevPtr y, int64_t y_stride, DevPtr a, int64_t a_stride, int32_t rows, int32_t n, int copy) {
        cudaSetDevice(device_);
        dim3 grid((unsigned)((n + kThreads - 1) / kThreads), (unsigned)rows);
        k_add<<<grid, kThreads, 0, s_>>>(fptr(y), fptr(a), n, (int)y_stride, (int)a_stride, copy);
        check(copy ? "copy" : "add");
    }
    void check(const char* what) {
        const cudaError_t e = cudaGetLastError();
        if (e != cudaSuccess && failed_.ok()) failed_ = cuda_status(what, e);
    }
    int device_;
    cudaStream_t s_;
    Status failed_;
    void* parts_ = nullptr;  // flash-decoding partials, grown on first need (after a sync: run() precedes growth)
    size_t parts_bytes_ = 0;
};

class CudaDevice final : public GpuDevice {
public:
    CudaDevice(int device, GpuInfo info) : device_(device), info_(std::move(info)) {}
    const GpuInfo& info() const override { return info_; }
    Status alloc(size_t bytes, bool host_visible, DevBuf* out) override {
        (void)host_visible;  // reads and writes are copies either way
        *out = DevBuf{};
        cudaSetDevice(device_);
        void* p = nullptr;
        const cudaError_t e = cudaMalloc(&p, std::max<size_t>(bytes, 16));
        if (e != cudaSuccess) {
            cudaGetLastError();
            if (e == cudaErrorMemoryAllocation)
                return status_error("GPU_OUT_OF_MEMORY", info_.name + " could not allocate " + std::to_string(bytes >> 20) +
                                                             " MiB (" + std::to_string(allocated_.load() >> 20) +
                                                             " MiB already in use); offload fewer layers (gpuLayers)");
            return cuda_status("cudaMalloc", e);
        }
        out->impl = p;
        out->bytes = bytes;
        allocated_ += (int64_t)bytes;
        return status_ok();
    }
    void free(DevBuf* buf) override {
        if (!buf->impl) return;
        cudaSetDevice(device_);
        cudaFree(buf->impl);
        allocated_ -= (int64_t)buf->bytes;
        *buf = DevBuf{};
    }
    Status write(const DevBuf& buf, size_t offset, const void* src, size_t bytes) override {
        if (!buf.impl || offset + bytes > buf.bytes) return status_error("INVALID_ARGUMENT", "device write outside the buffer");
        cudaSetDevice(device_);
        const cudaError_t e = cudaMemcpy((uint8_t*)buf.impl + offset, src, bytes, cudaMemcpyHostToDevice);
        return e == cudaSuccess ? status_ok() : cuda_status("cudaMemcpy to the device", e);
    }
    Status read(const DevBuf& buf, size_t offset, void* dst, size_t bytes) override {
        if (!buf.impl || offset + bytes > buf.bytes) return status_error("INVALID_ARGUMENT", "device read outside the buffer");
        cudaSetDevice(device_);
        const cudaError_t e = cudaMemcpy(dst, (const uint8_t*)buf.impl + offset, bytes, cudaMemcpyDeviceToHost);
        return e == cudaSuccess ? status_ok() : cuda_status("cudaMemcpy from the device", e);
    }
    Status create_stream(std::unique_ptr<GpuStream>* out) override {
        cudaSetDevice(device_);
        cudaStream_t s;
        const cudaError_t e = cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking);
        if (e != cudaSuccess) return cuda_status("cudaStreamCreate", e);
        out->reset(new CudaStream(device_, s));
        return status_ok();
    }
    int64_t allocated_bytes() const override { return allocated_.load(); }
    size_t max_buffer_bytes() const override { return (size_t)1 << 40; }

private:
    int device_;
    GpuInfo info_;
    std::atomic<int64_t> allocated_{0};
};

GpuInfo describe(int index, const cudaDeviceProp& prop) {
    GpuInfo info;
    info.backend = "cuda";
    info.name = prop.name;
    info.type = prop.integrated ? "integrated" : "discrete";
    info.memory = prop.totalGlobalMem;
    info.index = index;
    return info;
}

}  // namespace

}  // namespace rl

RINGLLM_PLUGIN_EXPORT int ringllm_cuda_abi() { return RINGLLM_CUDA_ABI; }

RINGLLM_PLUGIN_EXPORT bool ringllm_cuda_list(std::vector<rl::GpuInfo>* out, std::string* why) {
    out->clear();
    int n = 0;
    const cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
        *why = std::string("the CUDA runtime found no usable device: ") + cudaGetErrorString(e);
        return false;
    }
    for (int i = 0; i < n; i++) {
        cudaDeviceProp prop;
        if (cudaGetDeviceProperties(&prop, i) == cudaSuccess) out->push_back(rl::describe(i, prop));
    }
    return true;
}

RINGLLM_PLUGIN_EXPORT rl::Status ringllm_cuda_open(int index, rl::GpuDevice** out) {
    *out = nullptr;
    cudaDeviceProp prop;
    cudaError_t e = cudaGetDeviceProperties(&prop, index);
    if (e != cudaSuccess) return rl::cuda_status("cudaGetDeviceProperties", e);
    if ((e = cudaSetDevice(index)) != cudaSuccess) return rl::cuda_status("cudaSetDevice", e);
    // a tiny kernel-free check that the device takes work (a driver too old for this runtime fails here)
    void* probe = nullptr;
    if ((e = cudaMalloc(&probe, 16)) != cudaSuccess) return rl::cuda_status("a first allocation on the device", e);
    cudaFree(probe);
    *out = new rl::CudaDevice(index, rl::describe(index, prop));
    return rl::status_ok();
}
