#include "model.h"

#include "../gguf/gguf_types.h"
#include "../util/state_io.h"
#include "repack.h"
#include "transformer_gpu.h"

namespace rl {

Status model_load(const std::string& path, const ModelLoadOptions& opts, const ProgressFn& progress,
                  const std::atomic<bool>* cancel, std::unique_ptr<Model>* out) {
    auto model = std::make_unique<Model>();
    model->options = opts;
    model->packed = packed_weights_create();
    // with a GPU upload after it, reading the file is the first half of the progress
    const bool upload = !opts.vocab_only && !opts.gpu.empty();
    ProgressFn read_progress = progress;
    if (upload && progress) read_progress = [&](double f) { progress(0.5 * f); };
    Status st = opts.vocab_only ? model->file.open_header(path)
                                : model->file.open_full(path, opts.use_mmap, read_progress, cancel);
    if (!st.ok()) return st;
    model->identity = model_identity(*model);
    if (const GgufValue* arch = model->file.header().find("general.architecture")) {
        if (arch->type == GGUF_TYPE_STRING) model->architecture = std::string(arch->str);
    }
    // A broken or absent tokenizer does not stop a load for inspection; tokenizing reports it.
    auto vocab = std::make_unique<Vocab>();
    model->vocab_status = vocab_load(model->file.header(), vocab.get());
    if (model->vocab_status.ok()) model->vocab = std::move(vocab);
    if (upload) {
        GpuRequest req;
        req.backend = opts.gpu;
        req.layers = opts.gpu_layers;
        req.device = opts.gpu_device;
        ProgressFn upload_progress;
        if (progress) upload_progress = [&](double f) { progress(0.5 + 0.5 * f); };
        if (!(st = gpu_weights_upload(*model, req, upload_progress, &model->gpu, &model->gpu_note)).ok()) return st;
        if (!model->gpu && progress) progress(1.0);
    }
    if (opts.vocab_only && progress) progress(1.0);
    *out = std::move(model);
    return status_ok();
}

namespace {

void hash_value(Fnv64* h, const GgufValue& v) {
    h->add(&v.type, sizeof v.type);
    h->add(&v.u, sizeof v.u);
    h->add(&v.i, sizeof v.i);
    h->add(&v.f, sizeof v.f);
    h->add(v.str.data(), v.str.size());
    h->add(&v.elem_type, sizeof v.elem_type);
    h->add(&v.count, sizeof v.count);
    if (v.elems) h->add(v.elems, (size_t)v.count * gguf_value_type_size(v.elem_type));
    for (std::string_view s : v.strings) {
        const uint64_t n = s.size();
        h->add(&n, sizeof n);
        h->add(s.data(), s.size());
    }
    for (const GgufValue& a : v.arrays) hash_value(h, a);
}

}  // namespace

uint64_t model_identity(const Model& model) {
    Fnv64 h;
    const GgufHeader& hd = model.file.header();
    for (const GgufKV& kv : hd.kvs) {
        h.add(kv.key.data(), kv.key.size());
        hash_value(&h, kv.value);
    }
    for (const GgufTensorInfo& t : hd.tensors) {
        h.add(t.name.data(), t.name.size());
        h.add(&t.n_dims, sizeof t.n_dims);
        h.add(t.ne, sizeof t.ne);
        h.add(&t.type, sizeof t.type);
        h.add(&t.offset, sizeof t.offset);
    }
    return h.h;
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
