#include "context_handle.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <functional>
#include <limits>
#include <mutex>

#include "../util/cpu_topology.h"
#include "../util/utf8_path.h"
#include "addon.h"

namespace rl {

namespace {

int32_t int_opt(Napi::Object o, const char* name, int32_t dflt, int32_t lo, int32_t hi) {
    Napi::Value v = o.Get(name);
    if (v.IsUndefined()) return dflt;
    double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : std::nan("");
    if (!(d >= lo && d <= hi) || std::floor(d) != d)
        throw_invalid(o.Env(), std::string(name) + " must be an integer from " + std::to_string(lo) + " to " +
                                   std::to_string(hi));
    return (int32_t)d;
}

float float_opt(Napi::Object o, const char* name, float dflt) {
    Napi::Value v = o.Get(name);
    if (v.IsUndefined()) return dflt;
    if (!v.IsNumber()) throw_invalid(o.Env(), std::string(name) + " must be a number");
    double d = v.As<Napi::Number>().DoubleValue();
    if (std::isnan(d)) throw_invalid(o.Env(), std::string(name) + " must not be NaN");
    return (float)d;
}

std::vector<int32_t> tokens_arg(Napi::Env env, Napi::Value v) {
    if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array)
        throw_invalid(env, "tokens must be a Uint32Array");
    Napi::Uint32Array a = v.As<Napi::Uint32Array>();
    std::vector<int32_t> ids(a.ElementLength());
    for (size_t k = 0; k < ids.size(); k++) {
        if (a[k] > (uint32_t)std::numeric_limits<int32_t>::max()) throw_invalid(env, "token id out of range");
        ids[k] = (int32_t)a[k];
    }
    return ids;
}

// Runs one context operation on the thread pool and settles a promise with its result.
class ContextWorker : public Napi::AsyncWorker {
public:
    using Job = std::function<Status(Context&)>;
    using Result = std::function<Napi::Value(Napi::Env)>;

    ContextWorker(Napi::Env env, std::shared_ptr<Context> ctx, std::shared_ptr<std::atomic<bool>> busy, Job job,
                  Result result)
        : Napi::AsyncWorker(env, "ringllm.context"), deferred_(Napi::Promise::Deferred::New(env)),
          ctx_(std::move(ctx)), busy_(std::move(busy)), job_(std::move(job)), result_(std::move(result)) {}

    Napi::Promise promise() { return deferred_.Promise(); }
    void Execute() override { status_ = job_(*ctx_); }
    void OnOK() override {
        busy_->store(false);
        settle(Env(), deferred_, status_, [this] { return result_(Env()); });
    }

private:
    Napi::Promise::Deferred deferred_;
    std::shared_ptr<Context> ctx_;
    std::shared_ptr<std::atomic<bool>> busy_;
    Job job_;
    Result result_;
    Status status_;
};

class CreateWorker : public Napi::AsyncWorker {
public:
    CreateWorker(Napi::Env env, std::shared_ptr<Model> model, ContextParams params, std::shared_ptr<Batcher> batcher)
        : Napi::AsyncWorker(env, "ringllm.createContext"), deferred_(Napi::Promise::Deferred::New(env)),
          model_(std::move(model)), params_(params), batcher_(std::move(batcher)) {}
    Napi::Promise promise() { return deferred_.Promise(); }
    void Execute() override { status_ = Context::create(model_, params_, &ctx_); }
    void OnOK() override {
        settle(Env(), deferred_, status_, [this] {
            std::shared_ptr<Context> ctx(std::move(ctx_));
            // encoders never join batched steps: they run on their own pool
            return ContextHandle::create(Env(), ctx, ctx->batch_rows() > 0 ? batcher_ : nullptr);
        });
    }

private:
    Napi::Promise::Deferred deferred_;
    std::shared_ptr<Model> model_;
    ContextParams params_;
    std::shared_ptr<Batcher> batcher_;
    std::unique_ptr<Context> ctx_;
    Status status_;
};

}  // namespace

// A batched context's link to its batcher: calls complete on the batcher thread and are settled on
// the JS thread through a thread-safe function, referenced (keeping the event loop alive) only while
// calls are in flight.
// It is released by close() once no call is in flight, or when the last reference goes (a handle
// collected without close()), never after Node finalized it (at environment teardown Node closes
// thread-safe functions itself, and releasing one then aborts).
// Whether the thread-safe function is gone (finalized: released, or closed by Node at environment
// teardown). The batcher thread checks it, under the mutex, around each call into it.
struct TsfnGuard {
    std::mutex mutex;
    bool dead = false;
};

