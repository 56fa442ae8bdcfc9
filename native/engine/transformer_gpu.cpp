#include "transformer_gpu.h"

#include <algorithm>
#include <cstring>
#include <new>

#include "../kernels/fp16.h"
#include "../kernels/kernels.h"

namespace rl {

GpuWeights::~GpuWeights() {
    if (!dev) return;
    for (GpuLayer& L : layers) {
        for (DevMatrix* m : {&L.wq, &L.wk, &L.wv, &L.wo, &L.w_gate, &L.w_up, &L.w_down}) gpu_matrix_free(dev.get(), m);
        dev->free(&L.vecs);
    }
    gpu_matrix_free(dev.get(), &output);
    dev->free(&output_norm);
}

namespace {

// Why the device cannot run this model's layers ("" when it can).
std::string shape_problem(const TransformerHparams& hp) {
    if (hp.head_dim_k > 256 || hp.head_dim_v > 256 || hp.head_dim_k % 2 || hp.head_dim_v % 2)
        return "heads of " + std::to_string(hp.head_dim_k) + "/" + std::to_string(hp.head_dim_v) +
               " dimensions (the device's attention takes even sizes up to 256)";
    if (hp.n_rot % 2 || hp.n_rot > hp.head_dim_k) return "a RoPE dimension count the device does not take";
    return "";
}

int64_t layer_bytes(const TransformerLayer& L) {
    int64_t b = 0;
    for (const WeightMatrix* m : {&L.wq, &L.wk, &L.wv, &L.wo, &L.w_gate, &L.w_up, &L.w_down})
        b += (int64_t)gpu_matrix_bytes(m->k->type, m->n_in, m->n_out);
    return b;
}

Status upload_layer(GpuDevice* dev, const TransformerLayer& L, GpuLayer* out) {
    struct Pair {
        const WeightMatrix* src;
        DevMatrix* dst;
    };
    const Pair mats[] = {{&L.wq, &out->wq},         {&L.wk, &out->wk}, {&L.wv, &out->wv},    {&L.wo, &out->wo},
                         {&L.w_gate, &out->w_gate}, {&L.w_up, &out->w_up}, {&L.w_down, &out->w_down}};
    for (const Pair& p : mats) {
        const WeightMatrix& w = *p.src;
        Status st = gpu_matrix_upload(dev, w.k->type, w.data, w.n_in, w.n_out, w.row_bytes, w.k->dequantize_row, p.dst);
        if (!st.ok()) return st;
    }
    std::vector<float> vecs;
    auto put = [&](const std::vector<float>& v, int64_t* at) {
        if (v.empty()) return;
        *at = (int64_t)vecs.size();
        vecs.insert(vecs.end(), v.begin(), v.end());
    };
    put(L.attn_norm, &out->attn_norm);
    put(L.ffn_norm, &out->ffn_norm);
    put(L.post_attn_norm, &out->post_attn_norm);
    put(L.post_ffn_norm, &out->post_ffn_norm);
    put(L.q_norm, &out->q_norm);
    put(L.k_norm, &out->k_norm);
    put(L.bq, &out->bq);
    put(L.bk, &out->bk);
    put(L.bv, &out->bv);
    Status st = dev->alloc(vecs.size() * 4, false, &out->vecs);
    if (st.ok()) st = dev->write(out->vecs, 0, vecs.data(), vecs.size() * 4);
    return st;
}

}  // namespace

Status gpu_weights_upload(const Model& m, const GpuRequest& req, const ProgressFn& progress,
                          std::shared_ptr<GpuWeights>* out, std::string* note) {
    out->reset();
    note->clear();
    if (req.backend.empty() || req.layers == 0) return status_ok();
    const bool optional = req.backend == "auto";
    auto decline = [&](const Status& why) {
        if (!optional) return why;
        *note = why.message;
        return status_ok();
    };
    if (!transformer_arch_supported(m.architecture))
        return decline(status_error("GPU_UNSUPPORTED", "GPU offload runs decoder models; '" + m.architecture +
                                                           "' runs on the CPU"));
    // the device first: without one ("auto" on most machines) the file is not parsed here at all
    std::shared_ptr<GpuDevice> dev;
    Status st = gpu_open(req.backend, req.device, &dev);
    if (!st.ok()) return decline(st);
    const KernelTable* kt = nullptr;
    if (!(st = kernels_select(nullptr, &kt)).ok()) return st;
    TransformerHparams hp;
    TransformerWeights w;
    // a damaged file still loads for inspection with "auto"; creating a context reports it
    if (!(st = transformer_load(m, kt, &hp, &w)).ok()) return decline(st);
    const std::string problem = shape_problem(hp);
    if (!problem.empty()) return decline(status_error("GPU_UNSUPPORTED", "this model has " + problem));

    int32_t n = req.layers == kGpuLayersMax || req.layers == kGpuLayersAuto ? hp.n_layer : std::min(req.layers, hp.n_layer);
    if (req.layers == kGpuLayersAuto) {
        // weights may take 80% of the device's memory; the rest is for KV caches, scratch and others
        const int64_t budget = (int64_t)(dev->info().memory / 10 * 8) - dev->allocated_bytes();
        int64_t used = 0;
        n = 0;
        for (int32_t il = hp.n_layer - 1; il >= 0; il--) {
            used += layer_bytes(w.layers[(size_t)il]);
            if (used > budget) break;
            n++;
        }
        if (n == 0)
            return decline(status_error("GPU_OUT_OF_MEMORY", "not even one layer (" +
                                                                 std::to_string(layer_bytes(w.layers.back()) >> 20) +
                                                                 " MiB) fits in " + dev->info().name + "'s free memory"));
    }
    auto g = std::make_shared<GpuWeights>();
    g->dev = dev;
    g->first_layer = hp.n_layer - n;
    g->layers.resize((size_t)n);
    for (int32_t i = 0; i < n; i++) {
        st = upload_layer(dev.get(), w.layers[(size_t)(g->first_layer + i)], &g->layers[(size_t)i]);
        if (!st.ok()) {
            if (st.code == "GPU_OUT_OF_MEMORY") {
                int64_t need = 0;
                for (int32_t j = g->first_layer; j < hp.n_layer; j++) need += layer_bytes(w.layers[(size_t)j]);
                st.message = "offloading " + std::to_string(n) + " layers needs " + std::to_string(need >> 20) + " MiB on " +
                             dev->info().name + ", which ran out after layer " + std::to_string(i) +
                             "; use fewer gpuLayers, or gpuLayers: \"auto\"";
            }
            return st;  // an explicit request, or a device failing mid-upload: say so
        }
        g->bytes += layer_bytes(w.layers[(size_t)(g->first_layer + i)]);
        if (progress) progress((double)(i + 1) / n);
    }
    // every layer there: the output projection too, when it fits (else the CPU runs it)
    if (g->first_layer == 0) {
        const WeightMatrix& o = w.output;
        st = gpu_matrix_upload(dev.get(), o.k->type, o.data, o.n_in, o.n_out, o.row_bytes, o.k->dequantize_row, &g->output);
        if (st.ok()) st = dev->alloc(w.output_norm.size() * 4, false, &g->output_norm);
        if (st.ok()) st = dev->write(g->output_norm, 0, w.output_norm.data(), w.output_norm.size() * 4);
        if (st.ok()) {
            g->has_output = true;
            g->bytes += (int64_t)gpu_matrix_bytes(o.k->type, o.n_in, o.n_out);
        } else {
            gpu_matrix_free(dev.get(), &g->output);
            dev->free(&g->output_norm);
        }
    }
    *out = std::move(g);
    return status_ok();
}

GpuForward::~GpuForward() {
    if (!dev_) return;
    s_.reset();
    for (DevBuf* b : owned_) dev_->free(b);
    dev_->free(&logits_);
}

Status GpuForward::logits(int32_t first, int32_t count, float* out) {
    const TransformerHparams& hp = *hp_;
    const int64_t E = hp.n_embd, V = hp.n_vocab;
    const size_t need = (size_t)count * V * 4;
    if (logits_.bytes < need) {
        bytes_ -= (int64_t)logits_.bytes;
        dev_->free(&logits_);
        Status st = dev_->alloc(need, false, &logits_);
        if (!st.ok()) return st;
        bytes_ += (int64_t)logits_.bytes;
    }
    const DevNorm norm = hp.opt.norm == NormKind::Layer ? DevNorm::Layer : DevNorm::Rms;
    s_->norm(norm, dev_at(x_, first * E), E, dev_at(w_->output_norm), dev_at(h_), E, count, (int32_t)E, hp.rms_eps);
    s_->matmul(w_->output, dev_at(h_), E, count, dev_at(logits_), V);
    Status st = s_->run();
    if (!st.ok()) return st;
    return dev_->read(logits_, 0, out, need);
}

Status GpuForward::alloc(size_t bytes, bool host_visible, DevBuf* out) {
    Status st = dev_->alloc(std::max<size_t>(bytes, 4), host_visible, out);
    if (!st.ok()) return st;
    owned_.push_back(out);
    bytes_ += (int64_t)out->bytes;
    return status_ok();
}

Status GpuForward::init(const TransformerHparams& hp, std::shared_ptr<GpuWeights> w, const std::vector<float>& rope_freqs,
                        int32_t n_batch, int64_t n_ctx, KvType kv_type, const std::vector<KvLayerConfig>& kv) {
    hp_ = &hp;
    w_ = std::move(w);
    dev_ = w_->dev.get();
    rope_freqs_ = rope_freqs;
    n_batch_ = n_batch;
    if (kv_type == KvType::Q4_0)
        return status_error("GPU_UNSUPPORTED", std::string("kv.type \"") + kv_type_name(kv_type) +
                                                   "\" runs on the CPU (device layers keep f16 or q8_0 caches)");
    const DevKv dev_kv = kv_type == KvType::Q8_0 ? DevKv::Q8_0 : DevKv::F16;
    q_dim_ = (int64_t)hp.n_head * hp.head_dim_k;
    k_dim_ = (int64_t)hp.n_head_kv * hp.head_dim_k;
    v_dim_ = (int64_t)hp.n_head_kv * hp.head_dim_v;
    o_dim_ = (int64_t)hp.n_head * hp.head_dim_v;
    kv_.resize(w_->layers.size());
    for (size_t i = 0; i < kv_.size(); i++) {
        const int32_t il = w_->first_layer + (int32_t)i;
        const KvLayerConfig& c = kv[(size_t)il];
        LayerKv& L = kv_[i];
        L.ring.type = dev_kv;
        // ring policies: n_batch slots more than they keep, so a chunk's rows never overwrite keys
        // its own queries still see
        if (c.policy == KvPolicy::Full) {
            L.ring.n_ring = n_ctx;
            L.window = c.mask_window;
        } else if (c.policy == KvPolicy::Window) {
            L.ring.n_ring = (int64_t)c.window + n_batch;
            L.window = c.window;
            L.capacity = c.window;
        } else if (c.policy == KvPolicy::Sinks) {
            L.ring.n_sinks = c.sinks;
            L.ring.n_ring = (int64_t)c.recent + n_batch;
            L.window = c.recent;
            L.capacity = (int64_t)c.sinks + c.recent;
            L.sinks = c.sinks > 0;
            L.sink_pos_max = L.capacity - 1;
        } else {
            return status_error("GPU_UNSUPPORTED", std::string("kv.policy \"") + kv_policy_name(c.policy) +
                                                       "\" runs on the CPU (device layers keep full, window and sinks caches)");
        }
        if (L.ring.n_sinks + L.ring.n_ring > INT32_MAX / 4)
            return status_error("GPU_UNSUPPORTED", "a device cache of " + std::to_string(L.ring.n_ring) + " slots");
        const LayerKind& kind = hp.layer_kinds[(size_t)il];
        L.rope = !hp.opt.rope_window_only || kind.window > 0;
        L.rope_cfg = -1;
        for (size_t j = 0; j < rope_src_.size() && L.rope_cfg < 0; j++) {
            const LayerKind& o = hp.layer_kinds[(size_t)rope_src_[j]];
            if (o.rope_base == kind.rope_base && o.rope_scale == kind.rope_scale && o.yarn == kind.yarn) L.rope_cfg = (int32_t)j;
        }
        if (L.rope_cfg < 0) {
            L.rope_cfg = (int32_t)rope_src_.size();
            rope_src_.push_back(il);
        }
    }
    Status st = dev_->create_stream(&s_);
    for (auto& L : kv_) {
        const size_t slots = (size_t)(L.ring.n_sinks + L.ring.n_ring);
        if (st.ok()) st = alloc(slots * dev_kv_row_bytes(dev_kv, (int32_t)k_dim_), false, &L.k);
        if (st.ok()) st = alloc(slots * dev_kv_row_bytes(dev_kv, (int32_t)v_dim_), false, &L.v);
    }
    const size_t B = (size_t)n_batch * 4;
    const int64_t E = hp.n_embd, F = hp.n_ff;
    struct {
        DevBuf* buf;
        int64_t width;
    } acts[] = {{&x_, E}, {&h_, E}, {&q_, 2 * q_dim_}, {&k_, k_dim_}, {&v_, v_dim_}, {&att_, o_dim_}, {&o_, E}, {&gate_, F}, {&up_, F}};
    for (auto& a : acts)
        if (st.ok()) st = alloc(B * (size_t)a.width, false, a.buf);
    if (st.ok()) st = alloc(rope_src_.size() * 2 * B * (size_t)hp.n_rot, true, &cs_);
    if (!st.ok()) return st;
    try {
        cs_host_.assign(rope_src_.size() * 2 * (size_t)n_batch * hp.n_rot, 0.0f);
    } catch (const std::bad_alloc&) {
        return status_error("OUT_OF_MEMORY", "no memory for the RoPE tables");
    }
    return status_ok();
}

bool GpuForward::can_truncate(int64_t pos, int64_t n) const {
    if (n == pos) return true;
    for (const LayerKv& L : kv_)
        if (L.capacity > 0 && pos > L.capacity) return false;  // as the CPU's ring caches: only before they evict
    return true;
}

int64_t GpuForward::held(int32_t il, int64_t pos) const {
    const LayerKv& L = kv_[(size_t)(il - w_->first_layer)];
    return L.capacity > 0 ? std::min<int64_t>(pos, L.capacity) : pos;
}

namespace {

// One KV row between the CPU's format (f16 halves; q8_0 blocks of an f16 scale and 32 int8) and the
// device's (the same halves; blocks of an f32 scale and 32 int8). The device's q8_0 scales are
// rounded to f16 when stored, so both ways are exact.
void row_to_device(KvType type, const uint8_t* cpu, uint8_t* dev, int64_t dim) {
    if (type == KvType::F16) {
        std::memcpy(dev, cpu, (size_t)dim * 2);
        return;
    }
    for (int64_t b = 0; b < dim / 32; b++) {
        uint16_t h;
        std::memcpy(&h, cpu + b * 34, 2);
        const float d = fp16_to_fp32(h);
        std::memcpy(dev + b * 36, &d, 4);
        std::memcpy(dev + b * 36 + 4, cpu + b * 34 + 2, 32);
    }
}

void row_to_cpu(KvType type, const uint8_t* dev, uint8_t* cpu, int64_t dim) {
    if (type == KvType::F16) {
        std::memcpy(cpu, dev, (size_t)dim * 2);
        return;
    }
    for (int64_t b = 0; b < dim / 32; b++) {
        float d;
        std::memcpy(&d, dev + b * 36, 4);
        const uint16_t h = fp32_to_fp16(d);
        std::memcpy(cpu + b * 34, &h, 2);
        std::memcpy(cpu + b * 34 + 2, dev + b * 36 + 4, 32);
    }
}

int64_t device_slot(const DevRing& r, int64_t p) { return p < r.n_sinks ? p : r.n_sinks + (p - r.n_sinks) % r.n_ring; }

}  // namespace

Status GpuForward::export_layer(int32_t il, int64_t pos, KvLayer* kv) const {
    const LayerKv& L = kv_[(size_t)(il - w_->first_layer)];
    const size_t kd = dev_kv_row_bytes(L.ring.type, (int32_t)k_dim_), vd = dev_kv_row_bytes(L.ring.type, (int32_t)v_dim_);
    std::vector<uint8_t> dk, dv, ck(kv->k_row_bytes()), cv(kv->v_row_bytes());
    try {
        dk.resize(L.k.bytes);
        dv.resize(L.v.bytes);
    } catch (const std::bad_alloc&) {
        return status_error("OUT_OF_MEMORY", "no memory to read a device cache back");
    }
    Status st = dev_->read(L.k, 0, dk.data(), dk.size());
    if (st.ok()) st = dev_->read(L.v, 0, dv.data(), dv.size());
    if (!st.ok()) return st;
    // the positions held, oldest first: the sinks, then the last `capacity` (every one when full)
    auto put = [&](int64_t p) {
        const int64_t s = device_slot(L.ring, p);
        row_to_cpu(kv->type(), dk.data() + (size_t)s * kd, ck.data(), k_dim_);
        row_to_cpu(kv->type(), dv.data() + (size_t)s * vd, cv.data(), v_dim_);
        kv->commit(ck.data(), cv.data(), p, 1);
    };
    const int64_t S = std::min<int64_t>(L.ring.n_sinks, pos);
    for (int64_t p = 0; p < S; p++) put(p);
    const int64_t recent = L.capacity > 0 ? L.capacity - L.ring.n_sinks : pos;
    for (int64_t p = std::max(S, pos - recent); p < pos; p++) put(p);
    return status_ok();
}

Status GpuForward::import_layer(int32_t il, const KvLayer& kv) {
    const LayerKv& L = kv_[(size_t)(il - w_->first_layer)];
    const size_t kd = dev_kv_row_bytes(L.ring.type, (int32_t)k_dim_), vd = dev_kv_row_bytes(L.ring.type, (int32_t)v_dim_);
    std::vector<uint8_t> dk, dv;
    try {
        dk.assign(L.k.bytes, 0);
        dv.assign(L.v.bytes, 0);
    } catch (const std::bad_alloc&) {
        return status_error("OUT_OF_MEMORY", "no memory to stage a device cache");
    }
    std::vector<int64_t> pos;
    std::vector<double> scores;
    kv.slots(0, &pos, &scores);
    for (size_t slot = 0; slot < pos.size(); slot++) {
        if (pos[slot] < 0) continue;
        const int64_t s = device_slot(L.ring, pos[slot]);
        row_to_device(kv.type(), kv.k_row((int64_t)slot), dk.data() + (size_t)s * kd, k_dim_);
        row_to_device(kv.type(), kv.v_row((int64_t)slot), dv.data() + (size_t)s * vd, v_dim_);
    }
    Status st = dev_->write(L.k, 0, dk.data(), dk.size());
    return st.ok() ? dev_->write(L.v, 0, dv.data(), dv.size()) : st;
}

Status GpuForward::run(float* x, int32_t m, int64_t pos0, int32_t out_first) {
    const TransformerHparams& hp = *hp_;
    const ArchOptions& opt = hp.opt;
    const int32_t E = hp.n_embd, F = hp.n_ff, R = hp.n_rot;
    const DevNorm block_norm = opt.norm == NormKind::Layer ? DevNorm::Layer : DevNorm::Rms;
    const float* ff = rope_freqs_.empty() ? nullptr : rope_freqs_.data();
    // RoPE tables: each distinct layer configuration, rows at positions pos0.., then at the sinks'
    // cache positions (when a sinks layer uses it)
    int64_t sink_pos_max = -1;
    for (const LayerKv& L : kv_)
        if (L.sinks) sink_pos_max = L.sink_pos_max;  // the same for every sinks layer (one KV config)
    for (size_t j = 0; j < rope_src_.size(); j++) {
        const LayerKind& kind = hp.layer_kinds[(size_t)rope_src_[j]];
        const RopeYarn* yarn = kind.yarn ? &hp.yarn : nullptr;
        for (int32_t t = 0; t < m; t++) {
            float* cs = cs_host_.data() + (2 * j * (size_t)n_batch_ + t) * R;
            ops_rope_cache(cs, R, pos0 + t, kind.rope_scale, kind.rope_base, ff, yarn);
            if (sink_pos_max < 0) continue;
            const int64_t pc = std::min<int64_t>(pos0 + t, sink_pos_max);
            float* cs1 = cs + (size_t)n_batch_ * R;
            if (pc == pos0 + t)
                std::copy(cs, cs + R, cs1);
            else
                ops_rope_cache(cs1, R, pc, kind.rope_scale, kind.rope_base, ff, yarn);
        }
    }
    Status st = status_ok();
    const int32_t tables = sink_pos_max < 0 ? 1 : 2;  // per configuration: at p (and at the sinks' position)
    for (size_t j = 0; j < rope_src_.size(); j++)
        for (int32_t k = 0; k < tables && st.ok(); k++) {
            const size_t at = ((2 * j + (size_t)k) * (size_t)n_batch_) * R;  // the first m rows of each table
            st = dev_->write(cs_, at * 4, cs_host_.data() + at, (size_t)m * R * 4);
        }
    if (st.ok()) st = dev_->write(x_, 0, x, (size_t)m * E * 4);
    if (!st.ok()) return st;

    GpuStream& s = *s_;
    for (size_t i = 0; i < kv_.size(); i++) {
        const GpuLayer& L = w_->layers[i];
        const LayerKv& kv = kv_[i];
        auto vec = [&](int64_t off) { return dev_at(L.vecs, off); };
        // block norm, Q/K/V, biases, Q/K norms
        s.norm(block_norm, dev_at(x_), E, vec(L.attn_norm), dev_at(h_), E, m, E, hp.rms_eps);
        s.matmul(L.wq, dev_at(h_), E, m, dev_at(q_), q_dim_);
        s.matmul(L.wk, dev_at(h_), E, m, dev_at(k_), k_dim_);
        s.matmul(L.wv, dev_at(h_), E, m, dev_at(v_), v_dim_);
        if (L.bq >= 0) s.add(dev_at(q_), q_dim_, vec(L.bq), 0, m, (int32_t)q_dim_);
        if (L.bk >= 0) s.add(dev_at(k_), k_dim_, vec(L.bk), 0, m, (int32_t)k_dim_);
        if (L.bv >= 0) s.add(dev_at(v_), v_dim_, vec(L.bv), 0, m, (int32_t)v_dim_);
        if (opt.qk_norm) {
            s.norm(DevNorm::Rms, dev_at(q_), hp.head_dim_k, vec(L.q_norm), dev_at(q_), hp.head_dim_k, m * hp.n_head,
                   hp.head_dim_k, hp.rms_eps);
            s.norm(DevNorm::Rms, dev_at(k_), hp.head_dim_k, vec(L.k_norm), dev_at(k_), hp.head_dim_k, m * hp.n_head_kv,
                   hp.head_dim_k, hp.rms_eps);
        }
        // RoPE (the sinks' queries rotated at their cache position), K/V rows into the ring, attention
        const DevPtr q1 = kv.sinks ? dev_at(q_, (int64_t)n_batch_ * q_dim_) : dev_at(q_);
        if (kv.sinks) s.copy(q1, q_dim_, dev_at(q_), q_dim_, m, (int32_t)q_dim_);
        if (kv.rope) {
            const DevPtr cs = dev_at(cs_, 2 * (int64_t)kv.rope_cfg * n_batch_ * R);
            const bool neox = opt.rope == RopeOrder::Neox;
            s.rope(dev_at(q_), q_dim_, m, hp.n_head, hp.head_dim_k, R, neox, cs);
            s.rope(dev_at(k_), k_dim_, m, hp.n_head_kv, hp.head_dim_k, R, neox, cs);
            if (kv.sinks) s.rope(q1, q_dim_, m, hp.n_head, hp.head_dim_k, R, neox, dev_at(*cs.buf, cs.off + (int64_t)n_batch_ * R));
        }
        s.kv_store(dev_at(k_), k_dim_, m, (int32_t)k_dim_, kv.k, kv.ring, pos0);
        s.kv_store(dev_at(v_), v_dim_, m, (int32_t)v_dim_, kv.v, kv.ring, pos0);
        DevAttn at;
        at.rows = m;
        at.pos0 = pos0;
        at.ring = kv.ring;
        at.window = kv.window;
        at.n_head = hp.n_head;
        at.n_head_kv = hp.n_head_kv;
        at.dk = hp.head_dim_k;
        at.dv = hp.head_dim_v;
        at.scale = opt.attn_scale;
        at.softcap = opt.attn_softcap;
        s.attention(at, dev_at(q_), q1, q_dim_, kv.k, kv.v, dev_at(att_), o_dim_);
        // output projection, residual, FFN, residual
        s.matmul(L.wo, dev_at(att_), o_dim_, m, dev_at(o_), E);
        if (opt.post_norms) s.norm(DevNorm::Rms, dev_at(o_), E, vec(L.post_attn_norm), dev_at(o_), E, m, E, hp.rms_eps);
        s.add(dev_at(x_), E, dev_at(o_), E, m, E);
        if (!opt.parallel_ffn) s.norm(block_norm, dev_at(x_), E, vec(L.ffn_norm), dev_at(h_), E, m, E, hp.rms_eps);
        s.matmul(L.w_gate, dev_at(h_), E, m, dev_at(gate_), F);
        s.matmul(L.w_up, dev_at(h_), E, m, dev_at(up_), F);
        s.glu(opt.act == FfnAct::GeluTanh ? DevGlu::GeluTanh : DevGlu::Silu, dev_at(gate_), dev_at(up_), m, F);
        s.matmul(L.w_down, dev_at(gate_), F, m, dev_at(o_), E);
        if (opt.post_norms) s.norm(DevNorm::Rms, dev_at(o_), E, vec(L.post_ffn_norm), dev_at(o_), E, m, E, hp.rms_eps);
        s.add(dev_at(x_), E, dev_at(o_), E, m, E);
    }
    if (!(st = s.run()).ok()) return st;
    if (out_first >= m) return status_ok();
    return dev_->read(x_, (size_t)out_first * E * 4, x + (size_t)out_first * E, (size_t)(m - out_first) * E * 4);
}

}  // namespace rl
