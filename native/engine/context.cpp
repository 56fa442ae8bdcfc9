// Context::create: checks the parameters, picks the kernel tier and dispatches on the architecture.
#include <cstdlib>
#include <new>
#include <string>

#include "../kernels/kernels.h"
#include "../util/cpu_topology.h"
#include "context.h"
#include "encoder.h"
#include "transformer.h"

namespace rl {

Status Context::create(std::shared_ptr<Model> model, const ContextParams& params, std::unique_ptr<Context>* out) {
    if (!model) return status_error("INVALID_ARGUMENT", "no model");
    if (!model->file.has_data())
        return status_error("INVALID_ARGUMENT", "the model was loaded for its vocabulary only; load it fully to "
                                                "create a context");
    if (params.n_ctx < 0 && params.n_ctx != kContextUnbounded)
        return status_error("INVALID_ARGUMENT", "n_ctx must be >= 0, got " + std::to_string(params.n_ctx));
    if (params.attn_splits < 0 || params.attn_splits > 256)
        return status_error("INVALID_ARGUMENT", "attention splits must be in [0, 256], got " + std::to_string(params.attn_splits));
    if (params.n_batch < 1) return status_error("INVALID_ARGUMENT", "n_batch must be >= 1, got " + std::to_string(params.n_batch));
    if (params.n_threads < 0 || params.n_threads > 1024)
        return status_error("INVALID_ARGUMENT", "n_threads must be in [0, 1024], got " + std::to_string(params.n_threads));

    const KernelTable* kt = nullptr;
    Status st = kernels_select(std::getenv("RINGLLM_KERNELS"), &kt);
    if (!st.ok()) return st;

    ContextParams p = params;
    if (p.n_threads == 0) p.n_threads = cpu_physical_cores();
    if (transformer_arch_supported(model->architecture))
        return transformer_context_create(std::move(model), p, kt, out);
    if (encoder_arch_supported(model->architecture)) return encoder_context_create(std::move(model), p, kt, out);
    return status_error("MODEL_UNSUPPORTED_ARCH",
                        (model->architecture.empty() ? std::string("the file names no architecture (general.architecture)")
                                                     : "architecture '" + model->architecture + "' is not supported") +
                            " by this version of ringllm; supported: " + transformer_supported_archs() + ", " + encoder_supported_archs());
}

Status check_token_ids(const char* fn, const int32_t* tokens, size_t n, int32_t n_vocab) {
    if (n == 0 || !tokens) return status_error("INVALID_ARGUMENT", std::string(fn) + " needs at least one token");
    for (size_t i = 0; i < n; i++) {
        if (tokens[i] < 0 || tokens[i] >= n_vocab)
            return status_error("INVALID_ARGUMENT", "token id " + std::to_string(tokens[i]) + " at index " +
                                                        std::to_string(i) + " is outside the vocabulary [0, " +
                                                        std::to_string(n_vocab) + ")");
    }
    return status_ok();
}

Status Context::embed_batch(const int32_t* tokens, const int32_t* lengths, size_t n_texts, Pooling pooling,
                            std::vector<float>* out, const std::atomic<bool>* cancel) {
    out->clear();
    std::vector<float> one;
    size_t at = 0;
    for (size_t i = 0; i < n_texts; i++) {
        Status st = embed(tokens + at, (size_t)lengths[i], pooling, &one, cancel);
        if (!st.ok()) return st;
        try {
            out->insert(out->end(), one.begin(), one.end());
        } catch (const std::bad_alloc&) {
            return status_error("OUT_OF_MEMORY", "no memory for the embeddings of " + std::to_string(n_texts) + " texts");
        }
        at += (size_t)lengths[i];
    }
    return status_ok();
}

}  // namespace rl
