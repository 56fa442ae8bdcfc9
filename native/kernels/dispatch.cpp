#include <cstring>
#include <string>

#include "../util/cpu_features.h"
#include "kernels.h"

namespace rl {

struct TierEntry {
    const char* name;
    const KernelTable* (*table)();
};

// Best first.
static const TierEntry k_tiers[] = {
    {"avx512", kernels_avx512},
    {"avx2", kernels_avx2},
    {"neon", kernels_neon},
    {"generic", kernels_generic},
};

bool kernels_tier_supported(const char* name) {
    const CpuFeatures& f = cpu_features_get();
    if (std::strcmp(name, "generic") == 0) return true;
    if (std::strcmp(name, "avx2") == 0) return f.avx2 && f.fma && f.f16c;
    if (std::strcmp(name, "avx512") == 0)
        return f.avx512f && f.avx512bw && f.avx512vl && f.avx512dq && f.avx2 && f.fma && f.f16c;
    if (std::strcmp(name, "neon") == 0) return f.neon;
    return false;
}

const KernelTable* kernels_by_name(const char* name) {
    for (const TierEntry& t : k_tiers) {
        if (std::strcmp(t.name, name) == 0) {
            const KernelTable* table = t.table();
            return table && kernels_tier_supported(name) ? table : nullptr;
        }
    }
    return nullptr;
}

Status kernels_select(const char* force, const KernelTable** out) {
    if (force && *force) {
        const KernelTable* table = kernels_by_name(force);
        if (table) {
            *out = table;
            return status_ok();
        }
        std::string avail;
        for (const TierEntry& t : k_tiers) {
            if (t.table() && kernels_tier_supported(t.name)) {
                if (!avail.empty()) avail += ", ";
                avail += t.name;
            }
        }
        return status_error("INVALID_ARGUMENT", std::string("RINGLLM_KERNELS=") + force +
                                                    " is not a kernel tier this binary and CPU can run; "
                                                    "use one of: " + avail);
    }
    for (const TierEntry& t : k_tiers) {
        const KernelTable* table = t.table();
        if (table && kernels_tier_supported(t.name)) {
            *out = table;
            return status_ok();
        }
    }
    *out = kernels_generic();
    return status_ok();
}

}  // namespace rl
