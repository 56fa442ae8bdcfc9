#include "repack.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <thread>
#include <unordered_map>
#include <vector>

#if defined(__linux__) || defined(__APPLE__)
#include <sys/mman.h>
#include <unistd.h>
#define RL_HAVE_MMAP 1
#endif

#include "model.h"

namespace rl {

// One anonymous mapping per packed matrix (huge pages where the kernel allows them: a decode step
// streams every weight once, and 2 MiB pages spare the TLB).
class PackedBuffer {
public:
    explicit PackedBuffer(size_t bytes) : bytes_(bytes) {
#ifdef RL_HAVE_MMAP
        void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) return;
#ifdef MADV_HUGEPAGE
        madvise(p, bytes, MADV_HUGEPAGE);
#endif
        data_ = (uint8_t*)p;
#else
        data_ = (uint8_t*)::operator new(bytes, std::align_val_t(64), std::nothrow);
#endif
    }
    ~PackedBuffer() {
        if (!data_) return;
#ifdef RL_HAVE_MMAP
        munmap(data_, bytes_);
#else
        ::operator delete(data_, std::align_val_t(64));
#endif
    }
    PackedBuffer(const PackedBuffer&) = delete;
    PackedBuffer& operator=(const PackedBuffer&) = delete;
    uint8_t* data() const { return data_; }
    size_t bytes() const { return bytes_; }

private:
    uint8_t* data_ = nullptr;
    size_t bytes_;
};

struct PackedWeights {
    std::mutex mutex;
    std::unordered_map<const uint8_t*, std::unique_ptr<PackedBuffer>> by_source;  // keyed by first row
};

std::shared_ptr<PackedWeights> packed_weights_create() { return std::make_shared<PackedWeights>(); }

// The mapped file's pages of a packed range are not read again (except by an embedding lookup of a
// tied output matrix, which faults them back in from the file): give them back to the page cache.
static void release_mapped(const Model& m, const uint8_t* data, size_t bytes) {
#ifdef RL_HAVE_MMAP
    if (!m.file.mapped()) return;
    const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE), b = ((uintptr_t)data + page - 1) & ~(page - 1), e = ((uintptr_t)data + bytes) & ~(page - 1);
    if (e > b) madvise((void*)b, e - b, MADV_DONTNEED);
#else
    (void)m, (void)data, (void)bytes;
#endif
}

// Packs the groups on up to 4 threads (a 1B model's matrices take seconds on one): each thread a
// contiguous range. Falls back to the calling thread if threads cannot be started.
static void pack_groups(const WeightMatrix& w, int64_t nb, size_t group_bytes, int64_t groups, uint8_t* out) {
    auto run = [&](int64_t g0, int64_t g1) {
        for (int64_t g = g0; g < g1; g++)
            w.k->pack(w.data + (size_t)g * kPackRows * w.row_bytes, w.row_bytes, nb, out + g * group_bytes);
    };
    const int64_t per_thread_min = 256;  // groups: below this a thread costs more than it saves
    const int64_t n = std::min<int64_t>({4, (int64_t)std::max(1u, std::thread::hardware_concurrency()),
                                         std::max<int64_t>(1, groups / per_thread_min)});
    std::vector<std::thread> threads;
    int64_t started = 1;  // ranges 1..n-1 go to threads, range 0 (and any not started) to the caller
    try {
        for (; started < n; started++) threads.emplace_back(run, groups * started / n, groups * (started + 1) / n);
    } catch (...) {
    }
    run(0, groups / n);
    run(groups * started / n, groups);  // ranges whose thread did not start (empty when all did)
    for (std::thread& t : threads) t.join();
}

static bool repack_enabled() {
    const char* v = std::getenv("RINGLLM_REPACK");
    return !(v && std::strcmp(v, "0") == 0);
}

Status repack_matrix(const Model& m, WeightMatrix* w) {
    const WeightKernels* k = w->k;
    const int64_t groups = w->n_out / kPackRows;
    if (!k->pack || groups == 0 || w->n_in % k->pack_elems != 0 || !m.packed || !repack_enabled()) return status_ok();
    const int64_t nb = w->n_in / (int64_t)k->pack_elems;
    const size_t group_bytes = (size_t)nb * k->pack_block_bytes;
    std::lock_guard<std::mutex> lock(m.packed->mutex);
    std::unique_ptr<PackedBuffer>& buf = m.packed->by_source[w->data];
    if (!buf) {
        auto fresh = std::make_unique<PackedBuffer>(group_bytes * (size_t)groups);
        if (!fresh->data()) {
            m.packed->by_source.erase(w->data);
            return status_error("OUT_OF_MEMORY", "could not allocate " + std::to_string(fresh->bytes() >> 20) +
                                                     " MiB for repacked weights; free memory or set RINGLLM_REPACK=0");
        }
        pack_groups(*w, nb, group_bytes, groups, fresh->data());
        buf = std::move(fresh);
        release_mapped(m, w->data, (size_t)groups * kPackRows * w->row_bytes);
    }
    w->packed = buf->data();
    w->packed_rows = groups * kPackRows;
    w->packed_group_bytes = group_bytes;
    return status_ok();
}

size_t packed_weights_bytes(const Model& m) {
    if (!m.packed) return 0;
    std::lock_guard<std::mutex> lock(m.packed->mutex);
    size_t n = 0;
    for (const auto& kv : m.packed->by_source) n += kv.second->bytes();
    return n;
}

}  // namespace rl
