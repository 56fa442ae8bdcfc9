#include "context_handle.h"

#include <cmath>
#include <functional>
#include <limits>

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
        Napi::HandleScope scope(Env());
        if (!status_.ok()) {
            deferred_.Reject(error_from_status(Env(), status_).Value());
            return;
        }
        try {
            deferred_.Resolve(result_(Env()));
        } catch (const Napi::Error& e) {
            deferred_.Reject(e.Value());
        }
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
    CreateWorker(Napi::Env env, std::shared_ptr<Model> model, ContextParams params)
        : Napi::AsyncWorker(env, "ringllm.createContext"), deferred_(Napi::Promise::Deferred::New(env)),
          model_(std::move(model)), params_(params) {}
    Napi::Promise promise() { return deferred_.Promise(); }
    void Execute() override { status_ = Context::create(model_, params_, &ctx_); }
    void OnOK() override {
        Napi::HandleScope scope(Env());
        if (!status_.ok()) {
            deferred_.Reject(error_from_status(Env(), status_).Value());
            return;
        }
        try {
            deferred_.Resolve(ContextHandle::create(Env(), std::shared_ptr<Context>(std::move(ctx_))));
        } catch (const Napi::Error& e) {
            deferred_.Reject(e.Value());
        }
    }

private:
    Napi::Promise::Deferred deferred_;
    std::shared_ptr<Model> model_;
    ContextParams params_;
    std::unique_ptr<Context> ctx_;
    Status status_;
};

}  // namespace

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
    return p;
}

Napi::Value create_context(const Napi::CallbackInfo& info, std::shared_ptr<Model> model) {
    Napi::Env env = info.Env();
    ContextParams p;
    if (info.Length() > 0 && info[0].IsObject()) {
        Napi::Object o = info[0].As<Napi::Object>();
        p.n_ctx = int_opt(o, "contextSize", p.n_ctx, 0, 1 << 24);
        p.n_batch = int_opt(o, "batchSize", p.n_batch, 1, 1 << 16);
        p.n_threads = int_opt(o, "threads", p.n_threads, 0, 1024);
        Napi::Value seed = o.Get("seed");
        if (!seed.IsUndefined()) {
            double d = seed.IsNumber() ? seed.As<Napi::Number>().DoubleValue() : -1;
            if (!(d >= 0 && d <= 9007199254740991.0) || std::floor(d) != d)
                throw_invalid(env, "seed must be a non-negative integer");
            p.seed = (uint64_t)d;
        }
    }
    auto* worker = new CreateWorker(env, std::move(model), p);
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
                           InstanceMethod<&ContextHandle::info>("info"),
                           InstanceMethod<&ContextHandle::set_seed>("setSeed"),
                           InstanceMethod<&ContextHandle::close>("close"),
                       });
}

Napi::Object ContextHandle::create(Napi::Env env, std::shared_ptr<Context> ctx) {
    RingllmAddon* addon = env.GetInstanceData<RingllmAddon>();
    Napi::Object obj = addon->context_ctor.New({});
    ContextHandle::Unwrap(obj)->ctx_ = std::move(ctx);
    return obj;
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
    auto* worker = new ContextWorker(
        env, ctx, busy_,
        [ids, all, logits, cancel](Context& c) { return c.decode(ids->data(), ids->size(), all, logits.get(), cancel.get()); },
        [logits](Napi::Env e) -> Napi::Value {
            Napi::Float32Array out = Napi::Float32Array::New(e, logits->size());
            std::copy(logits->begin(), logits->end(), out.Data());
            return out;
        });
    Napi::Promise p = worker->promise();
    worker->Queue();
    return p;
}

// step(samplerParams, feedToken) -> Promise<token>: decodes feedToken first when >= 0, then samples.
Napi::Value ContextHandle::step(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::shared_ptr<Context> ctx = live(env);
    if (info.Length() < 2 || !info[0].IsObject() || !info[1].IsNumber()) throw_invalid(env, "step(params, feedToken)");
    SamplerParams params = sampler_params(info[0].As<Napi::Object>());
    double feed_d = info[1].As<Napi::Number>().DoubleValue();
    if (!(feed_d >= -1 && feed_d <= 2147483647.0) || std::floor(feed_d) != feed_d)
        throw_invalid(env, "feedToken must be a token id or -1");
    int32_t feed = (int32_t)feed_d;
    if (busy_->exchange(true))
        throw_status(env, status_error("CONTEXT_BUSY", "another call on this context is still running"));
    cancel_->store(false);
    auto token = std::make_shared<int32_t>(-1);
    auto cancel = cancel_;
    auto* worker = new ContextWorker(
        env, ctx, busy_,
        [params, feed, token, cancel](Context& c) {
            if (feed >= 0) {
                std::vector<float> unused;
                Status st = c.decode(&feed, 1, false, &unused, cancel.get());
                if (!st.ok()) return st;
            }
            return c.sample(params, token.get());
        },
        [token](Napi::Env e) -> Napi::Value { return Napi::Number::New(e, *token); });
    Napi::Promise p = worker->promise();
    worker->Queue();
    return p;
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
    o.Set("position", Napi::Number::New(env, ctx->position()));
    o.Set("contextSize", Napi::Number::New(env, ctx->n_ctx()));
    o.Set("vocabSize", Napi::Number::New(env, ctx->n_vocab()));
    return o;
}

// close(): drops this handle's reference; an operation in flight keeps the context until it ends.
Napi::Value ContextHandle::close(const Napi::CallbackInfo& info) {
    cancel_->store(true);
    ctx_.reset();
    return info.Env().Undefined();
}

}  // namespace rl