struct ContextHandle::BatchLink {
    std::shared_ptr<Batcher> batcher;
    std::shared_ptr<TsfnGuard> guard = std::make_shared<TsfnGuard>();
    Napi::ThreadSafeFunction tsfn;
    int pending = 0;       // calls in flight (JS thread only)
    bool closing = false;  // close() was called: release when pending reaches 0
    bool released = false;
    void release() {
        if (!released && !guard->dead) tsfn.Release();
        released = true;
    }
    // A handle collected without close(): release unless Node already finalized it (dead is only
    // set on the JS thread, where this runs).
    ~BatchLink() { release(); }
};

namespace {

struct Settle {
    Napi::Promise::Deferred deferred;
    std::shared_ptr<BatchJob> job;
    std::shared_ptr<ContextHandle::BatchLink> link;
    std::shared_ptr<std::atomic<bool>> busy;
    ContextHandle::Result result;
    Status status;
};

}  // namespace

Napi::Object batch_stats_to_js(Napi::Env env, const BatcherStats& b) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("steps", Napi::Number::New(env, (double)b.steps));
    o.Set("rows", Napi::Number::New(env, (double)b.rows));
    o.Set("meanSequences", Napi::Number::New(env, b.steps > 0 ? (double)b.sequence_steps / (double)b.steps : 0.0));
    o.Set("maxSequences", Napi::Number::New(env, b.max_sequences));
    o.Set("lastSequences", Napi::Number::New(env, b.last_sequences));
    o.Set("running", Napi::Number::New(env, b.running));
    return o;
}

// Sampler options object (GenerateOptions names) -> SamplerParams; INVALID_ARGUMENT on bad values.
SamplerParams sampler_params(Napi::Object o) {
    SamplerParams p;
    p.temperature = float_opt(o, "temperature", p.temperature);
    p.top_k = int_opt(o, "topK", p.top_k, 0, std::numeric_limits<int32_t>::max());
    p.top_p = float_opt(o, "topP", p.top_p);
    p.min_p = float_opt(o, "minP", p.min_p);
    p.repeat_penalty = float_opt(o, "repeatPenalty", p.repeat_penalty);
    p.frequency_penalty = float_opt(o, "frequencyPenalty", p.frequency_penalty);
    p.presence_penalty = float_opt(o, "presencePenalty", p.presence_penalty);
    p.penalty_last_n = int_opt(o, "penaltyLastN", p.penalty_last_n, -1, std::numeric_limits<int32_t>::max());
    Napi::Value bias = o.Get("logitBias");
    if (bias.IsArray()) {  // [[id, bias], ...] (lib/ converts its object/Map form)
        Napi::Array a = bias.As<Napi::Array>();
        for (uint32_t k = 0; k < a.Length(); k++) {
            Napi::Value e = a.Get(k);
            if (!e.IsArray()) throw_invalid(o.Env(), "logitBias entries must be [token, bias] pairs");
            Napi::Array pair = e.As<Napi::Array>();
            p.logit_bias.emplace_back(pair.Get(0u).As<Napi::Number>().Int32Value(),
                                      (float)pair.Get(1u).As<Napi::Number>().DoubleValue());
        }
    }
    Napi::Value allow = o.Get("allow");  // Uint32Array token bitmap of a grammar (copied: JS reuses it)
    if (allow.IsTypedArray() && allow.As<Napi::TypedArray>().TypedArrayType() == napi_uint32_array) {
        Napi::Uint32Array a = allow.As<Napi::Uint32Array>();
        p.allow.assign(a.Data(), a.Data() + a.ElementLength());
    }
    return p;
}

