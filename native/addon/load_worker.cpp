// Async file work: readGgufInfo and loadModel run on libuv's thread pool, never on the JS thread.
#include <atomic>
#include <memory>

#include "addon.h"
#include "gguf_js.h"
#include "model_handle.h"

namespace rl {

namespace {

std::string path_arg(const Napi::CallbackInfo& info) {
    if (info.Length() < 1 || !info[0].IsString()) throw_invalid(info.Env(), "path must be a string");
    std::string path = info[0].As<Napi::String>().Utf8Value();
    if (path.empty() || path.find('\0') != std::string::npos)
        throw_invalid(info.Env(), "path must be a non-empty string without NUL characters");
    return path;
}

bool bool_opt(Napi::Object opts, const char* name, bool dflt) {
    Napi::Value v = opts.Get(name);
    if (v.IsUndefined()) return dflt;
    if (!v.IsBoolean()) throw_invalid(opts.Env(), std::string(name) + " must be a boolean");
    return v.As<Napi::Boolean>().Value();
}

class InfoWorker : public Napi::AsyncWorker {
public:
    InfoWorker(Napi::Env env, std::string path, uint32_t max_array)
        : Napi::AsyncWorker(env, "ringllm.readGgufInfo"), deferred_(Napi::Promise::Deferred::New(env)),
          path_(std::move(path)), max_array_(max_array) {}

    Napi::Promise promise() { return deferred_.Promise(); }

    void Execute() override { status_ = file_.open_header(path_); }

    void OnOK() override {
        settle(Env(), deferred_, status_,
               [this] { return gguf_header_to_js(Env(), file_.header(), file_.file_size(), max_array_); });
    }

private:
    Napi::Promise::Deferred deferred_;
    std::string path_;
    uint32_t max_array_;
    GgufFile file_;
    Status status_;
};

class LoadWorker : public Napi::AsyncProgressWorker<double> {
public:
    LoadWorker(Napi::Env env, std::string path, ModelLoadOptions opts, Napi::Function on_progress,
               std::shared_ptr<std::atomic<bool>> cancel)
        : Napi::AsyncProgressWorker<double>(env, "ringllm.loadModel"),
          deferred_(Napi::Promise::Deferred::New(env)), path_(std::move(path)), opts_(opts),
          cancel_(std::move(cancel)) {
        if (!on_progress.IsEmpty()) on_progress_ = Napi::Persistent(on_progress);
    }

    Napi::Promise promise() { return deferred_.Promise(); }

    void Execute(const ExecutionProgress& progress) override {
        ProgressFn fn;
        if (!on_progress_.IsEmpty()) fn = [&progress](double f) { progress.Send(&f, 1); };
        status_ = model_load(path_, opts_, fn, cancel_.get(), &model_);
        if (status_.ok() && cancel_->load()) status_ = status_error("ABORTED", "loading '" + path_ + "' was aborted");
    }

    void OnProgress(const double* data, size_t count) override {
        if (on_progress_.IsEmpty() || count == 0) return;
        Napi::HandleScope scope(Env());
        try {
            on_progress_.Call({Napi::Number::New(Env(), data[count - 1])});
        } catch (const Napi::Error&) {
            // A throwing progress callback must not take the load down; lib/ reports it.
        }
    }

    void OnOK() override {
        settle(Env(), deferred_, status_,
               [this] { return ModelHandle::create(Env(), std::shared_ptr<Model>(std::move(model_))); });
    }

private:
    Napi::Promise::Deferred deferred_;
    std::string path_;
    ModelLoadOptions opts_;
    Napi::FunctionReference on_progress_;
    std::shared_ptr<std::atomic<bool>> cancel_;
    std::unique_ptr<Model> model_;
    Status status_;
};

}  // namespace

// readGgufInfo(path, maxArrayLength?) -> Promise<info>
Napi::Value read_gguf_info(const Napi::CallbackInfo& info) {
    std::string path = path_arg(info);
    uint32_t max_array = 1024;
    if (info.Length() > 1 && info[1].IsNumber()) max_array = info[1].As<Napi::Number>().Uint32Value();
    auto* worker = new InfoWorker(info.Env(), std::move(path), max_array);
    Napi::Promise p = worker->promise();
    worker->Queue();
    return p;
}

// loadModel(path, {vocabOnly, useMmap, gpu, gpuDevice, gpuLayers (-1 every layer, -2 as many as fit)}, onProgress?)
//   -> {promise, cancel()}
Napi::Value load_model(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::string path = path_arg(info);
    ModelLoadOptions opts;
    if (info.Length() > 1 && info[1].IsObject()) {
        Napi::Object o = info[1].As<Napi::Object>();
        opts.vocab_only = bool_opt(o, "vocabOnly", false);
        opts.use_mmap = bool_opt(o, "useMmap", true);
        Napi::Value gpu = o.Get("gpu");
        if (!gpu.IsUndefined()) {
            if (!gpu.IsString()) throw_invalid(env, "gpu must be a string");
            opts.gpu = gpu.As<Napi::String>().Utf8Value();
            if (opts.gpu != "" && opts.gpu != "auto" && opts.gpu != "vulkan" && opts.gpu != "cuda")
                throw_invalid(env, "gpu must be \"\", \"auto\", \"vulkan\" or \"cuda\"");
        }
        Napi::Value device = o.Get("gpuDevice");
        if (!device.IsUndefined()) {
            if (!device.IsString()) throw_invalid(env, "gpuDevice must be a string");
            opts.gpu_device = device.As<Napi::String>().Utf8Value();
        }
        Napi::Value layers = o.Get("gpuLayers");
        if (!layers.IsUndefined()) {
            if (!layers.IsNumber()) throw_invalid(env, "gpuLayers must be a number");
            const double n = layers.As<Napi::Number>().DoubleValue();
            if (n != (int32_t)n || n < -2) throw_invalid(env, "gpuLayers must be an integer >= -2");
            opts.gpu_layers = (int32_t)n;
        }
    }
    Napi::Function on_progress;
    if (info.Length() > 2 && info[2].IsFunction()) on_progress = info[2].As<Napi::Function>();
    auto cancel = std::make_shared<std::atomic<bool>>(false);
    auto* worker = new LoadWorker(env, std::move(path), opts, on_progress, cancel);
    Napi::Object job = Napi::Object::New(env);
    job.Set("promise", worker->promise());
    job.Set("cancel", Napi::Function::New(
                          env, [cancel](const Napi::CallbackInfo&) { cancel->store(true); }, "cancel"));
    worker->Queue();
    return job;
}

}  // namespace rl
