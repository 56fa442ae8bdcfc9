// Backend registry (listing, choosing and sharing devices) and the weight layouts of gpu.h.
#include "gpu.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "../gguf/gguf_types.h"
#include "../kernels/fp16.h"
#include "cuda/cuda_loader.h"
#include "vulkan/vk_backend.h"

namespace rl {

void gpu_list(std::vector<GpuInfo>* out, std::string* errors) {
    std::string why;
    vulkan_list(out, &why);
    *errors = out->empty() ? "vulkan: " + why : "";
    std::vector<GpuInfo> cuda;
    cuda_list(&cuda, &why);
    if (cuda.empty()) *errors += (errors->empty() ? "" : "; ") + std::string("cuda: ") + why;
    out->insert(out->end(), cuda.begin(), cuda.end());
}

namespace {

std::string lower(std::string s) {
    for (char& c : s) c = (char)std::tolower((unsigned char)c);
    return s;
}

// Index of the device `auto` / `vulkan` picks: the one named (a name substring or an index) by
// `named` or else RINGLLM_VULKAN_DEVICE, else the first discrete GPU, else the first integrated
// one; never an unnamed CPU-type device.
Status choose(const std::vector<GpuInfo>& devs, const std::string& named, int32_t* index) {
    const char* env = !named.empty() ? named.c_str() : std::getenv("RINGLLM_VULKAN_DEVICE");
    if (env && *env) {
        const std::string want = lower(env);
        char* end = nullptr;
        const long n = std::strtol(env, &end, 10);
        for (const GpuInfo& d : devs)
            if ((end && *end == 0 && n == d.index) || lower(d.name).find(want) != std::string::npos) {
                *index = d.index;
                return status_ok();
            }
        std::string names;
        for (const GpuInfo& d : devs) names += (names.empty() ? "" : ", ") + d.name;
        return status_error("GPU_UNAVAILABLE", (named.empty() ? "RINGLLM_VULKAN_DEVICE=\"" : "gpuDevice \"") +
                                                   std::string(env) + "\" names no Vulkan device (there are: " +
                                                   (names.empty() ? "none" : names) + ")");
    }
    for (const char* type : {"discrete", "integrated"})
        for (const GpuInfo& d : devs)
            if (d.type == type) {
                *index = d.index;
                return status_ok();
            }
    std::string seen;
    for (const GpuInfo& d : devs) seen += (seen.empty() ? "" : ", ") + d.name + " (" + d.type + ")";
    return status_error("GPU_UNAVAILABLE",
                        "no GPU found through Vulkan" + (seen.empty() ? std::string() : "; only " + seen) +
                            " (name a device with gpuDevice or RINGLLM_VULKAN_DEVICE to use it anyway, or gpu: false)");
}

}  // namespace

Status gpu_open(const std::string& backend, const std::string& device, std::shared_ptr<GpuDevice>* out) {
    if (backend != "auto" && backend != "vulkan" && backend != "cuda")
        return status_error("GPU_UNAVAILABLE", "unknown GPU backend \"" + backend + "\" (there are: vulkan, cuda)");
    const bool cuda = backend == "cuda";
    std::vector<GpuInfo> devs;
    std::string why;
    if (cuda)
        cuda_list(&devs, &why);
    else
        vulkan_list(&devs, &why);
    if (devs.empty()) return status_error("GPU_UNAVAILABLE", std::string(cuda ? "no CUDA device: " : "no Vulkan device: ") + why);
    int32_t index = 0;
    Status st = cuda && device.empty() ? status_ok() : choose(devs, device, &index);  // CUDA: device 0 unless named
    if (!st.ok()) return st;
    // one device object per physical device while any model uses it
    static std::mutex mutex;
    static std::vector<std::pair<int32_t, std::weak_ptr<GpuDevice>>> open;
    const int32_t key = cuda ? -1 - index : index;
    std::lock_guard<std::mutex> lock(mutex);
    for (auto& e : open)
        if (e.first == key)
            if (std::shared_ptr<GpuDevice> d = e.second.lock()) {
                *out = d;
                return status_ok();
            }
    if (!(st = cuda ? cuda_open(index, out) : vulkan_open(index, out)).ok()) return st;
    open.erase(std::remove_if(open.begin(), open.end(), [](const auto& e) { return e.second.expired(); }), open.end());
    open.emplace_back(key, *out);
    return status_ok();
}

static DevFormat device_format(uint32_t type) {
    switch (type) {
        case GGML_TYPE_F32: return DevFormat::F32;
        case GGML_TYPE_Q8_0: return DevFormat::Q8_0;
        case GGML_TYPE_Q4_0: return DevFormat::Q4_0;
        case GGML_TYPE_Q4_K: return DevFormat::Q4_K;
        case GGML_TYPE_Q5_K: return DevFormat::Q5_K;
        case GGML_TYPE_Q6_K: return DevFormat::Q6_K;
        default: return DevFormat::F16;  // F16 itself, and every other type dequantized on upload
    }
}

// (scale bytes, data bytes) of a matrix in its device format
static std::pair<size_t, size_t> device_bytes(DevFormat f, int64_t n_in, int64_t n_out) {
    const size_t rows = (size_t)n_out, nb = (size_t)(n_in / 32);
    switch (f) {
        case DevFormat::F32: return {0, rows * (size_t)n_in * 4};
        case DevFormat::F16: return {0, rows * (size_t)((n_in + 1) / 2) * 4};
        case DevFormat::Q8_0: return {rows * nb * 4, rows * nb * 32};
        case DevFormat::Q4_0: return {rows * nb * 4, rows * nb * 16};
        case DevFormat::Q4_K: return {rows * nb * 8, rows * nb * 16};
        case DevFormat::Q5_K: return {rows * nb * 8, rows * nb * 20};
        case DevFormat::Q6_K: return {rows * nb * 8, rows * nb * 32};
    }
    return {0, 0};
}

// Blocks of an f16 scale then `payload` bytes -> the scales as f32, the payloads packed (Q8_0, Q4_0).
static void split_blocks(const uint8_t* src, int64_t nb, size_t payload, float* scales, uint8_t* dst) {
    for (int64_t b = 0; b < nb; b++) {
        uint16_t d;
        std::memcpy(&d, src + b * (payload + 2), 2);
        scales[b] = fp16_to_fp32(d);
        std::memcpy(dst + b * payload, src + b * (payload + 2) + 2, payload);
    }
}

// Q4_K / Q5_K super-block (256: f16 d, dmin, 12 scale bytes[, 32 high-bit bytes], 128 nibble bytes)
// -> 8 sub-blocks of (scale, min) and 16 (20) bytes.
static void repack_k45(const uint8_t* blk, bool q5, float* scales, uint8_t* dst) {
    uint16_t hd, hm;
    std::memcpy(&hd, blk, 2);
    std::memcpy(&hm, blk + 2, 2);
    const float d = fp16_to_fp32(hd), dmin = fp16_to_fp32(hm);
    const uint8_t* sc = blk + 4;
    const uint8_t* qh = q5 ? blk + 16 : nullptr;
    const uint8_t* qs = blk + (q5 ? 48 : 16);
    for (int s = 0; s < 8; s++) {
        int scale, min;
        if (s < 4) {
            scale = sc[s] & 63;
            min = sc[s + 4] & 63;
        } else {
            scale = (sc[s + 4] & 0xf) | ((sc[s - 4] >> 6) << 4);
            min = (sc[s + 4] >> 4) | ((sc[s] >> 6) << 4);
        }
        scales[2 * s] = d * (float)scale;  // as the CPU forms them (dequantize_k45)
        scales[2 * s + 1] = dmin * (float)min;
        uint8_t q[32];
        uint32_t hbits = 0;
        for (int l = 0; l < 32; l++) {
            q[l] = (uint8_t)((qs[32 * (s >> 1) + l] >> (4 * (s & 1))) & 0xf);
            if (qh) hbits |= (uint32_t)((qh[l] >> s) & 1) << l;
        }
        uint8_t* o = dst + s * (q5 ? 20 : 16);
        for (int j = 0; j < 16; j++) o[j] = (uint8_t)(q[j] | (q[j + 16] << 4));
        if (q5) std::memcpy(o + 16, &hbits, 4);
    }
}

// Q6_K super-block (256: 128 low-nibble bytes, 64 high-bit bytes, 16 int8 scales, f16 d) -> 8
// sub-blocks of two scales and 32 int8 values.
static void repack_q6k(const uint8_t* blk, float* scales, uint8_t* dst) {
    const uint8_t* ql = blk;
    const uint8_t* qh = blk + 128;
    const int8_t* sc = (const int8_t*)(blk + 192);
    uint16_t hd;
    std::memcpy(&hd, blk + 208, 2);
    const float d = fp16_to_fp32(hd);
    for (int e = 0; e < 256; e++) {
        const int n = e >> 7, k = (e >> 5) & 3, i = e & 31;
        const int lo = (ql[64 * n + i + 32 * (k & 1)] >> (k >= 2 ? 4 : 0)) & 0xf;
        const int hi = (qh[32 * n + i] >> (2 * k)) & 3;
        dst[e] = (uint8_t)(int8_t)((lo | (hi << 4)) - 32);
    }
    for (int g = 0; g < 16; g++) scales[g] = d * (float)sc[g];  // (sub-block, half) order = group order
}

size_t dev_kv_row_bytes(DevKv type, int32_t dim) {
    return type == DevKv::Q8_0 ? (size_t)(dim / 32) * 36 : (size_t)(dim / 2) * 4;
}

size_t gpu_matrix_bytes(uint32_t type, int64_t n_in, int64_t n_out) {
    const auto b = device_bytes(device_format(type), n_in, n_out);
    return b.first + b.second;
}

void gpu_matrix_free(GpuDevice* dev, DevMatrix* m) {
    dev->free(&m->scales);
    dev->free(&m->data);
}

Status gpu_matrix_upload(GpuDevice* dev, uint32_t type, const uint8_t* data, int64_t n_in, int64_t n_out,
                         size_t row_bytes, void (*deq)(const void* row, float* out, int64_t n), DevMatrix* out) {
    *out = DevMatrix{};
    out->fmt = device_format(type);
    out->n_in = n_in;
    out->n_out = n_out;
    const bool k_quant = out->fmt == DevFormat::Q4_K || out->fmt == DevFormat::Q5_K || out->fmt == DevFormat::Q6_K;
    if ((out->fmt != DevFormat::F32 && out->fmt != DevFormat::F16 && n_in % 32 != 0) || (k_quant && n_in % 256 != 0))
        return status_error("GPU_UNSUPPORTED", "a quantized row of " + std::to_string(n_in) + " elements");
    if (out->fmt == DevFormat::F16 && type != GGML_TYPE_F16 && !deq)
        return status_error("GPU_UNSUPPORTED", std::string("weights of type ") + (ggml_type_info(type) ? ggml_type_info(type)->name : "?"));
    const auto bytes = device_bytes(out->fmt, n_in, n_out);
    if (bytes.second > dev->max_buffer_bytes() || bytes.first > dev->max_buffer_bytes() || n_out > INT32_MAX / 2)
        return status_error("GPU_UNSUPPORTED", "a matrix of " + std::to_string(bytes.second >> 20) +
                                                   " MiB is larger than the device binds at once");
    Status st = dev->alloc(bytes.second, false, &out->data);
    if (st.ok() && bytes.first) st = dev->alloc(bytes.first, false, &out->scales);
    if (!st.ok()) {
        gpu_matrix_free(dev, out);
        return st;
    }
    // converted a slab of rows at a time (a few MiB), then written
    const int64_t nb = n_in / 32;
    const size_t data_row = bytes.second / (size_t)n_out, scale_row = bytes.first / (size_t)n_out;
    const int64_t slab = std::max<int64_t>(1, (int64_t)((4u << 20) / std::max<size_t>(data_row, 1)));
    std::vector<uint8_t> dbuf, sbuf;
    std::vector<float> row((size_t)n_in);
    try {
        dbuf.resize((size_t)std::min(slab, n_out) * data_row);
        sbuf.resize((size_t)std::min(slab, n_out) * scale_row);
    } catch (const std::bad_alloc&) {
        gpu_matrix_free(dev, out);
        return status_error("OUT_OF_MEMORY", "no memory to stage a weight upload");
    }
    for (int64_t r0 = 0; r0 < n_out && st.ok(); r0 += slab) {
        const int64_t n = std::min(slab, n_out - r0);
        for (int64_t r = 0; r < n; r++) {
            const uint8_t* src = data + (size_t)(r0 + r) * row_bytes;
            uint8_t* dst = dbuf.data() + (size_t)r * data_row;
            float* scales = (float*)(sbuf.data() + (size_t)r * scale_row);
            switch (out->fmt) {
                case DevFormat::F32: std::memcpy(dst, src, (size_t)n_in * 4); break;
                case DevFormat::F16:
                    if (type == GGML_TYPE_F16) {
                        std::memcpy(dst, src, (size_t)n_in * 2);
                    } else {
                        deq(src, row.data(), n_in);
                        for (int64_t i = 0; i < n_in; i++) ((uint16_t*)dst)[i] = fp32_to_fp16(row[(size_t)i]);
                    }
                    if (n_in % 2) ((uint16_t*)dst)[n_in] = 0;
                    break;
                case DevFormat::Q8_0:  // block: f16 d, 32 x int8
                    split_blocks(src, nb, 32, scales, dst);
                    break;
                case DevFormat::Q4_0:  // block: f16 d, 16 bytes of nibbles
                    split_blocks(src, nb, 16, scales, dst);
                    break;
                case DevFormat::Q4_K:
                case DevFormat::Q5_K: {
                    const bool q5 = out->fmt == DevFormat::Q5_K;
                    for (int64_t sb = 0; sb < nb / 8; sb++)
                        repack_k45(src + sb * (q5 ? 176 : 144), q5, scales + sb * 16, dst + sb * 8 * (q5 ? 20 : 16));
                    break;
                }
                case DevFormat::Q6_K:
                    for (int64_t sb = 0; sb < nb / 8; sb++) repack_q6k(src + sb * 210, scales + sb * 16, dst + sb * 256);
                    break;
            }
        }
        st = dev->write(out->data, (size_t)r0 * data_row, dbuf.data(), (size_t)n * data_row);
        if (st.ok() && scale_row) st = dev->write(out->scales, (size_t)r0 * scale_row, sbuf.data(), (size_t)n * scale_row);
    }
    if (!st.ok()) gpu_matrix_free(dev, out);
    return st;
}

}  // namespace rl
