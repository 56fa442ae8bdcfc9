#include "batcher.h"

#include <algorithm>
#include <exception>
#include <new>
#include <string>

namespace rl {

Batcher::~Batcher() {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
}

void Batcher::shutdown() {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        stop_ = true;
        aborting_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
    if (pool_) pool_->shutdown();
}

Status Batcher::init(int n_threads) {
    pool_ = std::make_shared<ThreadPool>();
    Status st = pool_->init(n_threads > 0 ? n_threads : 1);
    if (!st.ok()) return st;
    stepper_ = transformer_batch_stepper(pool_);
    try {
        thread_ = std::thread([this] { loop(); });
    } catch (const std::system_error& e) {
        return status_error("OUT_OF_MEMORY", std::string("cannot start the batching thread: ") + e.what());
    }
    return status_ok();
}

void Batcher::submit(std::shared_ptr<BatchJob> job) {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        returning_.erase(std::remove(returning_.begin(), returning_.end(), job->ctx.get()), returning_.end());
        queue_.push_back(std::move(job));
        stats_.running++;
    }
    cv_.notify_one();
}

bool Batcher::aborting() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return aborting_;
}

BatcherStats Batcher::stats() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return stats_;
}

void Batcher::finish(const std::shared_ptr<BatchJob>& job, const Status& st) {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        stats_.running--;
    }
    if (!job->done) return;
    try {
        job->done(*job, st);
    } catch (...) {  // the caller's settle failed (out of memory): nobody can be told
    }
}

// Runs fn, turning a C++ exception into a Status: nothing may escape the batcher thread.
template <class F>
static Status guarded(F&& fn) {
    try {
        return fn();
    } catch (const std::bad_alloc&) {
        return status_error("OUT_OF_MEMORY", "out of memory in a batched call");
    } catch (const std::exception& e) {
        return status_error("INTERNAL", std::string("batched call failed: ") + e.what());
    }
}