// kv: { policy, window, sinks, recent, heavy, blockSize, topBlocks, positions, store, type } (lib/
// validates first; this re-checks).
KvOptions kv_options(Napi::Env env, Napi::Value v) {
    KvOptions kv;
    if (v.IsUndefined()) return kv;
    if (!v.IsObject()) throw_invalid(env, "kv must be an object");
    Napi::Object o = v.As<Napi::Object>();
    auto str = [&](const char* name) -> std::string {
        Napi::Value s = o.Get(name);
        if (s.IsUndefined()) return "";
        if (!s.IsString()) throw_invalid(env, std::string("kv.") + name + " must be a string");
        return s.As<Napi::String>().Utf8Value();
    };
    const std::string policy = str("policy");
    if (policy == "" || policy == "auto") kv.policy = KvPolicyChoice::Auto;
    else if (policy == "full") kv.policy = KvPolicyChoice::Full;
    else if (policy == "window") kv.policy = KvPolicyChoice::Window;
    else if (policy == "sinks") kv.policy = KvPolicyChoice::Sinks;
    else if (policy == "h2o") kv.policy = KvPolicyChoice::H2O;
    else if (policy == "recall") kv.policy = KvPolicyChoice::Recall;
    else throw_invalid(env, "kv.policy must be \"auto\", \"full\", \"window\", \"sinks\", \"h2o\" or \"recall\"");
    const std::string positions = str("positions");
    if (positions == "" || positions == "remap") kv.remap = true;
    else if (positions == "absolute") kv.remap = false;
    else throw_invalid(env, "kv.positions must be \"remap\" or \"absolute\"");
    kv.store = str("store");
    const std::string type = str("type");
    if (type == "" || type == "f16") kv.type = KvType::F16;
    else if (type == "q8_0") kv.type = KvType::Q8_0;
    else if (type == "q4_0") kv.type = KvType::Q4_0;
    else throw_invalid(env, "kv.type must be \"f16\", \"q8_0\" or \"q4_0\"");
    kv.window = int_opt(o, "window", 0, 1, 1 << 24);
    kv.sinks = int_opt(o, "sinks", -1, 0, 1 << 24);
    kv.recent = int_opt(o, "recent", -1, 0, 1 << 24);
    kv.heavy = int_opt(o, "heavy", -1, 0, 1 << 24);
    kv.block = int_opt(o, "blockSize", -1, 0, 1 << 20);
    kv.top_blocks = int_opt(o, "topBlocks", -1, 0, 1 << 20);
    return kv;
}

ContextParams context_params(const Napi::CallbackInfo& info, bool* batched_out) {
    Napi::Env env = info.Env();
    ContextParams p;
    bool batched = true;
    if (info.Length() > 0 && info[0].IsObject()) {
        Napi::Object o = info[0].As<Napi::Object>();
        Napi::Value size = o.Get("contextSize");
        if (size.IsNumber() && std::isinf(size.As<Napi::Number>().DoubleValue()) &&
            size.As<Napi::Number>().DoubleValue() > 0)
            p.n_ctx = kContextUnbounded;
        else
            p.n_ctx = int_opt(o, "contextSize", (int32_t)p.n_ctx, 0, 1 << 24);
        p.n_batch = int_opt(o, "batchSize", p.n_batch, 1, 1 << 16);
        p.n_threads = int_opt(o, "threads", p.n_threads, 0, 1024);
        p.attn_splits = int_opt(o, "attentionSplits", 0, 0, 256);
        p.kv = kv_options(env, o.Get("kv"));
        Napi::Value batching = o.Get("batching");
        if (!batching.IsUndefined() && !batching.IsBoolean()) throw_invalid(env, "batching must be a boolean");
        batched = !batching.IsBoolean() || batching.As<Napi::Boolean>().Value();
        Napi::Value seed = o.Get("seed");
        if (!seed.IsUndefined()) {
            double d = seed.IsNumber() ? seed.As<Napi::Number>().DoubleValue() : -1;
            if (!(d >= 0 && d <= 9007199254740991.0) || std::floor(d) != d)
                throw_invalid(env, "seed must be a non-negative integer");
            p.seed = (uint64_t)d;
        }
    }
    if (batched_out) *batched_out = batched;
    return p;
}

Napi::Value create_context(const Napi::CallbackInfo& info, std::shared_ptr<Model> model) {
    Napi::Env env = info.Env();
    bool batched = true;
    ContextParams p = context_params(info, &batched);
    std::shared_ptr<Batcher> batcher;
    if (batched && model->file.has_data()) {
        const int threads = p.n_threads > 0 ? p.n_threads : cpu_physical_cores();
        Status st = batcher_for(*model, threads, &batcher);
        if (!st.ok()) throw_status(env, st);
        RingllmAddon* addon = env.GetInstanceData<RingllmAddon>();
        std::lock_guard<std::mutex> lock(addon->batchers_mu);
        auto& list = addon->batchers;
        list.erase(std::remove_if(list.begin(), list.end(), [](const std::weak_ptr<Batcher>& w) { return w.expired(); }), list.end());
        if (std::none_of(list.begin(), list.end(), [&](const std::weak_ptr<Batcher>& w) { return w.lock() == batcher; }))
            list.push_back(batcher);
        p.pool = batcher->pool();
    }
    auto* worker = new CreateWorker(env, std::move(model), p, std::move(batcher));
    Napi::Promise promise = worker->promise();
    worker->Queue();
    return promise;
}

