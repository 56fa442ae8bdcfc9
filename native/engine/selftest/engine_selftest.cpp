// Engine self-test: llama forward pass on stories260K against llama.cpp's greedy continuation,
// across kernel tiers and thread counts, plus context edge cases and the sampler.
// Build and run (from the repository root):
//   native/engine/selftest/build.sh /tmp/engine_selftest      # [-fsanitize=address,undefined -g]
//   /tmp/engine_selftest ../shared/models/stories260K.gguf [more.gguf ...]
// Extra files (e.g. `npx tsx scripts/make-model.ts --out /tmp/m-Q4_0.gguf --type Q4_0 ...`) are
// loaded and checked for finite logits, tier agreement and chunked-prefill agreement.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "../../kernels/kernels.h"
#include "../../tokenizer/tokenizer.h"
#include "../context.h"
#include "../thread_pool.h"
#include "../../util/selftest.h"

using namespace rl;


static const std::vector<int32_t> k_prompt = {1, 403, 407, 261, 378};
static const std::vector<int32_t> k_golden = {432, 383, 286, 261, 376, 298, 315, 421, 395, 317, 426,
                                              338, 401, 396, 267, 337, 410, 408, 419, 292, 411, 322,
                                              265, 282, 295, 433, 426, 385, 328, 432, 358, 394};

static double now_ms() {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

static std::unique_ptr<Context> make_ctx(const std::shared_ptr<Model>& model, const char* tier, int threads,
                                         int n_ctx = 256, int n_batch = 512) {
    if (tier) setenv("RINGLLM_KERNELS", tier, 1);
    else unsetenv("RINGLLM_KERNELS");
    ContextParams p;
    p.n_ctx = n_ctx;
    p.n_batch = n_batch;
    p.n_threads = threads;
    p.seed = 42;
    std::unique_ptr<Context> ctx;
    Status st = Context::create(model, p, &ctx);
    CHECK(st.ok(), "create (%s, %d threads): %s %s", tier ? tier : "auto", threads, st.code.c_str(), st.message.c_str());
    return ctx;
}

// Greedy continuation of `prompt`; *ms_per_token: mean decode time of one generated token.
static std::vector<int32_t> greedy(Context* ctx, const std::vector<int32_t>& prompt, int n, double* ms_per_token,
                                   double* prefill_ms = nullptr) {
    std::vector<int32_t> out;
    std::vector<float> logits;
    ctx->reset();
    double t0 = now_ms();
    Status st = ctx->decode(prompt.data(), prompt.size(), false, &logits, nullptr);
    if (prefill_ms) *prefill_ms = now_ms() - t0;
    CHECK(st.ok(), "prompt decode: %s", st.message.c_str());
    SamplerParams sp;
    sp.temperature = 0;
    double t_decode = 0;
    for (int i = 0; i < n && st.ok(); i++) {
        int32_t tok = -1;
        st = ctx->sample(sp, &tok);
        CHECK(st.ok(), "sample: %s", st.message.c_str());
        out.push_back(tok);
        double t1 = now_ms();
        st = ctx->decode(&tok, 1, false, &logits, nullptr);
        t_decode += now_ms() - t1;
        CHECK(st.ok(), "decode: %s", st.message.c_str());
    }
    if (ms_per_token) *ms_per_token = t_decode / n;
    return out;
}

static std::string ids_str(const std::vector<int32_t>& v) {
    std::string s;
    for (size_t i = 0; i < v.size(); i++) s += (i ? "," : "") + std::to_string(v[i]);
    return s;
}

static float max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
    if (a.size() != b.size()) return INFINITY;
    float m = 0;
    for (size_t i = 0; i < a.size(); i++) m = std::fmax(m, std::fabs(a[i] - b[i]));
    return m;
}

static bool all_finite(const std::vector<float>& v) {
    for (float x : v)
        if (!std::isfinite(x)) return false;
    return true;
}

