#include "model.h"

#include "../gguf/gguf_types.h"
#include "repack.h"

namespace rl {

Status model_load(const std::string& path, const ModelLoadOptions& opts, const ProgressFn& progress,
                  const std::atomic<bool>* cancel, std::unique_ptr<Model>* out) {
    auto model = std::make_unique<Model>();
    model->options = opts;
    model->packed = packed_weights_create();
    Status st = opts.vocab_only ? model->file.open_header(path)
                                : model->file.open_full(path, opts.use_mmap, progress, cancel);
    if (!st.ok()) return st;
    if (const GgufValue* arch = model->file.header().find("general.architecture")) {
        if (arch->type == GGUF_TYPE_STRING) model->architecture = std::string(arch->str);
    }
    // A broken or absent tokenizer does not stop a load for inspection; tokenizing reports it.
    auto vocab = std::make_unique<Vocab>();
    model->vocab_status = vocab_load(model->file.header(), vocab.get());
    if (model->vocab_status.ok()) model->vocab = std::move(vocab);
    if (opts.vocab_only && progress) progress(1.0);
    *out = std::move(model);
    return status_ok();
}

Status model_check_computable(const Model& model) {
    for (const GgufTensorInfo& t : model.file.header().tensors) {
        const GgmlTypeInfo* ti = ggml_type_info(t.type);
        if (!ti || !ti->computable) {
            return status_error("MODEL_UNSUPPORTED_TYPE",
                                "tensor '" + std::string(t.name) + "' has type " + (ti ? ti->name : "unknown") +
                                    ", which this version of ringllm cannot compute yet; use a file quantized "
                                    "to a supported type");
        }
    }
    return status_ok();
}

}  // namespace rl