Napi::Function ContextHandle::define_class(Napi::Env env) {
    return DefineClass(env, "ContextHandle",
                       {
                           InstanceMethod<&ContextHandle::decode>("decode"),
                           InstanceMethod<&ContextHandle::step>("step"),
                           InstanceMethod<&ContextHandle::cancel>("cancel"),
                           InstanceMethod<&ContextHandle::reset>("reset"),
                           InstanceMethod<&ContextHandle::truncate>("truncate"),
                           InstanceMethod<&ContextHandle::save_state>("saveState"),
                           InstanceMethod<&ContextHandle::embed>("embed"),
                           InstanceMethod<&ContextHandle::load_state>("loadState"),
                           InstanceMethod<&ContextHandle::tokens>("tokens"),
                           InstanceMethod<&ContextHandle::info>("info"),
                           InstanceMethod<&ContextHandle::set_seed>("setSeed"),
                           InstanceMethod<&ContextHandle::close>("close"),
                           InstanceMethod<&ContextHandle::stats>("stats"),
                           InstanceMethod<&ContextHandle::kv_slots>("kvSlots"),
                       });
}

Napi::Object ContextHandle::create(Napi::Env env, std::shared_ptr<Context> ctx, std::shared_ptr<Batcher> batcher) {
    RingllmAddon* addon = env.GetInstanceData<RingllmAddon>();
    Napi::Object obj = addon->context_ctor.New({});
    ContextHandle* h = ContextHandle::Unwrap(obj);
    h->ctx_ = std::move(ctx);
    if (batcher) {
        h->batch_ = std::make_shared<BatchLink>();
        h->batch_->batcher = std::move(batcher);
        auto* guard = new std::shared_ptr<TsfnGuard>(h->batch_->guard);
        h->batch_->tsfn = Napi::ThreadSafeFunction::New(
            env, Napi::Function::New(env, [](const Napi::CallbackInfo&) {}), "ringllm.batch", 0, 1,
            [](Napi::Env, std::shared_ptr<TsfnGuard>* g) {
                {
                    std::lock_guard<std::mutex> lock((*g)->mutex);
                    (*g)->dead = true;
                }
                delete g;
            },
            guard);
        h->batch_->tsfn.Unref(env);
    }
    return obj;
}

Napi::Value ContextHandle::run(Napi::Env env, std::shared_ptr<Context> ctx, Job job, Result result) {
    if (batch_) {
        auto bj = std::make_shared<BatchJob>();
        bj->ctx = std::move(ctx);
        bj->exclusive = std::move(job);
        return submit(env, std::move(bj), std::move(result));
    }
    auto* worker = new ContextWorker(env, std::move(ctx), busy_, std::move(job), std::move(result));
    Napi::Promise p = worker->promise();
    worker->Queue();
    return p;
}

Napi::Value ContextHandle::submit(Napi::Env env, std::shared_ptr<BatchJob> job, Result result) {
    auto* s = new Settle{Napi::Promise::Deferred::New(env), job, batch_, busy_, std::move(result), status_ok()};
    Napi::Promise p = s->deferred.Promise();
    if (batch_->pending++ == 0) batch_->tsfn.Ref(env);
    job->done = [s](BatchJob&, const Status& st) {
        s->status = st;
        // At teardown the function may be gone: then s is left (never deleted here, on the batcher
        // thread: it may hold the last reference to the batcher, which cannot join its own thread).
        std::shared_ptr<TsfnGuard> guard = s->link->guard;
        std::lock_guard<std::mutex> lock(guard->mutex);
        if (guard->dead) return;
        (void)s->link->tsfn.NonBlockingCall(s, [](Napi::Env e, Napi::Function, Settle* done) {
            std::unique_ptr<Settle> own(done);
            own->busy->store(false);
            // a terminating worker's environment refuses calls into JS (they throw): nothing to settle then
            try {
                if (--own->link->pending == 0) {
                    if (own->link->closing)
                        own->link->release();
                    else
                        own->link->tsfn.Unref(e);
                }
            } catch (...) {
            }
            settle(e, own->deferred, own->status, [&] { return own->result(e); });
        });
    };
    batch_->batcher->submit(std::move(job));
    return p;
}

ContextHandle::ContextHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ContextHandle>(info) {}

