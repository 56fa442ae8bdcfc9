// The device interface: buffers, weight upload, and the forward pass's op list recorded into a
// stream and run in order. A backend (vulkan/, later cuda/) implements it; the CPU engine is the
// reference every op is tested against (native/backend/selftest/) and runs whatever a device does not.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "../util/status.h"

namespace rl {

struct GpuInfo {
    std::string backend;  // "vulkan", "cuda"
    std::string name;     // the driver's device name, e.g. "llvmpipe (LLVM 15.0.6, 256 bits)"
    std::string type;     // "discrete", "integrated", "virtual", "cpu", "other"
    uint64_t memory = 0;  // bytes of the largest device-local heap
    int32_t index = 0;    // position in the backend's device list
};

// A device buffer; the device owns the memory (free() it, or it goes with the device).
struct DevBuf {
    void* impl = nullptr;
    size_t bytes = 0;
};

// How a weight matrix is laid out on the device (uploaded once; see gpu_matrix_upload).
enum class DevFormat : uint8_t {
    F32,   // data: n_in floats per row
    F16,   // data: ceil(n_in / 2) words per row, two halves each
    Q8_0,  // scales: (n_out, n_in / 32) floats; data: 8 words per block, four int8 each
    Q4_0,  // scales: (n_out, n_in / 32) floats; data: 4 words per block: byte j holds elements j, j + 16
    // K-quants, repacked per sub-block of 32 on upload (the values stay quantized):
    Q4_K,  // scales: (n_out, n_in / 32, 2): d * scale, dmin * min; data: 4 words of nibbles as Q4_0
    Q5_K,  // as Q4_K, then a fifth word: bit e is element e's fifth bit
    Q6_K,  // scales: (n_out, n_in / 32, 2): d * scale of elements 0-15, 16-31; data: 8 words of int8
};

struct DevMatrix {
    DevFormat fmt = DevFormat::F32;
    int64_t n_in = 0, n_out = 0;
    DevBuf scales;  // empty for F32 / F16
    DevBuf data;
};

// A buffer and an offset into it, in elements of 4 bytes (floats or words).
struct DevPtr {
    const DevBuf* buf = nullptr;
    int64_t off = 0;
};
inline DevPtr dev_at(const DevBuf& b, int64_t off = 0) { return DevPtr{&b, off}; }

enum class DevNorm : uint8_t { Rms, Layer };
enum class DevGlu : uint8_t { Silu, GeluTanh };

enum class DevKv : uint8_t {
    F16,   // dim / 2 words per row, two halves each
    Q8_0,  // dim / 32 blocks of 9 words: the scale (rounded to f16, stored as f32), 8 words of int8
};
size_t dev_kv_row_bytes(DevKv type, int32_t dim);

// Where K/V rows live: positions below n_sinks in slots 0.., position p >= n_sinks in slot
// n_sinks + (p - n_sinks) % n_ring (full caches: no sinks, a ring as long as the context).
struct DevRing {
    int64_t n_sinks = 0;
    int64_t n_ring = 0;
    DevKv type = DevKv::F16;
};

// Attention of `rows` queries at positions pos0.. over a ring cache holding every position up to
// pos0 + rows - 1 that its slots still have. A query at q sees p <= q that are sinks (p < n_sinks,
// with the query q1: rotated at its cache position) or p > q - window (window 0: every one).
struct DevAttn {
    int32_t rows = 0;
    int64_t pos0 = 0;
    DevRing ring;
    int32_t window = 0;
    int32_t n_head = 0, n_head_kv = 0, dk = 0, dv = 0;
    float scale = 1.0f;
    float softcap = 0.0f;  // 0: off
};

// Flash-decoding: how many parts a single query's ring keys are split into (each part one
// workgroup, merged after), so a long cache keeps the device busy; 1 for prefill and short caches.
// Inline: the CUDA plugin uses it too.
constexpr int32_t kDevMaxSplits = 32;
inline int32_t dev_attn_splits(const DevAttn& a) {
    if (a.rows != 1) return 1;
    int64_t keys = (a.pos0 - a.ring.n_sinks < a.ring.n_ring - 1 ? a.pos0 - a.ring.n_sinks : a.ring.n_ring - 1) + 1;
    if (a.window > 0 && keys > a.window) keys = a.window;
    if (keys < 512) return 1;
    return (int32_t)(keys / 256 < kDevMaxSplits ? keys / 256 : kDevMaxSplits);
}

// Ops recorded into a stream run in the order recorded when run() is called; one stream is used
// by one thread at a time. Offsets and strides count 4-byte elements.
class GpuStream {
public:
    virtual ~GpuStream() = default;
    // y[t, r] = W[r] . x[t], t < m, r < n_out
    virtual void matmul(const DevMatrix& w, DevPtr x, int64_t x_stride, int32_t m, DevPtr y, int64_t y_stride) = 0;
    // y row = norm(x row) * w for `rows` rows of n (RMSNorm, or LayerNorm without bias)
    virtual void norm(DevNorm kind, DevPtr x, int64_t x_stride, DevPtr w, DevPtr y, int64_t y_stride, int32_t rows,
                      int32_t n, float eps) = 0;
    // y row += a row (a_stride 0: the same a for every row: a bias)
    virtual void add(DevPtr y, int64_t y_stride, DevPtr a, int64_t a_stride, int32_t rows, int32_t n) = 0;
    // y row = a row
    virtual void copy(DevPtr y, int64_t y_stride, DevPtr a, int64_t a_stride, int32_t rows, int32_t n) = 0;
    // rotates n_rot dims of each head of each row by cs (rows, n_rot / 2, 2): NORM or NEOX pairs
    virtual void rope(DevPtr x, int64_t x_stride, int32_t rows, int32_t n_heads, int32_t head_dim, int32_t n_rot,
                      bool neox, DevPtr cs) = 0;
    // g = act(g) * u over rows x n contiguous elements
    virtual void glu(DevGlu act, DevPtr g, DevPtr u, int32_t rows, int32_t n) = 0;
    // src row t (position pos0 + t) into its slot of the cache, in the ring's row format (dim even;
    // a multiple of 32 for Q8_0)
    virtual void kv_store(DevPtr src, int64_t src_stride, int32_t rows, int32_t dim, const DevBuf& cache,
                          const DevRing& ring, int64_t pos0) = 0;
    // out row t, head h (dv floats at h * dv) = attention of q row t, head h (q1: the queries the
    // sinks see, in q's buffer; q when there are no sinks)
    virtual void attention(const DevAttn& a, DevPtr q, DevPtr q1, int64_t q_stride, const DevBuf& k_cache,
                           const DevBuf& v_cache, DevPtr out, int64_t out_stride) = 0;
    // Submits what was recorded and waits for it. GPU_FAILED when the device reports an error.
    virtual Status run() = 0;
};

class GpuDevice {
public:
    virtual ~GpuDevice() = default;
    virtual const GpuInfo& info() const = 0;
    // Device memory (host_visible: the host may read and write it through read()/write() cheaply).
    // GPU_OUT_OF_MEMORY naming the size when the device cannot hold it.
    virtual Status alloc(size_t bytes, bool host_visible, DevBuf* out) = 0;
    virtual void free(DevBuf* buf) = 0;
    // Copies to/from a buffer; waits until done. Never while a stream has recorded work on the buffer.
    virtual Status write(const DevBuf& buf, size_t offset, const void* src, size_t bytes) = 0;
    virtual Status read(const DevBuf& buf, size_t offset, void* dst, size_t bytes) = 0;
    virtual Status create_stream(std::unique_ptr<GpuStream>* out) = 0;
    virtual int64_t allocated_bytes() const = 0;
    // Largest buffer the device binds whole (Vulkan's maxStorageBufferRange).
    virtual size_t max_buffer_bytes() const = 0;
};

// Devices of every backend compiled in (and loadable here); an empty list when there are none.
// errors: why a backend that is compiled in could not list devices (empty when all could).
void gpu_list(std::vector<GpuInfo>* out, std::string* errors);

// Opens a device: backend "auto" (a discrete or integrated Vulkan GPU, never a CPU-type device
// unless named, never CUDA), "vulkan" or "cuda" (the plugin, cuda/cuda_loader.h). `device` (else RINGLLM_VULKAN_DEVICE) names one by a part of its name or its
// index, CPU-type ones too. Devices are shared: the same one comes back while it is in use.
// GPU_UNAVAILABLE saying why when there is none.
Status gpu_open(const std::string& backend, const std::string& device, std::shared_ptr<GpuDevice>* out);

// Uploads one matrix (rows of `row_bytes` in GGUF type `type`, n_in per row) in its device format:
// F32, F16, Q8_0, Q4_0 and (repacked) Q4_K, Q5_K, Q6_K; other types the CPU can dequantize go as
// F16 (`deq` turns one row into floats). GPU_UNSUPPORTED when the matrix cannot go (a row too long for a buffer).
Status gpu_matrix_upload(GpuDevice* dev, uint32_t type, const uint8_t* data, int64_t n_in, int64_t n_out,
                         size_t row_bytes, void (*deq)(const void* row, float* out, int64_t n), DevMatrix* out);
void gpu_matrix_free(GpuDevice* dev, DevMatrix* m);
// Bytes a matrix takes on the device.
size_t gpu_matrix_bytes(uint32_t type, int64_t n_in, int64_t n_out);

}  // namespace rl
