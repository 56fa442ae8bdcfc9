// samplerRun(): a test hook that draws from the native sampler on fixed logits, so tests can check
// the distributions of top-k / top-p / min-p / temperature and the penalties without a model.
#include "../engine/sampler.h"
#include "addon.h"
#include "context_handle.h"

namespace rl {

// samplerRun(logits: Float32Array, params, seed, draws, history: Uint32Array) -> Uint32Array counts
Napi::Value sampler_run(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 5 || !info[0].IsTypedArray() || !info[1].IsObject() || !info[2].IsNumber() ||
        !info[3].IsNumber() || !info[4].IsTypedArray())
        throw_invalid(env, "samplerRun(logits, params, seed, draws, history)");
    Napi::Float32Array logits = info[0].As<Napi::Float32Array>();
    Napi::Uint32Array hist = info[4].As<Napi::Uint32Array>();
    int32_t n = (int32_t)logits.ElementLength();
    uint32_t draws = info[3].As<Napi::Number>().Uint32Value();
    if (n <= 0 || draws > 10000000) throw_invalid(env, "samplerRun: need logits and at most 1e7 draws");
    SamplerParams params = sampler_params(info[1].As<Napi::Object>());
    std::vector<int32_t> history(hist.ElementLength());
    for (size_t k = 0; k < history.size(); k++) history[k] = (int32_t)hist[k];
    Sampler s;
    Status st = sampler_init(&s, n, (uint64_t)info[2].As<Napi::Number>().DoubleValue());
    if (!st.ok()) throw_status(env, st);
    Napi::Uint32Array counts = Napi::Uint32Array::New(env, (size_t)n);
    for (uint32_t d = 0; d < draws; d++) {
        int32_t tok = -1;
        st = sampler_sample(&s, params, logits.Data(), history.data(), (int32_t)history.size(), &tok);
        if (!st.ok()) throw_status(env, st);
        counts[(size_t)tok]++;
    }
    return counts;
}

}  // namespace rl