std::shared_ptr<Context> ContextHandle::live(Napi::Env env) {
    if (!ctx_) throw_status(env, status_error("CONTEXT_CLOSED", "the context was closed; create a new one"));
    return ctx_;
}

// decode(tokens: Uint32Array, allLogits) -> Promise<Float32Array>
Napi::Value ContextHandle::decode(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::shared_ptr<Context> ctx = live(env);
    if (info.Length() < 1) throw_invalid(env, "decode(tokens, allLogits)");
    auto ids = std::make_shared<std::vector<int32_t>>(tokens_arg(env, info[0]));
    bool all = info.Length() > 1 && info[1].IsBoolean() && info[1].As<Napi::Boolean>().Value();
    if (busy_->exchange(true))
        throw_status(env, status_error("CONTEXT_BUSY", "another call on this context is still running"));
    cancel_->store(false);
    auto logits = std::make_shared<std::vector<float>>();
    auto cancel = cancel_;
    if (batch_ && !all) {  // every row's logits: alone between steps (run below)
        auto job = std::make_shared<BatchJob>();
        job->ctx = ctx;
        job->cancel = cancel;
        job->tokens = std::move(*ids);
        job->want_logits = true;
        BatchJob* raw = job.get();
        return submit(env, std::move(job), [raw](Napi::Env e) -> Napi::Value {
            Napi::Float32Array out = Napi::Float32Array::New(e, raw->logits.size());
            std::copy(raw->logits.begin(), raw->logits.end(), out.Data());
            return out;
        });
    }
    return run(
        env, ctx,
        [ids, all, logits, cancel](Context& c) { return c.decode(ids->data(), ids->size(), all, logits.get(), cancel.get()); },
        [logits](Napi::Env e) -> Napi::Value {
            Napi::Float32Array out = Napi::Float32Array::New(e, logits->size());
            std::copy(logits->begin(), logits->end(), out.Data());
            return out;
        });
}

// step(samplerParams, feedToken) -> Promise<token>: decodes feedToken first when >= 0, then samples.
// The result of step(): the token, or with log-probabilities asked for { token, logprob, top: [[id, lp], ...] }.
static Napi::Value step_result(Napi::Env e, const BatchJob& job) {
    if (job.logprobs_top < 0) return Napi::Number::New(e, job.token);
    Napi::Object o = Napi::Object::New(e);
    o.Set("token", Napi::Number::New(e, job.token));
    o.Set("logprob", Napi::Number::New(e, job.logprob));
    Napi::Array top = Napi::Array::New(e, job.top.size());
    for (size_t i = 0; i < job.top.size(); i++) {
        Napi::Array pair = Napi::Array::New(e, 2);
        pair.Set(0u, Napi::Number::New(e, job.top[i].first));
        pair.Set(1u, Napi::Number::New(e, job.top[i].second));
        top.Set((uint32_t)i, pair);
    }
    o.Set("top", top);
    return o;
}

// step(samplerParams, feedToken, logprobs = -1) -> Promise<token | { token, logprob, top }>: decodes
// feedToken first when >= 0, then samples; logprobs >= 0 also returns the sampled token's
// log-probability and that many most likely alternatives.
Napi::Value ContextHandle::step(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::shared_ptr<Context> ctx = live(env);
    if (info.Length() < 2 || !info[0].IsObject() || !info[1].IsNumber()) throw_invalid(env, "step(params, feedToken, logprobs?)");
    SamplerParams params = sampler_params(info[0].As<Napi::Object>());
    double feed_d = info[1].As<Napi::Number>().DoubleValue();
    if (!(feed_d >= -1 && feed_d <= 2147483647.0) || std::floor(feed_d) != feed_d)
        throw_invalid(env, "feedToken must be a token id or -1");
    int32_t feed = (int32_t)feed_d;
    int32_t top = -1;
    if (info.Length() > 2 && info[2].IsNumber()) {
        top = info[2].As<Napi::Number>().Int32Value();
        if (top < -1 || top > 100) throw_invalid(env, "logprobs must be from -1 to 100");
    }
    if (busy_->exchange(true))
        throw_status(env, status_error("CONTEXT_BUSY", "another call on this context is still running"));
    cancel_->store(false);
    auto job = std::make_shared<BatchJob>();
    job->ctx = ctx;
    job->cancel = cancel_;
    if (feed >= 0) job->tokens.push_back(feed);
    job->sample = true;
    job->params = std::move(params);
    job->logprobs_top = top;
    BatchJob* raw = job.get();
    if (batch_) return submit(env, std::move(job), [raw](Napi::Env e) { return step_result(e, *raw); });
    return run(
        env, ctx,
        [job](Context& c) {
            if (!job->tokens.empty()) {
                Status st = c.decode(job->tokens.data(), 1, false, nullptr, job->cancel.get());
                if (!st.ok()) return st;
            }
            return batch_job_sample(*job);
        },
        [job](Napi::Env e) { return step_result(e, *job); });
}