static void test_stories(const std::shared_ptr<Model>& model) {
    std::vector<int32_t> toks;
    TokenizeOptions to;
    to.add_special = true;
    Status st = tokenize(*model->vocab, "Once upon a time", to, &toks);
    CHECK(st.ok() && toks == k_prompt, "tokenize: %s", ids_str(toks).c_str());

    const char* tiers[] = {"generic", "avx2", "avx512"};
    for (const char* tier : tiers) {
        if (!kernels_tier_supported(tier)) {
            std::printf("skip tier %s (not supported here)\n", tier);
            continue;
        }
        for (int threads : {1, 2}) {
            auto ctx = make_ctx(model, tier, threads);
            if (!ctx) continue;
            double ms = 0, prefill = 0;
            greedy(ctx.get(), k_prompt, 4, &ms);  // warm-up
            double best = 1e9;
            std::vector<int32_t> out;
            for (int rep = 0; rep < 3; rep++) {
                out = greedy(ctx.get(), k_prompt, 32, &ms, &prefill);
                best = std::fmin(best, ms);
            }
            CHECK(out == k_golden, "%s/%d threads greedy: %s", tier, threads, ids_str(out).c_str());
            std::printf("%-8s %d thread(s): greedy 32 %s, %.4f ms/token (best of 3), prefill 5 tokens %.3f ms\n", tier,
                        threads, out == k_golden ? "== llama.cpp" : "DIFFERS", best, prefill);
        }
    }
    unsetenv("RINGLLM_KERNELS");

    // chunked prefill == one pass == token by token (logits within float tolerance)
    std::vector<int32_t> seq = k_prompt;
    seq.insert(seq.end(), k_golden.begin(), k_golden.end());
    std::vector<float> one, chunked, stepwise, last;
    {
        auto ctx = make_ctx(model, nullptr, 1, 256, 512);
        st = ctx->decode(seq.data(), seq.size(), true, &one, nullptr);
        CHECK(st.ok() && one.size() == seq.size() * (size_t)ctx->n_vocab(), "all_logits: %s", st.message.c_str());
        auto ctx3 = make_ctx(model, nullptr, 2, 256, 3);
        st = ctx3->decode(seq.data(), seq.size(), true, &chunked, nullptr);
        CHECK(st.ok(), "chunked all_logits: %s", st.message.c_str());
        CHECK(max_abs_diff(one, chunked) < 1e-4f, "chunked vs one pass: %g", max_abs_diff(one, chunked));
        ctx->reset();
        for (size_t i = 0; i < seq.size(); i++) {
            st = ctx->decode(&seq[i], 1, false, &last, nullptr);
            stepwise.insert(stepwise.end(), last.begin(), last.end());
        }
        CHECK(max_abs_diff(one, stepwise) < 1e-4f, "token by token vs one pass: %g", max_abs_diff(one, stepwise));
        CHECK(all_finite(one), "non-finite logits");
    }

    auto ctx = make_ctx(model, nullptr, 1, 8);
    std::vector<float> logits, ref;
    // CONTEXT_FULL
    std::vector<int32_t> nine(9, 300);
    st = ctx->decode(nine.data(), 9, false, &logits, nullptr);
    CHECK(st.code == "CONTEXT_FULL" && ctx->position() == 0, "9 tokens into 8: %s", st.code.c_str());
    st = ctx->decode(nine.data(), 8, false, &logits, nullptr);
    CHECK(st.ok() && ctx->position() == 8, "8 tokens into 8: %s", st.code.c_str());
    st = ctx->decode(nine.data(), 1, false, &logits, nullptr);
    CHECK(st.code == "CONTEXT_FULL" && ctx->position() == 8, "token 9: %s", st.code.c_str());
    // bad token ids leave the position alone
    ctx->reset();
    int32_t bad[] = {1, -1};
    st = ctx->decode(bad, 2, false, &logits, nullptr);
    CHECK(st.code == "INVALID_ARGUMENT" && ctx->position() == 0, "id -1: %s", st.code.c_str());
    bad[1] = ctx->n_vocab();
    st = ctx->decode(bad, 2, false, &logits, nullptr);
    CHECK(st.code == "INVALID_ARGUMENT" && ctx->position() == 0, "id n_vocab: %s", st.code.c_str());
    st = ctx->decode(bad, 0, false, &logits, nullptr);
    CHECK(st.code == "INVALID_ARGUMENT", "0 tokens: %s", st.code.c_str());
    int32_t tok;
    st = ctx->sample(SamplerParams{}, &tok);
    CHECK(st.code == "INVALID_ARGUMENT", "sample before decode: %s", st.code.c_str());
    // decode after reset gives the same logits
    st = ctx->decode(k_prompt.data(), k_prompt.size(), false, &ref, nullptr);
    CHECK(st.ok(), "%s", st.message.c_str());
    ctx->decode(nine.data(), 2, false, &logits, nullptr);
    ctx->reset();
    CHECK(ctx->position() == 0, "reset position");
    st = ctx->decode(k_prompt.data(), k_prompt.size(), false, &logits, nullptr);
    CHECK(st.ok() && logits == ref, "after reset logits differ");
    // cancel: ABORTED, position rolled back, context still usable
    std::atomic<bool> cancel{true};
    st = ctx->decode(nine.data(), 2, false, &logits, &cancel);
    CHECK(st.code == "ABORTED" && ctx->position() == 5, "cancel: %s pos %d", st.code.c_str(), (int)ctx->position());
    SamplerParams g;
    g.temperature = 0;
    st = ctx->sample(g, &tok);
    CHECK(st.ok() && tok == k_golden[0], "sample after cancel: %d", tok);
    cancel = false;
    st = ctx->decode(&tok, 1, false, &logits, &cancel);
    CHECK(st.ok() && ctx->position() == 6, "decode after cancel: %s", st.code.c_str());
    st = ctx->sample(g, &tok);
    CHECK(st.ok() && tok == k_golden[1], "greedy after cancel: %d", tok);

    // sampler: determinism per seed, set_seed, top_k 1 == greedy, bias bans, penalties, all banned
    ctx->reset();
    ctx->decode(k_prompt.data(), k_prompt.size(), false, &logits, nullptr);
    SamplerParams sp;
    sp.temperature = 1.5f;
    sp.top_k = 0;
    sp.top_p = 1.0f;
    sp.min_p = 0.0f;
    std::vector<int32_t> a, b;
    ctx->set_seed(7);
    for (int i = 0; i < 20; i++) ctx->sample(sp, &tok), a.push_back(tok);
    ctx->set_seed(7);
    for (int i = 0; i < 20; i++) ctx->sample(sp, &tok), b.push_back(tok);
    CHECK(a == b, "same seed differs");
    bool varied = false;
    for (int32_t x : a) varied |= x != a[0];
    CHECK(varied, "temperature 1.5 always gives %d", a[0]);
    SamplerParams k1 = sp;
    k1.top_k = 1;
    ctx->sample(k1, &tok);
    CHECK(tok == k_golden[0], "top_k 1: %d", tok);
    SamplerParams mp = sp;
    mp.min_p = 1.0f;  // only the most likely token survives
    ctx->sample(mp, &tok);
    CHECK(tok == k_golden[0], "min_p 1: %d", tok);
    SamplerParams tp = sp;
    tp.top_p = 0.0f;  // only the first token survives
    ctx->sample(tp, &tok);
    CHECK(tok == k_golden[0], "top_p 0: %d", tok);
    SamplerParams ban = g;
    ban.logit_bias.push_back({k_golden[0], -INFINITY});
    ctx->sample(ban, &tok);
    CHECK(tok != k_golden[0], "banned token sampled");
    SamplerParams pen = g;
    pen.presence_penalty = 1e6f;  // every token in context is pushed down
    ctx->sample(pen, &tok);
    bool in_prompt = false;
    for (int32_t x : k_prompt) in_prompt |= x == tok;
    CHECK(!in_prompt, "presence penalty picked a prompt token %d", tok);
    SamplerParams all_banned = g;
    for (int32_t i = 0; i < ctx->n_vocab(); i++) all_banned.logit_bias.push_back({i, -INFINITY});
    st = ctx->sample(all_banned, &tok);
    CHECK(st.code == "INVALID_ARGUMENT", "all banned: %s", st.code.c_str());
    SamplerParams bad_bias = g;
    bad_bias.logit_bias.push_back({ctx->n_vocab(), 1.0f});
    st = ctx->sample(bad_bias, &tok);
    CHECK(st.code == "INVALID_ARGUMENT", "bias id out of range: %s", st.code.c_str());

    // unsupported architecture and bad parameters
    model->architecture = "gpt2";
    std::unique_ptr<Context> c2;
    st = Context::create(model, ContextParams{}, &c2);
    CHECK(st.code == "MODEL_UNSUPPORTED_ARCH" && st.message.find("gpt2") != std::string::npos &&
              st.message.find("llama") != std::string::npos,
          "arch: %s %s", st.code.c_str(), st.message.c_str());
    model->architecture = "llama";
    ContextParams bp;
    bp.n_batch = 0;
    st = Context::create(model, bp, &c2);
    CHECK(st.code == "INVALID_ARGUMENT", "n_batch 0: %s", st.code.c_str());
    setenv("RINGLLM_KERNELS", "nonsense", 1);
    st = Context::create(model, ContextParams{}, &c2);
    CHECK(st.code == "INVALID_ARGUMENT", "bad tier: %s", st.code.c_str());
    unsetenv("RINGLLM_KERNELS");
}

