#include "sampler.h"

#include <algorithm>
#include <cmath>
#include <string>

namespace rl {

static uint64_t splitmix64(uint64_t* x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

void sampler_rng_seed(SamplerRng* rng, uint64_t seed) {
    uint64_t x = seed;
    for (uint64_t& w : rng->s) w = splitmix64(&x);
}

uint64_t sampler_rng_next(SamplerRng* rng) {
    uint64_t* s = rng->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double sampler_rng_uniform(SamplerRng* rng) { return (double)(sampler_rng_next(rng) >> 11) * 0x1.0p-53; }

Status sampler_init(Sampler* s, int32_t n_vocab, uint64_t seed) {
    s->n_vocab = n_vocab;
    s->logits.assign((size_t)n_vocab, 0.0f);
    s->counts.assign((size_t)n_vocab, 0);
    s->cand.assign((size_t)n_vocab, SamplerCandidate{0, 0.0f});
    sampler_rng_seed(&s->rng, seed);
    return status_ok();
}

static Status bad(const std::string& msg) { return status_error("INVALID_ARGUMENT", msg); }

static Status check_params(const SamplerParams& p, int32_t n_vocab) {
    if (std::isnan(p.temperature)) return bad("temperature is NaN");
    if (p.top_k < 0) return bad("top_k must be >= 0, got " + std::to_string(p.top_k));
    if (!(p.top_p >= 0 && p.top_p <= 1)) return bad("top_p must be in [0, 1]");
    if (!(p.min_p >= 0 && p.min_p <= 1)) return bad("min_p must be in [0, 1]");
    if (!(p.repeat_penalty > 0) || !std::isfinite(p.repeat_penalty)) return bad("repeat_penalty must be > 0");
    if (!std::isfinite(p.frequency_penalty) || !std::isfinite(p.presence_penalty))
        return bad("frequency_penalty and presence_penalty must be finite");
    if (p.penalty_last_n < -1) return bad("penalty_last_n must be >= -1");
    for (const auto& b : p.logit_bias) {
        if (b.first < 0 || b.first >= n_vocab)
            return bad("logit_bias token " + std::to_string(b.first) + " is outside the vocabulary [0, " +
                       std::to_string(n_vocab) + ")");
        if (std::isnan(b.second)) return bad("logit_bias for token " + std::to_string(b.first) + " is NaN");
    }
    if (!p.allow.empty() && p.allow.size() != ((size_t)n_vocab + 31) / 32)
        return bad("the grammar's token mask has " + std::to_string(p.allow.size() * 32) + " bits for a vocabulary of " +
                   std::to_string(n_vocab));
    return status_ok();
}

Status sampler_sample(Sampler* s, const SamplerParams& p, const float* logits, const int32_t* history,
                      int32_t n_history, int32_t* token) {
    Status st = check_params(p, s->n_vocab);
    if (!st.ok()) return st;
    const int32_t n_vocab = s->n_vocab;
    float* l = s->logits.data();
    std::copy(logits, logits + n_vocab, l);
    for (const auto& b : p.logit_bias) l[b.first] += b.second;
    if (!p.allow.empty())
        for (int32_t i = 0; i < n_vocab; i++)
            if (!((p.allow[(size_t)i >> 5] >> (i & 31)) & 1u)) l[i] = -INFINITY;

    const bool penalize = p.repeat_penalty != 1.0f || p.frequency_penalty != 0.0f || p.presence_penalty != 0.0f;
    int32_t n_last = p.penalty_last_n < 0 ? n_history : std::min(p.penalty_last_n, n_history);
    if (penalize && n_last > 0) {
        const int32_t* recent = history + (n_history - n_last);
        for (int32_t i = 0; i < n_last; i++)
            if (recent[i] >= 0 && recent[i] < n_vocab) s->counts[(size_t)recent[i]]++;
        for (int32_t i = 0; i < n_last; i++) {
            int32_t id = recent[i];
            if (id < 0 || id >= n_vocab) continue;
            int32_t c = s->counts[(size_t)id];
            if (c == 0) continue;  // already applied for an earlier occurrence
            float x = l[id];
            if (!std::isinf(x)) {
                x = x > 0 ? x / p.repeat_penalty : x * p.repeat_penalty;
                x -= (float)c * p.frequency_penalty + p.presence_penalty;
                l[id] = x;
            }
            s->counts[(size_t)id] = 0;  // leaves counts all zero for the next call
        }
    }

    if (p.temperature <= 0) {
        int32_t best = -1;
        float best_l = -INFINITY;
        for (int32_t i = 0; i < n_vocab; i++)
            if (l[i] > best_l) best_l = l[i], best = i;
        if (best < 0) return bad("every token is banned (all logits are -inf or NaN after logit_bias and the grammar)");
        *token = best;
        return status_ok();
    }

    SamplerCandidate* c = s->cand.data();
    int32_t n = 0;
    for (int32_t i = 0; i < n_vocab; i++)
        if (l[i] > -INFINITY) c[n++] = SamplerCandidate{i, l[i]};  // also drops NaN
    if (n == 0) return bad("every token is banned (all logits are -inf or NaN after logit_bias and the grammar)");
    auto by_logit = [](const SamplerCandidate& a, const SamplerCandidate& b) {
        return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
    };
    if (p.top_k > 0 && p.top_k < n) {
        std::partial_sort(c, c + p.top_k, c + n, by_logit);
        n = p.top_k;
    } else {
        std::sort(c, c + n, by_logit);
    }
    // softmax with temperature; c[0] holds the max
    const float max_l = c[0].logit;
    double sum = 0.0;
    for (int32_t i = 0; i < n; i++) {
        float e = std::exp((c[i].logit - max_l) / p.temperature);
        c[i].logit = e;
        sum += e;
    }
    for (int32_t i = 0; i < n; i++) c[i].logit = (float)(c[i].logit / sum);
    if (p.top_p < 1.0f) {
        double cum = 0.0;
        int32_t keep = n;
        for (int32_t i = 0; i < n; i++) {
            cum += c[i].logit;
            if (cum >= p.top_p) {
                keep = i + 1;
                break;
            }
        }
        n = keep;
    }
    if (p.min_p > 0.0f) {
        const float threshold = p.min_p * c[0].logit;
        int32_t keep = 1;
        while (keep < n && c[keep].logit >= threshold) keep++;
        n = keep;
    }
    double total = 0.0;
    for (int32_t i = 0; i < n; i++) total += c[i].logit;
    double u = sampler_rng_uniform(&s->rng) * total;
    double acc = 0.0;
    for (int32_t i = 0; i < n; i++) {
        acc += c[i].logit;
        if (u < acc) {
            *token = c[i].id;
            return status_ok();
        }
    }
    *token = c[n - 1].id;  // rounding left u at the very top
    return status_ok();
}

}  // namespace rl