Napi::Value ContextHandle::cancel(const Napi::CallbackInfo& info) {
    cancel_->store(true);
    return info.Env().Undefined();
}

Napi::Value ContextHandle::reset(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::shared_ptr<Context> ctx = live(env);
    if (busy_->load()) throw_status(env, status_error("CONTEXT_BUSY", "another call on this context is still running"));
    ctx->reset();
    return env.Undefined();
}

// truncate(n): forgets positions >= n (cheap: no model work, so it runs on the calling thread).
Napi::Value ContextHandle::truncate(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::shared_ptr<Context> ctx = live(env);
    if (info.Length() < 1 || !info[0].IsNumber()) throw_invalid(env, "truncate(position)");
    if (busy_->load()) throw_status(env, status_error("CONTEXT_BUSY", "another call on this context is still running"));
    Status st = ctx->truncate((int64_t)info[0].As<Napi::Number>().DoubleValue());
    if (!st.ok()) throw_status(env, st);
    return env.Undefined();
}

// embed(tokens: Uint32Array, pooling: 0 none | 1 mean | 2 cls | 3 last, lengths?: Uint32Array)
//   -> Promise<Float32Array>: one text, or (lengths) several texts one after another, their results
//   concatenated in order.
Napi::Value ContextHandle::embed(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::shared_ptr<Context> ctx = live(env);
    if (info.Length() < 2 || !info[1].IsNumber()) throw_invalid(env, "embed(tokens, pooling, lengths?)");
    auto ids = std::make_shared<std::vector<int32_t>>(tokens_arg(env, info[0]));
    const int32_t pooling = info[1].As<Napi::Number>().Int32Value();
    if (pooling < 0 || pooling > 3) throw_invalid(env, "embed: pooling must be 0..3");
    auto lengths = std::make_shared<std::vector<int32_t>>();
    if (info.Length() > 2 && !info[2].IsUndefined()) {
        *lengths = tokens_arg(env, info[2]);
        size_t sum = 0;
        for (int32_t n : *lengths) {
            if (n < 1) throw_invalid(env, "embed: every text needs at least one token");
            sum += (size_t)n;
        }
        if (sum != ids->size()) throw_invalid(env, "embed: lengths must add up to the number of tokens");
    } else {
        lengths->push_back((int32_t)ids->size());
    }
    if (busy_->exchange(true))
        throw_status(env, status_error("CONTEXT_BUSY", "another call on this context is still running"));
    cancel_->store(false);
    auto out = std::make_shared<std::vector<float>>();
    auto cancel = cancel_;
    return run(
        env, ctx,
        [ids, lengths, pooling, out, cancel](Context& c) {
            if (lengths->size() == 1) return c.embed(ids->data(), ids->size(), (Pooling)pooling, out.get(), cancel.get());
            return c.embed_batch(ids->data(), lengths->data(), lengths->size(), (Pooling)pooling, out.get(), cancel.get());
        },
        [out](Napi::Env e) -> Napi::Value {
            Napi::Float32Array a = Napi::Float32Array::New(e, out->size());
            std::copy(out->begin(), out->end(), a.Data());
            return a;
        });
}

// saveState(pending, path?) -> Promise<Buffer> (no path) or Promise<undefined> (written to path, streamed).
Napi::Value ContextHandle::save_state(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::shared_ptr<Context> ctx = live(env);
    if (info.Length() < 1 || !info[0].IsNumber()) throw_invalid(env, "saveState(pending, path?)");
    const int32_t pending = info[0].As<Napi::Number>().Int32Value();
    const bool to_file = info.Length() > 1 && info[1].IsString();
    const std::string path = to_file ? info[1].As<Napi::String>().Utf8Value() : std::string();
    if (busy_->exchange(true))
        throw_status(env, status_error("CONTEXT_BUSY", "another call on this context is still running"));
    auto bytes = std::make_shared<std::vector<uint8_t>>();
    return run(
        env, ctx,
        [pending, to_file, path, bytes](Context& c) {
            if (!to_file) {
                VectorSink sink(bytes.get());
                return c.save_state(&sink, pending);
            }
            std::FILE* f = fopen_utf8(path, "wb");
            if (!f) return errno_status(errno, path, "write the state to");
            FileSink sink(f, path);
            Status st = c.save_state(&sink, pending);
            if (std::fclose(f) != 0 && st.ok()) st = status_error("EIO", "could not write the state to " + path);
            if (!st.ok()) std::remove(path.c_str());
            return st;
        },
        [to_file, bytes](Napi::Env e) -> Napi::Value {
            if (to_file) return e.Undefined();
            return Napi::Buffer<uint8_t>::Copy(e, bytes->data(), bytes->size());
        });
}