// A generated model of another weight type: loads, finite logits, tiers and chunking agree.
static void test_other(const char* path) {
    std::unique_ptr<Model> m;
    Status st = model_load(path, ModelLoadOptions{}, nullptr, nullptr, &m);
    CHECK(st.ok(), "%s: %s", path, st.message.c_str());
    if (!st.ok()) return;
    std::shared_ptr<Model> model(std::move(m));
    std::vector<int32_t> seq = {1, 43, 286, 103, 170, 470, 44, 413, 167, 22, 62};
    std::vector<float> ref;
    std::vector<int32_t> ref_greedy;
    double ms = 0;
    for (const char* tier : {"generic", "avx2"}) {
        if (!kernels_tier_supported(tier)) continue;
        const char* th = std::getenv("ENGINE_SELFTEST_THREADS");  // threads for extra files (default 2)
        auto ctx = make_ctx(model, tier, th ? std::atoi(th) : 2, 64, 4);
        if (!ctx) return;
        std::vector<float> logits;
        st = ctx->decode(seq.data(), seq.size(), true, &logits, nullptr);
        CHECK(st.ok() && all_finite(logits), "%s %s: %s", path, tier, st.message.c_str());
        std::vector<int32_t> g = greedy(ctx.get(), {1}, 8, &ms);
        if (ref.empty()) {
            ref = logits;
            ref_greedy = g;
            std::printf("%s: greedy from BOS %s, %.3f ms/token (%s)\n", path, ids_str(g).c_str(), ms, tier);
        } else {
            float scale = 0;
            for (float x : ref) scale = std::fmax(scale, std::fabs(x));
            float d = max_abs_diff(ref, logits);
            CHECK(d <= 1e-3f * scale + 1e-4f, "%s: %s vs generic logits differ by %g (max |logit| %g)", path, tier, d,
                  scale);
            std::printf("%s: %s greedy %s, %.3f ms/token, max logit diff vs generic %.3g\n", path, tier,
                        ids_str(g).c_str(), ms, d);
        }
    }
    unsetenv("RINGLLM_KERNELS");
}