void Batcher::loop() {
    std::vector<std::shared_ptr<BatchJob>> taken;
    std::vector<BatchSeq> seqs;
    std::vector<size_t> in_step;  // index into active_ of each sequence of the step
    std::vector<size_t> to_sample;  // sequences of the step that sample now
    std::vector<Status> sampled;
    for (;;) {
        {
            std::unique_lock<std::mutex> lock(mutex_);
            cv_.wait(lock, [&] { return stop_ || !queue_.empty() || !active_.empty(); });
            if (stop_ && queue_.empty() && active_.empty()) return;
            // let the previous step's sequences come back before the next step (bounded wait)
            if (!returning_.empty())
                cv_.wait_until(lock, last_step_end_ + std::chrono::milliseconds(kGatherMs),
                               [&] { return stop_ || returning_.empty(); });
            returning_.clear();
            taken.assign(queue_.begin(), queue_.end());
            queue_.clear();
        }
        if (aborting()) {
            for (auto& job : taken) finish(job, status_error("ABORTED", "the environment is shutting down"));
            for (auto& job : active_) finish(job, status_error("ABORTED", "the environment is shutting down"));
            taken.clear();
            active_.clear();
            return;
        }
        // new jobs join between steps; exclusive ones run now, alone
        for (auto& job : taken) {
            Context& ctx = *job->ctx;
            if (job->exclusive) {
                finish(job, guarded([&] { return job->exclusive(ctx); }));
                continue;
            }
            Status st = job->tokens.empty() ? status_ok() : ctx.check_decode(job->tokens.data(), job->tokens.size());
            if (st.ok() && job->tokens.empty())
                st = job->sample ? guarded([&] { return batch_job_sample(*job); })
                                 : status_error("INVALID_ARGUMENT", "decode needs at least one token");
            if (!st.ok() || job->tokens.empty()) {
                finish(job, st);
                continue;
            }
            if (ctx.batch_rows() < 1) {  // cannot join a step: the whole decode alone
                st = guarded([&] {
                    Status s = ctx.decode(job->tokens.data(), job->tokens.size(), false,
                                          job->want_logits ? &job->logits : nullptr, job->cancel.get());
                    return s.ok() && job->sample ? batch_job_sample(*job) : s;
                });
                finish(job, st);
                continue;
            }
            job->pos_start = ctx.position();
            job->next = 0;
            st = guarded([&] {
                if (job->want_logits) job->logits.assign((size_t)ctx.n_vocab(), 0.0f);
                active_.push_back(job);
                return status_ok();
            });
            if (!st.ok()) finish(job, st);
        }
        taken.clear();
        if (active_.empty()) continue;

        // cancelled jobs end between steps: full caches roll back, ring caches keep what they took
        for (size_t i = 0; i < active_.size();) {
            auto job = active_[i];
            if (job->cancel && job->cancel->load(std::memory_order_relaxed)) {
                if (job->ctx->position() != job->pos_start) (void)job->ctx->truncate(job->pos_start);
                active_.erase(active_.begin() + (ptrdiff_t)i);
                finish(job, status_error("ABORTED", "decode was cancelled"));
                continue;
            }
            i++;
        }
        if (active_.empty()) continue;

        // single tokens (running streams) first, then prompt chunks in the room left, so no stream
        // waits behind prompts; in_step stays in increasing order (the erase loop below needs it)
        seqs.clear();
        in_step.clear();
        int32_t rows = 0;
        std::vector<char> take(active_.size(), 0);
        for (int pass = 0; pass < 2; pass++)
            for (size_t i = 0; i < active_.size(); i++) {
                BatchJob& job = *active_[i];
                const size_t left = job.tokens.size() - job.next;
                if ((pass == 0) != (left == 1) || take[i]) continue;
                const int32_t m = (int32_t)std::min<size_t>({left, (size_t)kPrefillChunk, (size_t)job.ctx->batch_rows()});
                if (rows > 0 && rows + m > kMaxRows) continue;  // waits for the next step
                take[i] = (char)m;
                rows += m;
            }
        for (size_t i = 0; i < active_.size(); i++) {
            if (!take[i]) continue;
            BatchJob& job = *active_[i];
            const int32_t m = (int32_t)std::min<size_t>({job.tokens.size() - job.next, (size_t)kPrefillChunk, (size_t)job.ctx->batch_rows()});
            const bool final_chunk = job.next + (size_t)m == job.tokens.size();
            seqs.push_back({job.ctx.get(), job.tokens.data() + job.next, m, final_chunk,
                            final_chunk && job.want_logits ? job.logits.data() : nullptr});
            in_step.push_back(i);
        }
        Status st = guarded([&] { return stepper_->step(seqs.data(), seqs.size()); });
        {
            std::lock_guard<std::mutex> lock(mutex_);
            if (st.ok()) {
                stats_.steps++;
                stats_.rows += rows;
                stats_.sequence_steps += (int64_t)seqs.size();
                stats_.last_sequences = (int32_t)seqs.size();
                stats_.max_sequences = std::max(stats_.max_sequences, (int32_t)seqs.size());
            }
        }
        // advance; finished (or failed) jobs leave, from the back so indices stay valid
        {
            std::lock_guard<std::mutex> lock(mutex_);
            last_step_end_ = std::chrono::steady_clock::now();
            for (size_t s = 0; s < seqs.size(); s++)
                if (active_[in_step[s]]->next + (size_t)seqs[s].m >= active_[in_step[s]]->tokens.size() || !st.ok())
                    returning_.push_back(seqs[s].ctx);
        }
        // sampling of the sequences that finished their tokens, in parallel (each context has its own
        // sampler; a full-vocabulary sort per sequence is worth spreading)
        sampled.assign(seqs.size(), status_ok());
        if (st.ok()) {
            to_sample.clear();
            for (size_t s = 0; s < seqs.size(); s++) {
                BatchJob& job = *active_[in_step[s]];
                if (job.sample && job.next + (size_t)seqs[s].m >= job.tokens.size()) to_sample.push_back(s);
            }
            pool_->parallel_for((int64_t)to_sample.size(), pool_->n_threads(), [&](int64_t b, int64_t e, int) {
                for (int64_t k = b; k < e; k++) {
                    BatchJob& job = *active_[in_step[to_sample[(size_t)k]]];
                    sampled[to_sample[(size_t)k]] = guarded([&] { return batch_job_sample(job); });
                }
            });
        }
        for (size_t s = seqs.size(); s-- > 0;) {
            const size_t i = in_step[s];
            auto job = active_[i];
            Status js = st.ok() ? sampled[s] : st;
            if (st.ok()) {
                job->next += (size_t)seqs[s].m;
                if (job->next < job->tokens.size()) continue;
            }
            // a failed step: full caches go back to where the job started (as Context::decode leaves them)
            if (!st.ok() && job->ctx->position() != job->pos_start) (void)job->ctx->truncate(job->pos_start);
            active_.erase(active_.begin() + (ptrdiff_t)i);
            finish(job, js);
        }
    }
}

Status batch_job_sample(BatchJob& job) {
    Status st = job.ctx->sample(job.params, &job.token);
    if (st.ok() && job.logprobs_top >= 0) st = job.ctx->logprobs(job.token, job.logprobs_top, &job.logprob, &job.top);
    return st;
}

Status batcher_for(Model& model, int n_threads, std::shared_ptr<Batcher>* out) {
    std::lock_guard<std::mutex> lock(model.batchers_mutex);
    for (auto& [n, weak] : model.batchers)
        if (n == n_threads)
            if ((*out = weak.lock())) return status_ok();
    auto b = std::make_shared<Batcher>();
    Status st = b->init(n_threads);
    if (!st.ok()) return st;
    auto& list = model.batchers;
    list.erase(std::remove_if(list.begin(), list.end(), [](const auto& e) { return e.second.expired(); }), list.end());
    list.emplace_back(n_threads, b);
    *out = std::move(b);
    return status_ok();
}

}  // namespace rl
