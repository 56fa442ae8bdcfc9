// N-API surface of ringllm. Per-environment state lives in RingllmAddon (instance data), never in
// statics, so the addon can be loaded by several worker_threads and reloaded by Electron.
#pragma once

#include <napi.h>

#include <memory>
#include <mutex>
#include <set>
#include <vector>

#include "../engine/model.h"
#include "../util/status.h"

namespace rl {

class ModelHandle;

// Models still open in one environment, closed by the environment's cleanup hook.
struct OpenModels {
    std::mutex mu;
    std::set<ModelHandle*> handles;
};

class Batcher;

class RingllmAddon : public Napi::Addon<RingllmAddon> {
public:
    RingllmAddon(Napi::Env env, Napi::Object exports);
    ~RingllmAddon();

    Napi::FunctionReference model_ctor;
    Napi::FunctionReference decoder_ctor;
    Napi::FunctionReference context_ctor;
    std::shared_ptr<OpenModels> open_models = std::make_shared<OpenModels>();
    // batchers of this environment's batched contexts: shut down at teardown, before the addon's
    // code may be unloaded under their threads
    std::mutex batchers_mu;
    std::vector<std::weak_ptr<Batcher>> batchers;

private:
    static void cleanup_hook(void* arg);
    napi_env env_;
};

// A JS Error carrying `code`, for throwing or rejecting.
Napi::Error error_from_status(Napi::Env env, const Status& st);
[[noreturn]] void throw_status(Napi::Env env, const Status& st);
[[noreturn]] void throw_invalid(Napi::Env env, const std::string& message);

// Settles a worker's promise on the JS thread: rejects with the worker's Status, or resolves with
// make_value(), whose own JS exceptions also become a rejection.
template <typename MakeValue>
inline void settle(Napi::Env env, Napi::Promise::Deferred& deferred, const Status& status, MakeValue make_value) {
    try {  // a terminating worker's environment refuses calls into JS (they throw): nothing to settle then
        Napi::HandleScope scope(env);
        if (!status.ok()) {
            deferred.Reject(error_from_status(env, status).Value());
            return;
        }
        try {
            deferred.Resolve(make_value());
        } catch (const Napi::Error& e) {
            deferred.Reject(e.Value());
        }
    } catch (...) {
    }
}

// Exports of the individual files.
Napi::Value system_info(const Napi::CallbackInfo& info);
Napi::Value read_gguf_info(const Napi::CallbackInfo& info);
Napi::Value load_model(const Napi::CallbackInfo& info);
Napi::Value list_gpus(const Napi::CallbackInfo& info);
Napi::Value set_cuda_plugin_path(const Napi::CallbackInfo& info);
Napi::Value ggml_types(const Napi::CallbackInfo& info);
Napi::Value kernel_run(const Napi::CallbackInfo& info);
Napi::Value sampler_run(const Napi::CallbackInfo& info);

}  // namespace rl
