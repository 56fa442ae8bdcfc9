#include "thread_pool.h"

#include <algorithm>
#include <new>

#if defined(__x86_64__) || defined(_M_X64) || defined(__i386__)
#include <immintrin.h>
#define RL_CPU_RELAX() _mm_pause()
#elif defined(__aarch64__)
#define RL_CPU_RELAX() __asm__ __volatile__("yield")
#else
#define RL_CPU_RELAX() ((void)0)
#endif

namespace rl {

// Below this many multiply-adds per thread a split loses to waking and joining a worker
// (measured on 2 vCPUs: stories260K and dim-256 Q4_K matmuls, 16K-131K MACs, ran fastest on one
// thread; a split of a 131K-MAC Q4_K matmul made a token 3x slower).
static const int64_t k_min_work_per_thread = 128 * 1024;
// Pause iterations a worker spins before sleeping (~tens of microseconds).
static const int k_spin_iters = 20000;
// Set while this thread runs a range of some pool's job: a nested call runs inline.
static thread_local bool t_in_range = false;

namespace {
struct InRange {
    bool saved = t_in_range;
    InRange() { t_in_range = true; }
    ~InRange() { t_in_range = saved; }
};
}  // namespace

ThreadPool::~ThreadPool() { shutdown(); }

void ThreadPool::shutdown() {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        stop_ = true;
    }
    cv_.notify_all();
    for (std::thread& t : workers_) t.join();
    workers_.clear();
    n_threads_ = 1;
}

Status ThreadPool::init(int n_threads) {
    n_threads_ = std::max(1, n_threads);
    try {
        workers_.reserve((size_t)n_threads_ - 1);
        for (int w = 1; w < n_threads_; w++) workers_.emplace_back(&ThreadPool::worker_main, this, w);
    } catch (...) {
        n_threads_ = 1 + (int)workers_.size();
        return status_error("OUT_OF_MEMORY", "could not start " + std::to_string(n_threads) + " threads");
    }
    return status_ok();
}

int ThreadPool::split_for(int64_t work) const {
    if (n_threads_ <= 1 || work < 2 * k_min_work_per_thread) return 1;
    return (int)std::min<int64_t>(n_threads_, work / k_min_work_per_thread);
}

void ThreadPool::run_ranges(uint32_t gen, int worker) {
    uint64_t s = state_.load(std::memory_order_acquire);
    for (;;) {
        if ((uint32_t)(s >> 32) != gen) return;
        uint32_t split = (uint32_t)(s >> 16) & 0xffff;
        uint32_t r = (uint32_t)s & 0xffff;
        if (r >= split) return;
        if (!state_.compare_exchange_weak(s, s + 1, std::memory_order_acq_rel, std::memory_order_acquire))
            continue;
        // The range is ours and the job cannot end before we finish it, so its fields are stable.
        int64_t begin = job_items_ * r / split;
        int64_t end = job_items_ * (r + 1) / split;
        {
            InRange in_range;
            job_fn_(job_ctx_, begin, end, worker);
        }
        pending_.fetch_sub(1, std::memory_order_acq_rel);
        s = state_.load(std::memory_order_acquire);
    }
}

void ThreadPool::run(int64_t n_items, int n_split, RangeFn fn, void* ctx) {
    if (n_items <= 0) return;
    int split = (int)std::min<int64_t>({(int64_t)std::max(1, n_split), (int64_t)n_threads_, n_items, 0xffff});
    if (split <= 1 || t_in_range) {  // nested: t_in_range stays as it is
        fn(ctx, 0, n_items, 0);
        return;
    }
    job_fn_ = fn;
    job_ctx_ = ctx;
    job_items_ = n_items;
    pending_.store(split, std::memory_order_relaxed);
    uint32_t gen = (uint32_t)(state_.load(std::memory_order_relaxed) >> 32) + 1;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        state_.store(((uint64_t)gen << 32) | ((uint64_t)split << 16), std::memory_order_release);
    }
    cv_.notify_all();
    run_ranges(gen, 0);
    while (pending_.load(std::memory_order_acquire) > 0) RL_CPU_RELAX();
}

void ThreadPool::worker_main(int worker) {
    uint32_t seen = 0;
    for (;;) {
        int spins = 0;
        uint32_t gen;
        while ((gen = (uint32_t)(state_.load(std::memory_order_acquire) >> 32)) == seen && spins < k_spin_iters) {
            RL_CPU_RELAX();
            spins++;
        }
        if (gen == seen) {
            std::unique_lock<std::mutex> lock(mutex_);
            cv_.wait(lock, [&] { return stop_ || (uint32_t)(state_.load(std::memory_order_acquire) >> 32) != seen; });
            if (stop_) return;
            gen = (uint32_t)(state_.load(std::memory_order_acquire) >> 32);
        }
        seen = gen;
        run_ranges(gen, worker);
    }
}

}  // namespace rl
