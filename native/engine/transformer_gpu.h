// GPU offload of a decoder's last layers: their weights uploaded once per model (GpuWeights), and
// per context the device KV cache of those layers and the forward pass through them (GpuForward),
// the same graph as transformer.cpp's layer_qkv / attend_layer / layer_out_ffn. The split is one
// point: the CPU runs the embeddings and the first layers, the device the rest, the CPU the final
// norm, the output projection and sampling; only the residual rows cross.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "../backend/gpu.h"
#include "transformer.h"

namespace rl {

constexpr int32_t kGpuLayersMax = -1;   // every layer
constexpr int32_t kGpuLayersAuto = -2;  // as many as fit in the device's memory

struct GpuRequest {
    std::string backend;  // "" (off), "auto", "vulkan"
    int32_t layers = kGpuLayersMax;
    std::string device;  // a device's name (part of it) or index; "": the backend's choice
};

struct GpuLayer {
    DevMatrix wq, wk, wv, wo, w_gate, w_up, w_down;
    DevBuf vecs;  // norms and biases, at these float offsets (-1: the layer has none)
    int64_t attn_norm = -1, ffn_norm = -1, post_attn_norm = -1, post_ffn_norm = -1, q_norm = -1, k_norm = -1;
    int64_t bq = -1, bk = -1, bv = -1;
};

struct GpuWeights {
    std::shared_ptr<GpuDevice> dev;
    int32_t first_layer = 0;        // layers [first_layer, n_layer) live on the device
    std::vector<GpuLayer> layers;   // (n_layer - first_layer)
    bool has_output = false;        // the final norm and output projection too (every layer offloaded)
    DevMatrix output;               // (n_vocab, n_embd)
    DevBuf output_norm;             // (n_embd)
    int64_t bytes = 0;              // device bytes of the weights
    ~GpuWeights();
};

// Uploads the last layers of a decoder model as `req` asks. With backend "auto" a missing device
// or an unsupported model leaves *out null and says why in *note; "vulkan" fails instead
// (GPU_UNAVAILABLE, GPU_UNSUPPORTED, GPU_OUT_OF_MEMORY). progress: fraction of layers uploaded.
Status gpu_weights_upload(const Model& m, const GpuRequest& req, const ProgressFn& progress,
                          std::shared_ptr<GpuWeights>* out, std::string* note);

class GpuForward {
public:
    ~GpuForward();
    // GPU_UNSUPPORTED naming why when a device layer's KV policy or type is not one the device runs
    // (full, window and sinks caches of f16 or q8_0 rows), GPU_OUT_OF_MEMORY when its caches do not
    // fit; the context then runs every layer on the CPU.
    Status init(const TransformerHparams& hp, std::shared_ptr<GpuWeights> w, const std::vector<float>& rope_freqs,
                int32_t n_batch, int64_t n_ctx, KvType kv_type, const std::vector<KvLayerConfig>& kv);
    int32_t first_layer() const { return w_->first_layer; }
    bool has_output() const { return w_->has_output; }
    // Final norm and output projection of rows [first, first + count) of the last run() on the
    // device, into out (count, n_vocab) (before logit scaling and soft-capping).
    Status logits(int32_t first, int32_t count, float* out);
    // x: (m, n_embd), the residual stream entering first_layer() at positions pos0..; on return rows
    // [out_first, m) hold it leaving the last layer. Every row's K/V is stored.
    Status run(float* x, int32_t m, int64_t pos0, int32_t out_first);
    // Whether the device caches can go back from position `pos` to n (see Context::truncate).
    bool can_truncate(int64_t pos, int64_t n) const;
    int64_t held(int32_t il, int64_t pos) const;  // tokens device layer il holds at position pos
    // Saved states go through the CPU's cache layout: export writes the rows device layer il holds
    // at position pos into kv (an empty KvLayer of the layer's config); import writes the rows kv
    // holds into the device cache.
    Status export_layer(int32_t il, int64_t pos, KvLayer* kv) const;
    Status import_layer(int32_t il, const KvLayer& kv);
    int64_t device_bytes() const { return bytes_; }  // this context's: KV and scratch

private:
    struct LayerKv {
        DevBuf k, v;           // (n_sinks + n_ring) rows of k_dim / v_dim in the ring's format
        DevRing ring;
        int32_t window = 0;    // attention window of the ring part (0: every earlier position)
        int64_t capacity = 0;  // positions held at most (0: every one, a full cache)
        bool sinks = false;    // queries see the sinks rotated at their cache position
        int64_t sink_pos_max = 0;  // that position: min(p, sinks + recent - 1)
        int32_t rope_cfg = 0;  // index of its RoPE tables in cs_ (2 per configuration: at p, at the sinks' position)
        bool rope = true;
    };
    Status alloc(size_t bytes, bool host_visible, DevBuf* out);

    const TransformerHparams* hp_ = nullptr;
    std::shared_ptr<GpuWeights> w_;
    GpuDevice* dev_ = nullptr;
    std::unique_ptr<GpuStream> s_;
    std::vector<float> rope_freqs_;
    std::vector<LayerKv> kv_;        // (n_layer - first_layer)
    std::vector<int32_t> rope_src_;  // per RoPE table: a layer using it
    int32_t n_batch_ = 0;
    int64_t q_dim_ = 0, k_dim_ = 0, v_dim_ = 0, o_dim_ = 0;
    DevBuf x_, h_, q_, k_, v_, att_, o_, gate_, up_;  // (n_batch, width) activations; q_: then the sinks' queries
    DevBuf cs_;  // (configurations, 2, n_batch, n_rot) cos/sin, host-visible
    DevBuf logits_;  // (rows, n_vocab), grown on first need
    std::vector<float> cs_host_;
    std::vector<DevBuf*> owned_;
    int64_t bytes_ = 0;
};

}  // namespace rl