// loadState(bufferOrPath) -> Promise<pending token or -1>. A buffer is copied first (JS may reuse it).
Napi::Value ContextHandle::load_state(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::shared_ptr<Context> ctx = live(env);
    if (info.Length() < 1 || !(info[0].IsString() || info[0].IsTypedArray())) throw_invalid(env, "loadState(bufferOrPath)");
    const bool from_file = info[0].IsString();
    const std::string path = from_file ? info[0].As<Napi::String>().Utf8Value() : std::string();
    auto bytes = std::make_shared<std::vector<uint8_t>>();
    if (!from_file) {
        Napi::TypedArray a = info[0].As<Napi::TypedArray>();
        const uint8_t* p = (const uint8_t*)a.ArrayBuffer().Data() + a.ByteOffset();
        bytes->assign(p, p + a.ByteLength());
    }
    if (busy_->exchange(true))
        throw_status(env, status_error("CONTEXT_BUSY", "another call on this context is still running"));
    auto pending = std::make_shared<int32_t>(-1);
    return run(
        env, ctx,
        [from_file, path, bytes, pending](Context& c) {
            if (!from_file) {
                MemorySource src(bytes->data(), bytes->size());
                return c.load_state(&src, pending.get());
            }
            std::FILE* f = fopen_utf8(path, "rb");
            if (!f) return errno_status(errno, path, "read the state file");
            Status st = status_ok();
            const int64_t size = state_file_size(f);
            if (size < 0) st = status_error("EISDIR", path + " is not a regular file");
            if (st.ok()) {
                FileSource src(f, (uint64_t)size, path);
                st = c.load_state(&src, pending.get());
            }
            std::fclose(f);
            return st;
        },
        [pending](Napi::Env e) -> Napi::Value { return Napi::Number::New(e, *pending); });
}

// tokens() -> Uint32Array of the tokens decoded since the last reset, or null when a bounded cache
// no longer keeps them all.
Napi::Value ContextHandle::tokens(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::shared_ptr<Context> ctx = live(env);
    if (busy_->load()) throw_status(env, status_error("CONTEXT_BUSY", "another call on this context is still running"));
    std::vector<int32_t> ids;
    if (!ctx->tokens(&ids)) return env.Null();
    Napi::Uint32Array out = Napi::Uint32Array::New(env, ids.size());
    for (size_t i = 0; i < ids.size(); i++) out[i] = (uint32_t)ids[i];
    return out;
}

Napi::Value ContextHandle::set_seed(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::shared_ptr<Context> ctx = live(env);
    if (info.Length() < 1 || !info[0].IsNumber()) throw_invalid(env, "setSeed(seed)");
    if (busy_->load()) throw_status(env, status_error("CONTEXT_BUSY", "another call on this context is still running"));
    ctx->set_seed((uint64_t)info[0].As<Napi::Number>().DoubleValue());
    return env.Undefined();
}

// info() -> { position, contextSize, vocabSize }
Napi::Value ContextHandle::info(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::shared_ptr<Context> ctx = live(env);
    Napi::Object o = Napi::Object::New(env);
    o.Set("position", Napi::Number::New(env, (double)ctx->position()));
    const int64_t n_ctx = ctx->n_ctx();
    o.Set("contextSize", Napi::Number::New(env, n_ctx == kContextUnbounded ? INFINITY : (double)n_ctx));
    o.Set("vocabSize", Napi::Number::New(env, ctx->n_vocab()));
    return o;
}

