// A loaded model: the mapped GGUF file and what the engine reads from its header.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>
#include <string>

#include "../gguf/gguf_file.h"
#include "../tokenizer/vocab.h"

namespace rl {

struct ModelLoadOptions {
    bool vocab_only = false;  // read the header (metadata, vocabulary) only; no tensor data
    bool use_mmap = true;     // map the file; false reads it into memory
    std::string gpu;          // "" (CPU only), "auto" (a GPU when there is one), "vulkan", "cuda", "cuda"
    int32_t gpu_layers = -1;  // layers offloaded: a count, -1 every one, -2 as many as fit
    std::string gpu_device;   // a device's name (part of it) or index; "": the backend's choice
};

struct PackedWeights;  // repack.h
struct GpuWeights;     // transformer_gpu.h
class Batcher;        // batcher.h

struct Model {
    GgufFile file;
    ModelLoadOptions options;
    std::string architecture;  // general.architecture, "" when absent
    std::unique_ptr<Vocab> vocab;  // null when the file has no usable tokenizer (see vocab_status)
    Status vocab_status;           // why vocab is null: TOKENIZER_MISSING / _UNSUPPORTED / _INVALID
    std::shared_ptr<PackedWeights> packed;  // repacked weight copies shared by the model's contexts
    std::shared_ptr<GpuWeights> gpu;  // the layers uploaded to a device; null: every layer on the CPU
    std::string gpu_note;             // why gpu "auto" left them all on the CPU ("" when it did not)
    uint64_t identity = 0;  // model_identity(), computed at load: names the model in saved states
    // batchers of this model's batched contexts, one per thread count (batcher_for)
    std::mutex batchers_mutex;
    std::vector<std::pair<int, std::weak_ptr<Batcher>>> batchers;
};

Status model_load(const std::string& path, const ModelLoadOptions& opts, const ProgressFn& progress,
                  const std::atomic<bool>* cancel, std::unique_ptr<Model>* out);

// A hash of the file's metadata and tensor table (FNV-1a 64); model_load stores it in Model::identity.
uint64_t model_identity(const Model& model);

// Fails with MODEL_UNSUPPORTED_TYPE naming the first tensor whose type the engine cannot compute.
Status model_check_computable(const Model& model);

}  // namespace rl
