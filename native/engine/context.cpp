// Context::create: checks the parameters, picks the kernel tier and dispatches on the architecture.
#include <cstdlib>
#include <string>

#include "../kernels/kernels.h"
#include "../util/cpu_topology.h"
#include "context.h"
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
    return status_error("MODEL_UNSUPPORTED_ARCH",
                        (model->architecture.empty() ? std::string("the file names no architecture (general.architecture)")
                                                     : "architecture '" + model->architecture + "' is not supported") +
                            " by this version of ringllm; supported: " + transformer_supported_archs());
}

}  // namespace rl
