// Finds and loads the CUDA plugin (cuda_plugin.h) on first use: RINGLLM_CUDA_PLUGIN names the file,
// else libringllm_cuda.so / ringllm_cuda.dll next to the addon (build-cmake/Release, or a
// prebuilds folder), else the file cuda_set_package_plugin named (the JS loader passes the one in
// an installed @ringllm/<platform>-<arch>-cuda package). Nothing here links against CUDA.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "../gpu.h"

namespace rl {

// The plugin file of an installed CUDA package, tried when none lies beside the addon. Only takes
// effect before the plugin's first use (it is loaded once per process).
void cuda_set_package_plugin(const std::string& path);

// CUDA devices; empty with the reason in *why when the plugin or a device is missing.
void cuda_list(std::vector<GpuInfo>* out, std::string* why);

// Opens CUDA device `index`. GPU_UNAVAILABLE saying why (no plugin, no driver, no device).
Status cuda_open(int32_t index, std::shared_ptr<GpuDevice>* out);

}  // namespace rl
