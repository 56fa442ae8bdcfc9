#include "model_handle.h"

#include <cmath>

#include "../engine/transformer.h"
#include "../engine/transformer_gpu.h"

#include "../engine/batcher.h"
#include "context_handle.h"
#include "gguf_js.h"

namespace rl {

Napi::Function ModelHandle::define_class(Napi::Env env) {
    return DefineClass(env, "ModelHandle",
                       {
                           InstanceMethod<&ModelHandle::info>("info"),
                           InstanceMethod<&ModelHandle::metadata_array>("metadataArray"),
                           InstanceMethod<&ModelHandle::close>("close"),
                           InstanceMethod<&ModelHandle::is_closed>("isClosed"),
                           InstanceMethod<&ModelHandle::check_computable>("checkComputable"),
                           InstanceMethod<&ModelHandle::tokenize_sync>("tokenize"),
                           InstanceMethod<&ModelHandle::tokenize_async>("tokenizeAsync"),
                           InstanceMethod<&ModelHandle::detokenize_sync>("detokenize"),
                           InstanceMethod<&ModelHandle::token_to_piece_js>("tokenToPiece"),
                           InstanceMethod<&ModelHandle::token_pieces_js>("tokenPieces"),
                           InstanceMethod<&ModelHandle::vocab_info>("vocabInfo"),
                           InstanceMethod<&ModelHandle::token_id>("tokenId"),
                           InstanceMethod<&ModelHandle::create_decoder>("createDecoder"),
                           InstanceMethod<&ModelHandle::create_context_js>("createContext"),
                           InstanceMethod<&ModelHandle::batch_stats>("batchStats"),
                           InstanceMethod<&ModelHandle::estimate_memory>("estimateMemory"),
                       });
}

Napi::Object ModelHandle::create(Napi::Env env, std::shared_ptr<Model> model) {
    RingllmAddon* addon = env.GetInstanceData<RingllmAddon>();
    Napi::Object obj = addon->model_ctor.New({});
    ModelHandle* self = ModelHandle::Unwrap(obj);
    self->model_ = std::move(model);
    self->registry_ = addon->open_models;
    {
        std::lock_guard<std::mutex> lock(addon->open_models->mu);
        addon->open_models->handles.insert(self);
    }
    return obj;
}

ModelHandle::ModelHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ModelHandle>(info) {}

ModelHandle::~ModelHandle() { release(); }

void ModelHandle::release() {
    if (auto reg = registry_.lock()) {
        std::lock_guard<std::mutex> lock(reg->mu);
        reg->handles.erase(this);
    }
    registry_.reset();
    model_.reset();  // unmaps the file once no async work still holds it
}

const Model& ModelHandle::live(Napi::Env env) const {
    if (!model_) throw_status(env, status_error("MODEL_CLOSED", "the model was closed; load it again to use it"));
    return *model_;
}

Napi::Value ModelHandle::info(const Napi::CallbackInfo& info) {
    const Model& m = live(info.Env());
    uint32_t max_array = info.Length() > 0 && info[0].IsNumber() ? info[0].As<Napi::Number>().Uint32Value() : 1024;
    Napi::Object out = gguf_header_to_js(info.Env(), m.file.header(), m.file.file_size(), max_array);
    out.Set("vocabOnly", Napi::Boolean::New(info.Env(), m.options.vocab_only));
    out.Set("mapped", Napi::Boolean::New(info.Env(), m.file.mapped()));
    Napi::Env env = info.Env();
    if (m.gpu) {
        Napi::Object g = Napi::Object::New(env);
        g.Set("backend", Napi::String::New(env, m.gpu->dev->info().backend));
        g.Set("device", Napi::String::New(env, m.gpu->dev->info().name));
        g.Set("type", Napi::String::New(env, m.gpu->dev->info().type));
        g.Set("layers", Napi::Number::New(env, (double)m.gpu->layers.size()));
        g.Set("output", Napi::Boolean::New(env, m.gpu->has_output));
        g.Set("bytes", Napi::Number::New(env, (double)m.gpu->bytes));
        out.Set("gpu", g);
    } else {
        out.Set("gpu", env.Null());
    }
    out.Set("gpuNote", m.gpu_note.empty() ? env.Null() : Napi::String::New(env, m.gpu_note));
    return out;
}

Napi::Value ModelHandle::metadata_array(const Napi::CallbackInfo& info) {
    const Model& m = live(info.Env());
    if (info.Length() < 1 || !info[0].IsString()) throw_invalid(info.Env(), "metadataArray(key): key must be a string");
    std::string key = info[0].As<Napi::String>().Utf8Value();
    const GgufValue* v = m.file.header().find(key);
    if (!v) return info.Env().Undefined();
    return gguf_value_to_js(info.Env(), *v, UINT32_MAX);
}

namespace {

// Drops the last reference to a model on the thread pool: unmapping gigabytes can take a while.
class ReleaseWorker : public Napi::AsyncWorker {
public:
    ReleaseWorker(Napi::Env env, std::shared_ptr<Model> model)
        : Napi::AsyncWorker(env, "ringllm.closeModel"), deferred_(Napi::Promise::Deferred::New(env)),
          model_(std::move(model)) {}
    Napi::Promise promise() { return deferred_.Promise(); }
    void Execute() override { model_.reset(); }
    void OnOK() override { deferred_.Resolve(Env().Undefined()); }

private:
    Napi::Promise::Deferred deferred_;
    std::shared_ptr<Model> model_;
};

}  // namespace

// close() -> Promise<void>; idempotent.
Napi::Value ModelHandle::close(const Napi::CallbackInfo& info) {
    std::shared_ptr<Model> model = model_;
    release();
    auto* worker = new ReleaseWorker(info.Env(), std::move(model));
    Napi::Promise p = worker->promise();
    worker->Queue();
    return p;
}

Napi::Value ModelHandle::is_closed(const Napi::CallbackInfo& info) {
    return Napi::Boolean::New(info.Env(), !model_);
}

// createContext(params) -> Promise<ContextHandle>; the context keeps the model mapped.
Napi::Value ModelHandle::create_context_js(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    live(env);
    if (model_->options.vocab_only)
        throw_status(env, status_error("INVALID_ARGUMENT", "the model was loaded with vocabOnly; load it without "
                                                           "vocabOnly to create a context"));
    return create_context(info, model_);
}

// batchStats() -> [{ threads, steps, rows, meanSequences, maxSequences, lastSequences, running }]:
// the model's batchers (one per thread count of its batched contexts) that are alive.
// estimateMemory(createContext options) -> { weights, kv, compute, contextSize } in bytes (the
// header and norms only: cheap enough for the main thread)
Napi::Value ModelHandle::estimate_memory(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const Model& m = live(env);
    if (!m.file.has_data()) throw_status(env, status_error("INVALID_ARGUMENT", "the model was loaded for its vocabulary only"));
    const ContextParams p = context_params(info, nullptr);
    MemoryEstimate e;
    if (transformer_arch_supported(m.architecture)) {
        Status st = transformer_estimate(m, p, &e);
        if (!st.ok()) throw_status(env, st);
    } else {
        for (const GgufTensorInfo& t : m.file.header().tensors) e.weights += (int64_t)t.n_bytes;
    }
    Napi::Object o = Napi::Object::New(env);
    o.Set("weights", Napi::Number::New(env, (double)e.weights));
    o.Set("kv", Napi::Number::New(env, (double)e.kv));
    o.Set("compute", Napi::Number::New(env, (double)e.compute));
    o.Set("contextSize", Napi::Number::New(env, e.n_ctx == kContextUnbounded ? INFINITY : (double)e.n_ctx));
    return o;
}

Napi::Value ModelHandle::batch_stats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    live(env);
    Model& m = *model_;
    std::vector<std::pair<int, BatcherStats>> list;
    {
        std::lock_guard<std::mutex> lock(m.batchers_mutex);
        for (auto& [threads, weak] : m.batchers)
            if (auto b = weak.lock()) list.emplace_back(threads, b->stats());
    }
    Napi::Array out = Napi::Array::New(env, list.size());
    for (size_t i = 0; i < list.size(); i++) {
        Napi::Object o = batch_stats_to_js(env, list[i].second);
        o.Set("threads", Napi::Number::New(env, list[i].first));
        out.Set((uint32_t)i, o);
    }
    return out;
}

Napi::Value ModelHandle::check_computable(const Napi::CallbackInfo& info) {
    Status st = model_check_computable(live(info.Env()));
    if (!st.ok()) throw_status(info.Env(), st);
    return info.Env().Undefined();
}

}  // namespace rl
