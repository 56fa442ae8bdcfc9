#include "addon.h"

#include "../engine/batcher.h"
#include "context_handle.h"
#include "decoder_handle.h"
#include "model_handle.h"

namespace rl {

Napi::Error error_from_status(Napi::Env env, const Status& st) {
    Napi::Error err = Napi::Error::New(env, st.message);
    err.Set("code", Napi::String::New(env, st.code));
    return err;
}

void throw_status(Napi::Env env, const Status& st) { throw error_from_status(env, st); }

void throw_invalid(Napi::Env env, const std::string& message) {
    throw_status(env, status_error("INVALID_ARGUMENT", message));
}

RingllmAddon::RingllmAddon(Napi::Env env, Napi::Object exports) : env_(env) {
    model_ctor = Napi::Persistent(ModelHandle::define_class(env));
    decoder_ctor = Napi::Persistent(TokenDecoderHandle::define_class(env));
    context_ctor = Napi::Persistent(ContextHandle::define_class(env));
    DefineAddon(exports, {
                             InstanceValue("ModelHandle", model_ctor.Value(), napi_enumerable),
                         });
    exports.Set("systemInfo", Napi::Function::New(env, system_info, "systemInfo"));
    exports.Set("readGgufInfo", Napi::Function::New(env, read_gguf_info, "readGgufInfo"));
    exports.Set("loadModel", Napi::Function::New(env, load_model, "loadModel"));
    exports.Set("listGpus", Napi::Function::New(env, list_gpus, "listGpus"));
    exports.Set("setCudaPluginPath", Napi::Function::New(env, set_cuda_plugin_path, "setCudaPluginPath"));
    exports.Set("ggmlTypes", Napi::Function::New(env, ggml_types, "ggmlTypes"));
    exports.Set("kernelRun", Napi::Function::New(env, kernel_run, "kernelRun"));
    exports.Set("samplerRun", Napi::Function::New(env, sampler_run, "samplerRun"));
    napi_add_env_cleanup_hook(env, cleanup_hook, this);
}

RingllmAddon::~RingllmAddon() {
    // Instance data is freed at environment teardown; the hook may already have run.
    napi_remove_env_cleanup_hook(env_, cleanup_hook, this);
}

// Environment teardown (worker exit, Electron reload): unmap every model still open now
// instead of whenever their finalizers happen to run.
void RingllmAddon::cleanup_hook(void* arg) {
    RingllmAddon* self = static_cast<RingllmAddon*>(arg);
    std::set<ModelHandle*> handles;
    {
        std::lock_guard<std::mutex> lock(self->open_models->mu);
        handles.swap(self->open_models->handles);
    }
    for (ModelHandle* h : handles) h->release();
    std::vector<std::weak_ptr<Batcher>> batchers;
    {
        std::lock_guard<std::mutex> lock(self->batchers_mu);
        batchers.swap(self->batchers);
    }
    for (auto& w : batchers)
        if (auto b = w.lock()) b->shutdown();
}

}  // namespace rl

using rl::RingllmAddon;
NODE_API_ADDON(RingllmAddon)