// --probs FILE IDS: teacher-forces IDS and prints each position's argmax and the probabilities of
// `watch` ids, to compare with bench/check-load.mjs --score.
static int dump_probs(const char* path, const char* ids, const char* watch) {
    std::unique_ptr<Model> m;
    Status st = model_load(path, ModelLoadOptions{}, nullptr, nullptr, &m);
    if (!st.ok()) return 1;
    std::shared_ptr<Model> model(std::move(m));
    std::vector<int32_t> seq, w;
    for (const char* p = ids; *p;) { seq.push_back((int32_t)std::strtol(p, (char**)&p, 10)); if (*p == ',') p++; }
    for (const char* p = watch; *p;) { w.push_back((int32_t)std::strtol(p, (char**)&p, 10)); if (*p == ',') p++; }
    auto ctx = make_ctx(model, std::getenv("RINGLLM_KERNELS"), 1, 256);
    std::vector<float> lg;
    ctx->decode(seq.data(), seq.size(), true, &lg, nullptr);
    const size_t V = (size_t)ctx->n_vocab();
    for (size_t t = 0; t < seq.size(); t++) {
        float* l = lg.data() + t * V;
        double mx = -INFINITY, sum = 0;
        size_t am = 0;
        for (size_t i = 0; i < V; i++) if (l[i] > mx) mx = l[i], am = i;
        for (size_t i = 0; i < V; i++) sum += std::exp(l[i] - mx);
        std::printf("pos %zu argmax %zu p %.6f", t, am, 1.0 / sum);
        for (int32_t id : w) std::printf("  p[%d] %.6f", id, std::exp(l[id] - mx) / sum);
        std::printf("\n");
    }
    return 0;
}

// Every item runs exactly once, on distinct workers per range, over many back-to-back jobs.
static void test_pool() {
    for (int threads : {1, 2, 3, 8}) {
        ThreadPool pool;
        CHECK(pool.init(threads).ok(), "pool init");
        std::vector<std::atomic<int>> hits(1000);
        for (int job = 0; job < 2000; job++) {
            const int64_t n = 1 + job % 997;
            for (int64_t i = 0; i < n; i++) hits[(size_t)i] = 0;
            pool.parallel_for(n, threads, [&](int64_t b, int64_t e, int worker) {
                CHECK(worker >= 0 && worker < threads, "worker %d", worker);
                for (int64_t i = b; i < e; i++) hits[(size_t)i]++;
            });
            for (int64_t i = 0; i < n; i++) CHECK(hits[(size_t)i] == 1, "threads %d job %d item %lld ran %d times",
                                                   threads, job, (long long)i, hits[(size_t)i].load());
            if (g_failures) return;
        }
    }
}

int main(int argc, char** argv) {
    test_pool();
    if (argc == 5 && std::strcmp(argv[1], "--probs") == 0) return dump_probs(argv[2], argv[3], argv[4]);
    const char* path = argc > 1 ? argv[1] : "../shared/models/stories260K.gguf";
    std::unique_ptr<Model> m;
    Status st = model_load(path, ModelLoadOptions{}, nullptr, nullptr, &m);
    if (!st.ok()) {
        std::printf("FAIL load %s: %s %s\n", path, st.code.c_str(), st.message.c_str());
        return 1;
    }
    std::shared_ptr<Model> model(std::move(m));
    test_stories(model);
    for (int i = 2; i < argc; i++) test_other(argv[i]);
    std::printf(g_failures ? "%d FAILURES\n" : "engine selftest: all passed\n", g_failures);
    return g_failures ? 1 : 0;
}
