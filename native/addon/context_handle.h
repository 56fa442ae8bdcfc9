// JS class ContextHandle: one inference Context. lib/ serializes calls (one in flight at a time);
// the handle re-checks and rejects overlapping calls with CONTEXT_BUSY.
#pragma once

#include <napi.h>

#include <atomic>
#include <functional>
#include <memory>

#include "../engine/batcher.h"
#include "../engine/context.h"

namespace rl {

class ContextHandle : public Napi::ObjectWrap<ContextHandle> {
public:
    static Napi::Function define_class(Napi::Env env);
    static Napi::Object create(Napi::Env env, std::shared_ptr<Context> ctx, std::shared_ptr<Batcher> batcher);
    using Job = std::function<Status(Context&)>;
    using Result = std::function<Napi::Value(Napi::Env)>;
    struct BatchLink;  // a batched context's batcher and the thread-safe function settling its calls

    explicit ContextHandle(const Napi::CallbackInfo& info);

private:
    Napi::Value decode(const Napi::CallbackInfo& info);
    Napi::Value step(const Napi::CallbackInfo& info);
    Napi::Value cancel(const Napi::CallbackInfo& info);
    Napi::Value reset(const Napi::CallbackInfo& info);
    Napi::Value truncate(const Napi::CallbackInfo& info);
    Napi::Value save_state(const Napi::CallbackInfo& info);
    Napi::Value embed(const Napi::CallbackInfo& info);
    Napi::Value load_state(const Napi::CallbackInfo& info);
    Napi::Value tokens(const Napi::CallbackInfo& info);
    Napi::Value info(const Napi::CallbackInfo& info);
    Napi::Value set_seed(const Napi::CallbackInfo& info);
    Napi::Value close(const Napi::CallbackInfo& info);
    Napi::Value stats(const Napi::CallbackInfo& info);
    Napi::Value kv_slots(const Napi::CallbackInfo& info);

    std::shared_ptr<Context> live(Napi::Env env);
    // Runs job for the context and settles a promise with result: on the libuv pool, or (batched
    // contexts) alone on the batcher's thread between steps.
    Napi::Value run(Napi::Env env, std::shared_ptr<Context> ctx, Job job, Result result);
    // Submits a batched job (decode/step of a batched context, or an exclusive one).
    Napi::Value submit(Napi::Env env, std::shared_ptr<BatchJob> job, Result result);

    std::shared_ptr<Context> ctx_;
    std::shared_ptr<std::atomic<bool>> busy_ = std::make_shared<std::atomic<bool>>(false);
    std::shared_ptr<std::atomic<bool>> cancel_ = std::make_shared<std::atomic<bool>>(false);
    std::shared_ptr<BatchLink> batch_;  // null: not batched
};

SamplerParams sampler_params(Napi::Object o);

// { steps, rows, meanSequences, maxSequences, lastSequences, running } (ContextStats.batch in lib/).
Napi::Object batch_stats_to_js(Napi::Env env, const BatcherStats& b);

// ModelHandle.createContext(params) -> Promise<ContextHandle>
Napi::Value create_context(const Napi::CallbackInfo& info, std::shared_ptr<Model> model);
// createContext's options (info[0]) as ContextParams; batched: whether it joins batched steps.
ContextParams context_params(const Napi::CallbackInfo& info, bool* batched);

}  // namespace rl
