#include "decoder_handle.h"

#include "addon.h"

namespace rl {

Napi::Function TokenDecoderHandle::define_class(Napi::Env env) {
    return DefineClass(env, "TokenDecoderHandle",
                       {
                           InstanceMethod<&TokenDecoderHandle::push>("push"),
                           InstanceMethod<&TokenDecoderHandle::finish>("finish"),
                       });
}

Napi::Object TokenDecoderHandle::create(Napi::Env env, std::shared_ptr<Model> model, const DetokenizeOptions& opts,
                                        int32_t after) {
    RingllmAddon* addon = env.GetInstanceData<RingllmAddon>();
    Napi::Object obj = addon->decoder_ctor.New({});
    TokenDecoderHandle* self = TokenDecoderHandle::Unwrap(obj);
    self->decoder_ = std::make_unique<StreamDecoder>(model->vocab.get(), opts);
    if (after >= 0 && (size_t)after < model->vocab->size()) self->decoder_->continue_after(after);
    self->model_ = std::move(model);
    return obj;
}

TokenDecoderHandle::TokenDecoderHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<TokenDecoderHandle>(info) {}

// push(id) -> text completed by this token ("" while a character is still incomplete)
Napi::Value TokenDecoderHandle::push(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!decoder_) throw_invalid(env, "this decoder was not created by a model");
    if (info.Length() < 1 || !info[0].IsNumber()) throw_invalid(env, "push(token): token must be a number");
    double v = info[0].As<Napi::Number>().DoubleValue();
    if (!(v >= 0 && v <= 2147483647.0) || v != (double)(int64_t)v)
        throw_invalid(env, "push(token): token must be a non-negative integer id");
    std::string text;
    Status st = decoder_->push((int32_t)v, &text);
    if (!st.ok()) throw_status(env, st);
    return Napi::String::New(env, text);
}

// finish() -> whatever was held back (an incomplete character becomes U+FFFD)
Napi::Value TokenDecoderHandle::finish(const Napi::CallbackInfo& info) {
    if (!decoder_) throw_invalid(info.Env(), "this decoder was not created by a model");
    std::string text;
    decoder_->finish(&text);
    return Napi::String::New(info.Env(), text);
}

}  // namespace rl
