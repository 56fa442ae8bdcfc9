// ModelHandle's tokenizer methods: tokenize, tokenizeAsync, detokenize, tokenToPiece, vocabInfo,
// createDecoder. Argument checks here are cheap re-checks; lib/ validates first.
#include <cmath>

#include "decoder_handle.h"
#include "model_handle.h"

namespace rl {

namespace {

const Vocab& vocab_of(Napi::Env env, const Model& m) {
    if (!m.vocab) throw_status(env, m.vocab_status);
    return *m.vocab;
}

TokenizeOptions tokenize_options(const Napi::CallbackInfo& info, size_t first) {
    TokenizeOptions o;
    if (info.Length() > first && info[first].IsBoolean()) o.add_special = info[first].As<Napi::Boolean>().Value();
    if (info.Length() > first + 1 && info[first + 1].IsBoolean())
        o.parse_special = info[first + 1].As<Napi::Boolean>().Value();
    return o;
}

DetokenizeOptions detokenize_options(const Napi::CallbackInfo& info, size_t first) {
    DetokenizeOptions o;
    if (info.Length() > first && info[first].IsBoolean()) o.remove_special = info[first].As<Napi::Boolean>().Value();
    if (info.Length() > first + 1 && info[first + 1].IsBoolean())
        o.unparse_special = info[first + 1].As<Napi::Boolean>().Value();
    return o;
}

Napi::Uint32Array ids_to_js(Napi::Env env, const std::vector<int32_t>& ids) {
    Napi::Uint32Array arr = Napi::Uint32Array::New(env, ids.size());
    for (size_t k = 0; k < ids.size(); k++) arr[k] = (uint32_t)ids[k];
    return arr;
}

// Token ids from a Uint32Array, Int32Array or array of numbers; each must be an integer id.
std::vector<int32_t> ids_from_js(Napi::Env env, Napi::Value v) {
    std::vector<int32_t> ids;
    auto check = [&](double x, size_t k) {
        if (!(x >= 0 && x <= 2147483647.0) || std::floor(x) != x)
            throw_invalid(env, "token at index " + std::to_string(k) + " is not a valid token id");
        ids.push_back((int32_t)x);
    };
    if (v.IsTypedArray()) {
        Napi::TypedArray ta = v.As<Napi::TypedArray>();
        if (ta.TypedArrayType() == napi_uint32_array) {
            Napi::Uint32Array a = v.As<Napi::Uint32Array>();
            for (size_t k = 0; k < a.ElementLength(); k++) check((double)a[k], k);
        } else if (ta.TypedArrayType() == napi_int32_array) {
            Napi::Int32Array a = v.As<Napi::Int32Array>();
            for (size_t k = 0; k < a.ElementLength(); k++) check((double)a[k], k);
        } else {
            throw_invalid(env, "tokens must be a Uint32Array, Int32Array or an array of numbers");
        }
    } else if (v.IsArray()) {
        Napi::Array a = v.As<Napi::Array>();
        for (uint32_t k = 0; k < a.Length(); k++) {
            Napi::Value e = a.Get(k);
            if (!e.IsNumber()) throw_invalid(env, "token at index " + std::to_string(k) + " is not a number");
            check(e.As<Napi::Number>().DoubleValue(), k);
        }
    } else {
        throw_invalid(env, "tokens must be a Uint32Array, Int32Array or an array of numbers");
    }
    return ids;
}

class TokenizeWorker : public Napi::AsyncWorker {
public:
    TokenizeWorker(Napi::Env env, std::shared_ptr<Model> model, std::string text, TokenizeOptions opts)
        : Napi::AsyncWorker(env, "ringllm.tokenize"), deferred_(Napi::Promise::Deferred::New(env)),
          model_(std::move(model)), text_(std::move(text)), opts_(opts) {}
    Napi::Promise promise() { return deferred_.Promise(); }
    void Execute() override { status_ = tokenize(*model_->vocab, text_, opts_, &ids_); }
    void OnOK() override {
        settle(Env(), deferred_, status_, [this] { return ids_to_js(Env(), ids_); });
    }

private:
    Napi::Promise::Deferred deferred_;
    std::shared_ptr<Model> model_;
    std::string text_;
    TokenizeOptions opts_;
    std::vector<int32_t> ids_;
    Status status_;
};

}  // namespace

// tokenize(text, addSpecial, parseSpecial) -> Uint32Array
Napi::Value ModelHandle::tokenize_sync(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const Vocab& vocab = vocab_of(env, live(env));
    if (info.Length() < 1 || !info[0].IsString()) throw_invalid(env, "tokenize(text): text must be a string");
    std::string text = info[0].As<Napi::String>().Utf8Value();
    std::vector<int32_t> ids;
    Status st = tokenize(vocab, text, tokenize_options(info, 1), &ids);
    if (!st.ok()) throw_status(env, st);
    return ids_to_js(env, ids);
}

// tokenizeAsync(text, addSpecial, parseSpecial) -> Promise<Uint32Array>, on the thread pool
Napi::Value ModelHandle::tokenize_async(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    vocab_of(env, live(env));
    if (info.Length() < 1 || !info[0].IsString()) throw_invalid(env, "tokenize(text): text must be a string");
    auto* worker = new TokenizeWorker(env, model_, info[0].As<Napi::String>().Utf8Value(), tokenize_options(info, 1));
    Napi::Promise p = worker->promise();
    worker->Queue();
    return p;
}

// detokenize(tokens, removeSpecial, unparseSpecial) -> string
Napi::Value ModelHandle::detokenize_sync(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const Vocab& vocab = vocab_of(env, live(env));
    if (info.Length() < 1) throw_invalid(env, "detokenize(tokens): tokens are required");
    std::vector<int32_t> ids = ids_from_js(env, info[0]);
    std::string text;
    Status st = detokenize(vocab, ids.data(), ids.size(), detokenize_options(info, 1), &text);
    if (!st.ok()) throw_status(env, st);
    return Napi::String::New(env, text);
}

// tokenToPiece(id, unparseSpecial) -> string
Napi::Value ModelHandle::token_to_piece_js(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const Vocab& vocab = vocab_of(env, live(env));
    if (info.Length() < 1 || !info[0].IsNumber()) throw_invalid(env, "tokenToText(id): id must be a number");
    Napi::Array one = Napi::Array::New(env, 1);
    one.Set(0u, info[0]);
    std::vector<int32_t> ids = ids_from_js(env, one);
    bool unparse = info.Length() > 1 && info[1].IsBoolean() && info[1].As<Napi::Boolean>().Value();
    std::string text;
    Status st = token_to_piece(vocab, ids[0], unparse, &text);
    if (!st.ok()) throw_status(env, st);
    return Napi::String::New(env, text);
}

// tokenPieces() -> { bytes: Buffer, offsets: Uint32Array (size + 1) }: every token's text as UTF-8
// bytes (control tokens empty), for grammar-constrained sampling's token trie.
Napi::Value ModelHandle::token_pieces_js(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const Vocab& vocab = vocab_of(env, live(env));
    const int32_t n = (int32_t)vocab.size();
    std::string all;
    Napi::Uint32Array offsets = Napi::Uint32Array::New(env, (size_t)n + 1);
    std::string text;
    for (int32_t id = 0; id < n; id++) {
        offsets[(size_t)id] = (uint32_t)all.size();
        text.clear();
        if (token_to_piece(vocab, id, false, &text).ok()) all += text;
    }
    offsets[(size_t)n] = (uint32_t)all.size();
    Napi::Object o = Napi::Object::New(env);
    o.Set("bytes", Napi::Buffer<char>::Copy(env, all.data(), all.size()));
    o.Set("offsets", offsets);
    return o;
}

// vocabInfo() -> { kind, model, pre, size, bos, eos, ..., types: Uint8Array, warnings }
Napi::Value ModelHandle::vocab_info(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const Vocab& v = vocab_of(env, live(env));
    Napi::Object o = Napi::Object::New(env);
    static const char* const kinds[] = {"spm", "bpe", "wpm"};
    o.Set("kind", kinds[v.kind]);
    o.Set("model", v.model);
    o.Set("pre", v.pre);
    o.Set("size", Napi::Number::New(env, (double)v.size()));
    auto id = [&](const char* name, int32_t x) { o.Set(name, x < 0 ? env.Null() : Napi::Number::New(env, x)); };
    id("bos", v.bos);
    id("eos", v.eos);
    id("eot", v.eot);
    id("eom", v.eom);
    id("unk", v.unk);
    id("pad", v.pad);
    id("sep", v.sep);
    id("cls", v.cls);
    id("mask", v.mask);
    id("linefeed", v.linefeed);
    o.Set("addBos", Napi::Boolean::New(env, v.add_bos));
    o.Set("addEos", Napi::Boolean::New(env, v.add_eos));
    o.Set("addSpacePrefix", Napi::Boolean::New(env, v.add_space_prefix));
    Napi::Uint8Array types = Napi::Uint8Array::New(env, v.size());
    for (size_t k = 0; k < v.size(); k++) types[k] = (uint8_t)v.types[k];
    o.Set("types", types);
    Napi::Array warnings = Napi::Array::New(env, v.warnings.size());
    for (size_t k = 0; k < v.warnings.size(); k++) warnings.Set((uint32_t)k, v.warnings[k]);
    o.Set("warnings", warnings);
    return o;
}

// tokenId(text) -> id or -1: the token whose stored text is exactly `text`
Napi::Value ModelHandle::token_id(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const Vocab& v = vocab_of(env, live(env));
    if (info.Length() < 1 || !info[0].IsString()) throw_invalid(env, "tokenId(text): text must be a string");
    auto it = v.token_to_id.find(info[0].As<Napi::String>().Utf8Value());
    return Napi::Number::New(env, it == v.token_to_id.end() ? -1 : it->second);
}

// createDecoder(removeSpecial, unparseSpecial, after?) -> TokenDecoderHandle (after: the token the
// decoded text continues, or -1 for the start of a text)
Napi::Value ModelHandle::create_decoder(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    vocab_of(env, live(env));
    const int32_t after = info.Length() > 2 && info[2].IsNumber() ? info[2].As<Napi::Number>().Int32Value() : -1;
    return TokenDecoderHandle::create(env, model_, detokenize_options(info, 0), after);
}

}  // namespace rl
