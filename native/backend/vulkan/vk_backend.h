// The Vulkan backend: libvulkan is loaded at run time (dlopen), so the addon loads and runs on the
// CPU where there is none. Built only where the Vulkan headers were found (RL_HAVE_VULKAN).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "../gpu.h"

namespace rl {

// Every Vulkan device here (CPU-type ones too: the caller filters). Empty with a reason in *why
// when Vulkan cannot be loaded or has no device.
void vulkan_list(std::vector<GpuInfo>* out, std::string* why);

// Opens device `index` of vulkan_list().
Status vulkan_open(int32_t index, std::shared_ptr<GpuDevice>* out);

}  // namespace rl
