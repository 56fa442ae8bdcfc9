// JS class TokenDecoderHandle: a streaming detokenizer bound to one model's vocabulary.
#pragma once

#include <napi.h>

#include <memory>

#include "../engine/model.h"
#include "../tokenizer/tokenizer.h"

namespace rl {

class TokenDecoderHandle : public Napi::ObjectWrap<TokenDecoderHandle> {
public:
    static Napi::Function define_class(Napi::Env env);
    // The decoder keeps the model (and so its vocabulary) alive until it is collected.
    // after >= 0: the decoded tokens continue a text that ended with that token (see StreamDecoder).
    static Napi::Object create(Napi::Env env, std::shared_ptr<Model> model, const DetokenizeOptions& opts,
                               int32_t after = -1);

    explicit TokenDecoderHandle(const Napi::CallbackInfo& info);

private:
    Napi::Value push(const Napi::CallbackInfo& info);
    Napi::Value finish(const Napi::CallbackInfo& info);

    std::shared_ptr<Model> model_;
    std::unique_ptr<StreamDecoder> decoder_;
};

}  // namespace rl
