// Continuous batching: contexts of one model that decode at the same time run together, one
// forward pass over the weights per step for all of them (transformer.h BatchStepper). A batcher owns
// one thread and one worker pool; every call on its contexts runs on that thread — decodes as parts
// of batched steps, anything else (embed, saved state, decodes that want every row's logits) alone
// between steps — so the shared pool is never used twice at once.
//
// Scheduling: new jobs join between steps. Sequences that left a step usually come back at once
// with their next token (the JS side settles each call and submits the next one), so before a step
// the batcher waits, at most kGatherMs, for the contexts of the previous step to return: otherwise
// the first one back would run alone and the step would split in two. A step takes each running job's next rows in arrival
// order: one row for a single-token decode, a chunk of at most kPrefillChunk rows of a prompt, until
// kMaxRows rows; a long prompt is thus interleaved with the others' tokens, and no running stream
// waits for more than one chunk of it. Cancellation is seen between steps: full caches roll back to
// where the job started, ring caches keep the chunks they took (as Context::decode does).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "context.h"
#include "sampler.h"
#include "transformer.h"

namespace rl {

struct BatchJob {
    std::shared_ptr<Context> ctx;
    std::shared_ptr<const std::atomic<bool>> cancel;  // may be null
    // A decode job: tokens decoded at the context's position; then, when sample is set, one token
    // sampled with params into `token`. logits (n_vocab, may be empty) receives the last row's.
    std::vector<int32_t> tokens;
    bool sample = false;
    SamplerParams params;
    int32_t token = -1;
    int32_t logprobs_top = -1;  // >= 0: after sampling, the token's log-probability and this many alternatives
    float logprob = 0.0f;
    std::vector<std::pair<int32_t, float>> top;
    std::vector<float> logits;
    bool want_logits = false;
    // An exclusive job (set: tokens unused): runs alone on the batcher thread between steps.
    std::function<Status(Context&)> exclusive;
    // Called on the batcher thread when the job ends (the job is not touched afterwards).
    std::function<void(BatchJob&, const Status&)> done;

    // progress (batcher thread)
    size_t next = 0;
    int64_t pos_start = 0;
};

struct BatcherStats {
    int64_t steps = 0;         // batched forward passes run
    int64_t rows = 0;          // rows (tokens) they decoded
    int64_t sequence_steps = 0;  // sum over steps of the sequences in each
    int32_t last_sequences = 0;  // sequences in the latest step
    int32_t max_sequences = 0;   // most sequences in one step
    int32_t running = 0;         // jobs queued or running now
};

class Batcher {
public:
    static constexpr int32_t kPrefillChunk = 128;
    static constexpr int32_t kMaxRows = 512;
    static constexpr int kGatherMs = 3;

    ~Batcher();
    // Starts the thread and a pool of n_threads.
    Status init(int n_threads);
    std::shared_ptr<ThreadPool> pool() const { return pool_; }
    int n_threads() const { return pool_->n_threads(); }
    // Queues a job; its done callback runs on the batcher thread.
    void submit(std::shared_ptr<BatchJob> job);
    // Environment teardown: every queued or running job ends ABORTED (an exclusive job already
    // running finishes first), the thread and the pool's workers are joined. Idempotent.
    void shutdown();
    BatcherStats stats() const;

private:
    void loop();
    bool aborting() const;
    void finish(const std::shared_ptr<BatchJob>& job, const Status& st);

    std::shared_ptr<ThreadPool> pool_;
    std::unique_ptr<BatchStepper> stepper_;
    std::thread thread_;
    mutable std::mutex mutex_;
    std::condition_variable cv_;
    bool stop_ = false;
    bool aborting_ = false;  // shutdown(): end every job instead of running it
    std::deque<std::shared_ptr<BatchJob>> queue_;  // submitted, not yet taken by the thread
    std::vector<std::shared_ptr<BatchJob>> active_;  // decode jobs in progress (batcher thread only)
    std::vector<const Context*> returning_;  // contexts whose job ended in the last step (guarded by mutex_)
    std::chrono::steady_clock::time_point last_step_end_;
    BatcherStats stats_;  // guarded by mutex_
};

// Samples job's token, then its log-probabilities when asked for.
Status batch_job_sample(BatchJob& job);

// The batcher of `model`'s contexts that run on n_threads threads, started on first use and kept
// while some context holds it.
Status batcher_for(Model& model, int n_threads, std::shared_ptr<Batcher>* out);

}  // namespace rl
