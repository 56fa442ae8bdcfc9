// libFuzzer target for the saved-state loader (Context::load_state). scripts/fuzz.sh builds and runs
// it. The first input byte picks a context (full cache, a wrapped window ring, h2o); the rest is a
// state whose checksum trailer the harness rewrites, so mutations reach the field checks behind it.
// Every input must end as a loaded state (the context then decodes) or as STATE_CORRUPT /
// STATE_MISMATCH with the context unchanged (its own saved state byte for byte); anything else —
// a crash, a sanitizer report, another status, a changed context — is a bug.
// Model: RINGLLM_FUZZ_MODEL (default ../shared/models/stories260K.gguf). RINGLLM_FUZZ_SEEDS=dir
// writes each context's valid state there as a seed.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "../../engine/context.h"
#include "../../engine/model.h"

using namespace rl;

namespace {

std::shared_ptr<Model> g_model;
std::unique_ptr<Context> g_ctx[3];
std::vector<uint8_t> g_saved[3];

[[noreturn]] void die(const char* what, const Status& st) {
    std::fprintf(stderr, "state_fuzz: %s: %s %s\n", what, st.code.c_str(), st.message.c_str());
    std::abort();
}

std::vector<uint8_t> save(Context& c) {
    std::vector<uint8_t> out;
    VectorSink sink(&out);
    Status st = c.save_state(&sink, -1);
    if (!st.ok()) die("save_state", st);
    return out;
}

void setup() {
    const char* path = std::getenv("RINGLLM_FUZZ_MODEL");
    std::unique_ptr<Model> m;
    Status st = model_load(path ? path : "../shared/models/stories260K.gguf", ModelLoadOptions{}, nullptr, nullptr, &m);
    if (!st.ok()) die("model_load (set RINGLLM_FUZZ_MODEL)", st);
    g_model = std::shared_ptr<Model>(std::move(m));
    ContextParams p[3];
    p[0].n_ctx = 128;
    p[1].n_ctx = kContextUnbounded;
    p[1].kv.policy = KvPolicyChoice::Window;
    p[1].kv.window = 16;
    p[2].n_ctx = 128;
    p[2].kv.policy = KvPolicyChoice::H2O;
    p[2].kv.heavy = 8;
    p[2].kv.recent = 8;
    std::vector<int32_t> tokens;
    for (int i = 0; i < 40; i++) tokens.push_back(3 + (i * 37) % 500);
    const char* seeds = std::getenv("RINGLLM_FUZZ_SEEDS");
    for (int k = 0; k < 3; k++) {
        p[k].n_threads = 1;
        p[k].attn_splits = 1;
        if (!(st = Context::create(g_model, p[k], &g_ctx[k])).ok()) die("Context::create", st);
        std::vector<float> logits;
        if (!(st = g_ctx[k]->decode(tokens.data(), tokens.size(), false, &logits, nullptr)).ok()) die("decode", st);
        g_saved[k] = save(*g_ctx[k]);
        if (seeds) {
            std::string f = std::string(seeds) + "/state-" + std::to_string(k);
            if (std::FILE* out = std::fopen(f.c_str(), "wb")) {
                std::fputc(k, out);
                std::fwrite(g_saved[k].data(), 1, g_saved[k].size(), out);
                std::fclose(out);
            }
        }
    }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    setup();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 1 + 8) return 0;
    const int k = data[0] % 3;
    Context& ctx = *g_ctx[k];
    std::vector<uint8_t> state(data + 1, data + size);
    Fnv64 h;
    h.add(state.data(), state.size() - 8);
    std::memcpy(state.data() + state.size() - 8, &h.h, 8);
    MemorySource src(state.data(), state.size());
    int32_t pending = -1;
    Status st = ctx.load_state(&src, &pending);
    if (!st.ok()) {
        if (st.code != "STATE_CORRUPT" && st.code != "STATE_MISMATCH") die("load_state returned another code", st);
        if (save(ctx) != g_saved[k]) die("a refused state changed the context", st);
        return 0;
    }
    // accepted: the context must run from it, then go back to the reference state
    int32_t tok = pending >= 0 ? pending : 5;
    std::vector<float> logits;
    Status d = ctx.decode(&tok, 1, false, &logits, nullptr);
    if (!d.ok() && d.code != "CONTEXT_FULL") die("decode after an accepted state", d);
    MemorySource back(g_saved[k].data(), g_saved[k].size());
    if (!(st = ctx.load_state(&back, &pending)).ok()) die("reloading the reference state", st);
    return 0;
}
