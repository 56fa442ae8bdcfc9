// JS class ModelHandle: owns one loaded Model; lib/ wraps it as the public Model.
#pragma once

#include <napi.h>

#include <memory>

#include "addon.h"

namespace rl {

class ModelHandle : public Napi::ObjectWrap<ModelHandle> {
public:
    static Napi::Function define_class(Napi::Env env);
    // Wraps a freshly loaded model in a new JS object (main thread only).
    static Napi::Object create(Napi::Env env, std::shared_ptr<Model> model);

    explicit ModelHandle(const Napi::CallbackInfo& info);
    ~ModelHandle() override;

    // Frees the model; later calls from JS throw MODEL_CLOSED.
    void release();

private:
    Napi::Value info(const Napi::CallbackInfo& info);
    Napi::Value metadata_array(const Napi::CallbackInfo& info);
    Napi::Value close(const Napi::CallbackInfo& info);
    Napi::Value is_closed(const Napi::CallbackInfo& info);
    Napi::Value check_computable(const Napi::CallbackInfo& info);
    Napi::Value batch_stats(const Napi::CallbackInfo& info);
    // tokenizer_binding.cpp
    Napi::Value tokenize_sync(const Napi::CallbackInfo& info);
    Napi::Value tokenize_async(const Napi::CallbackInfo& info);
    Napi::Value detokenize_sync(const Napi::CallbackInfo& info);
    Napi::Value token_to_piece_js(const Napi::CallbackInfo& info);
    Napi::Value token_pieces_js(const Napi::CallbackInfo& info);
    Napi::Value vocab_info(const Napi::CallbackInfo& info);
    Napi::Value token_id(const Napi::CallbackInfo& info);
    Napi::Value create_decoder(const Napi::CallbackInfo& info);
    Napi::Value create_context_js(const Napi::CallbackInfo& info);
    Napi::Value estimate_memory(const Napi::CallbackInfo& info);

    const Model& live(Napi::Env env) const;

    std::shared_ptr<Model> model_;
    std::weak_ptr<OpenModels> registry_;
};

}  // namespace rl
