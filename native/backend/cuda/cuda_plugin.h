// The CUDA backend is a separate shared library (libringllm_cuda.so, ringllm_cuda.dll) built by nvcc
// and loaded at run time (cuda_loader.cpp), so the addon never depends on the CUDA runtime. These
// are its entry points; both sides are built by the same compiler from the same gpu.h, and the
// ABI number guards against a plugin from another version.
#pragma once

#include <string>
#include <vector>

#include "../gpu.h"

#define RINGLLM_CUDA_ABI 1

#if defined(_WIN32)
#define RINGLLM_PLUGIN_EXPORT extern "C" __declspec(dllexport)
#else
#define RINGLLM_PLUGIN_EXPORT extern "C" __attribute__((visibility("default")))
#endif

// int ringllm_cuda_abi(void): RINGLLM_CUDA_ABI
typedef int (*RingllmCudaAbiFn)();
// Lists CUDA devices into *out; false with the reason in *why when the runtime or driver fails.
typedef bool (*RingllmCudaListFn)(std::vector<rl::GpuInfo>* out, std::string* why);
// Opens device `index`; the caller owns *out (delete it to release the device's memory).
typedef rl::Status (*RingllmCudaOpenFn)(int index, rl::GpuDevice** out);
