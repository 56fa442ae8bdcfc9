// listGpus(): the devices of every GPU backend, enumerated on libuv's thread pool (loading a Vulkan
// driver can take a while; the event loop never waits for it).
#include "../backend/cuda/cuda_loader.h"
#include "../backend/gpu.h"
#include "addon.h"

namespace rl {

namespace {

class ListGpusWorker : public Napi::AsyncWorker {
public:
    explicit ListGpusWorker(Napi::Env env)
        : Napi::AsyncWorker(env, "ringllm.listGpus"), deferred_(Napi::Promise::Deferred::New(env)) {}
    Napi::Promise promise() { return deferred_.Promise(); }
    void Execute() override { gpu_list(&devices_, &errors_); }
    void OnOK() override {
        settle(Env(), deferred_, status_ok(), [this] {
            Napi::Env env = Env();
            Napi::Array list = Napi::Array::New(env, devices_.size());
            for (size_t i = 0; i < devices_.size(); i++) {
                const GpuInfo& d = devices_[i];
                Napi::Object o = Napi::Object::New(env);
                o.Set("backend", Napi::String::New(env, d.backend));
                o.Set("name", Napi::String::New(env, d.name));
                o.Set("type", Napi::String::New(env, d.type));
                o.Set("memory", Napi::Number::New(env, (double)d.memory));
                o.Set("index", Napi::Number::New(env, d.index));
                list.Set((uint32_t)i, o);
            }
            Napi::Object out = Napi::Object::New(env);
            out.Set("devices", list);
            out.Set("errors", Napi::String::New(env, errors_));
            return out;
        });
    }

private:
    Napi::Promise::Deferred deferred_;
    std::vector<GpuInfo> devices_;
    std::string errors_;
};

}  // namespace

// listGpus() -> Promise<{ devices: [{ backend, name, type, memory, index }], errors: string }>
Napi::Value list_gpus(const Napi::CallbackInfo& info) {
    auto* worker = new ListGpusWorker(info.Env());
    Napi::Promise p = worker->promise();
    worker->Queue();
    return p;
}

// setCudaPluginPath(path): the plugin of an installed @ringllm/<platform>-<arch>-cuda package (the JS
// loader finds it); used when no plugin lies beside the addon. Only a path is stored: nothing loads.
Napi::Value set_cuda_plugin_path(const Napi::CallbackInfo& info) {
    if (info.Length() < 1 || !info[0].IsString()) throw_invalid(info.Env(), "setCudaPluginPath(path: string)");
    cuda_set_package_plugin(info[0].As<Napi::String>().Utf8Value());
    return info.Env().Undefined();
}

}  // namespace rl
