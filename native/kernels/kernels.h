// Kernel tier selection (cpuid/xgetbv based) on top of the per-tier tables.
#pragma once

#include "../util/status.h"
#include "kernel_table.h"

namespace rl {

// Whether this CPU (and OS) can run the tier called `name`.
bool kernels_tier_supported(const char* name);

// The best supported tier, or the tier named by `force` (RINGLLM_KERNELS) if supported.
// An unknown or unsupported forced tier returns an error naming the tiers available.
Status kernels_select(const char* force, const KernelTable** out);

// Table for a named tier, nullptr if unknown, not compiled in, or not supported by this CPU.
const KernelTable* kernels_by_name(const char* name);

}  // namespace rl
