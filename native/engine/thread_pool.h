// Persistent worker pool: n_threads-1 workers plus the calling thread. Workers spin briefly after
// a job (back-to-back matmuls in a decode step) and then sleep on a condition variable.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

#include "../util/status.h"

namespace rl {

class ThreadPool {
public:
    ThreadPool() = default;
    ~ThreadPool();
    ThreadPool(const ThreadPool&) = delete;
    ThreadPool& operator=(const ThreadPool&) = delete;

    // Starts n_threads-1 workers (n_threads >= 1).
    Status init(int n_threads);
    // Stops and joins the workers (environment teardown: the code they run may be unloaded next);
    // later calls run on the caller alone. Not while a call runs.
    void shutdown();
    int n_threads() const { return n_threads_; }

    // Threads worth using for `work` units (roughly multiply-adds): tiny ops stay on the caller,
    // where waking a worker costs more than the op.
    int split_for(int64_t work) const;

    // Calls fn(begin, end, worker) over [0, n_items) split into `n_split` contiguous ranges
    // (clamped to [1, min(n_threads, n_items)]); worker is 0 for the caller, 1..n-1 for workers,
    // unique among concurrent calls (index per-thread scratch with it). Returns when all ranges ran.
    // A call made from inside a range (nested) runs all of its items inline as worker 0: code that
    // parallelizes over independent objects (e.g. one context per range) may call code that
    // parallelizes itself, provided each object's worker-0 scratch is used by one thread at a time.
    template <class F>
    void parallel_for(int64_t n_items, int n_split, F&& fn) {
        run(n_items, n_split, &invoke<F>, (void*)&fn);
    }
    // Same, with the split chosen by split_for(n_items * work_per_item).
    template <class F>
    void parallel_for_work(int64_t n_items, int64_t work_per_item, F&& fn) {
        run(n_items, split_for(n_items * work_per_item), &invoke<F>, (void*)&fn);
    }

private:
    using RangeFn = void (*)(void* ctx, int64_t begin, int64_t end, int worker);
    template <class F>
    static void invoke(void* ctx, int64_t begin, int64_t end, int worker) {
        (*(F*)ctx)(begin, end, worker);
    }

    void run(int64_t n_items, int n_split, RangeFn fn, void* ctx);
    void worker_main(int worker);
    void run_ranges(uint32_t gen, int worker);

    int n_threads_ = 1;
    std::vector<std::thread> workers_;
    std::mutex mutex_;
    std::condition_variable cv_;
    bool stop_ = false;  // guarded by mutex_
    // Job word: generation (32 bits) | ranges in the job (16) | next range to hand out (16). One
    // atomic, so a late worker can never take a range of the next job with the old job's count.
    std::atomic<uint64_t> state_{0};
    std::atomic<int> pending_{0};  // ranges of the current job not yet finished
    // current job, written by the caller before publishing a new generation in state_
    RangeFn job_fn_ = nullptr;
    void* job_ctx_ = nullptr;
    int64_t job_items_ = 0;
};

}  // namespace rl