// stats() -> { tokensProcessed, kvBytes, kvType, repackedBytes, layers: [{ policy, capacity, held, window?, sinks?,
// recent?, heavy? }] } (a snapshot taken after the last decode: safe while one runs)
Napi::Value ContextHandle::stats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const ContextStats s = live(env)->stats();
    Napi::Object o = Napi::Object::New(env);
    o.Set("tokensProcessed", Napi::Number::New(env, (double)s.tokens));
    o.Set("kvBytes", Napi::Number::New(env, (double)s.kv_bytes));
    o.Set("kvUsedBytes", Napi::Number::New(env, (double)s.kv_used_bytes));
    o.Set("kvType", Napi::String::New(env, kv_type_name(s.type)));
    o.Set("repackedBytes", Napi::Number::New(env, (double)s.repacked_bytes));
    o.Set("batch", batch_ ? batch_stats_to_js(env, batch_->batcher->stats()) : env.Null());
    o.Set("gpuLayers", Napi::Number::New(env, s.gpu_layers));
    o.Set("deviceBytes", Napi::Number::New(env, (double)s.device_bytes));
    o.Set("storeBytes", Napi::Number::New(env, (double)s.store_bytes));
    o.Set("blocks", Napi::Number::New(env, (double)s.recall_blocks));
    o.Set("selections", Napi::Number::New(env, (double)s.recall_selections));
    o.Set("attendedKeys", Napi::Number::New(env, (double)s.attended_keys));
    o.Set("gpuNote", s.gpu_note.empty() ? env.Null() : Napi::String::New(env, s.gpu_note));
    Napi::Array layers = Napi::Array::New(env, s.layers.size());
    for (size_t i = 0; i < s.layers.size(); i++) {
        const KvLayerStats& l = s.layers[i];
        Napi::Object e = Napi::Object::New(env);
        e.Set("policy", Napi::String::New(env, kv_policy_name(l.config.policy)));
        e.Set("capacity", Napi::Number::New(env, (double)l.capacity));
        e.Set("held", Napi::Number::New(env, (double)l.held));
        switch (l.config.policy) {
            case KvPolicy::Full:
                if (l.config.mask_window > 0) e.Set("window", Napi::Number::New(env, l.config.mask_window));
                break;
            case KvPolicy::Window: e.Set("window", Napi::Number::New(env, l.config.window)); break;
            case KvPolicy::Sinks:
                e.Set("sinks", Napi::Number::New(env, l.config.sinks));
                e.Set("recent", Napi::Number::New(env, l.config.recent));
                break;
            case KvPolicy::H2O:
                e.Set("heavy", Napi::Number::New(env, l.config.heavy));
                e.Set("recent", Napi::Number::New(env, l.config.recent));
                break;
            case KvPolicy::Recall:
                e.Set("sinks", Napi::Number::New(env, l.config.sinks));
                e.Set("recent", Napi::Number::New(env, l.config.recent));
                e.Set("blockSize", Napi::Number::New(env, l.config.block));
                e.Set("topBlocks", Napi::Number::New(env, l.config.top_blocks));
                e.Set("positions", Napi::String::New(env, l.config.remap ? "remap" : "absolute"));
                break;
        }
        layers.Set((uint32_t)i, e);
    }
    o.Set("layers", layers);
    return o;
}

// kvSlots(layer, kvHead) -> { positions: number[], scores: number[] | null }
Napi::Value ContextHandle::kv_slots(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::shared_ptr<Context> ctx = live(env);
    if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsNumber()) throw_invalid(env, "kvSlots(layer, kvHead)");
    if (busy_->load()) throw_status(env, status_error("CONTEXT_BUSY", "another call on this context is still running"));
    std::vector<int64_t> pos;
    std::vector<double> scores;
    Status st = ctx->kv_slots(info[0].As<Napi::Number>().Int32Value(), info[1].As<Napi::Number>().Int32Value(), &pos, &scores);
    if (!st.ok()) throw_status(env, st);
    Napi::Object o = Napi::Object::New(env);
    Napi::Array positions = Napi::Array::New(env, pos.size());
    for (size_t i = 0; i < pos.size(); i++) positions.Set((uint32_t)i, Napi::Number::New(env, (double)pos[i]));
    o.Set("positions", positions);
    if (scores.empty()) {
        o.Set("scores", env.Null());
    } else {
        Napi::Array sc = Napi::Array::New(env, scores.size());
        for (size_t i = 0; i < scores.size(); i++) sc.Set((uint32_t)i, Napi::Number::New(env, scores[i]));
        o.Set("scores", sc);
    }
    return o;
}

// close(): drops this handle's reference; an operation in flight keeps the context until it ends.
Napi::Value ContextHandle::close(const Napi::CallbackInfo& info) {
    cancel_->store(true);
    ctx_.reset();
    if (batch_ && !batch_->closing) {
        batch_->closing = true;
        if (batch_->pending == 0) batch_->release();
    }
    return info.Env().Undefined();
}

}  // namespace rl
