// KV cache policies. Sinks without re-rotation: keys are stored rotated at their absolute position
// and never touched again. Scores depend only on the difference of the query's and the key's
// rotation, so rotating the query at p for the recent keys (distance p - u, exactly the distance of
// their cache indices) and at its cache position min(p, S+R-1) for the sinks (distance to sink j:
// S+R-1-j) gives the same logits as storing keys at cache indices and shifting them back on every
// eviction ("K-shift"), with no pass over the cache per evicted token and no rounding accumulated
// by repeated rotation (f16) or re-quantization (q8_0/q4_0). RoPE angles at large positions are
// computed in double (ops_rope_cache), so absolute positions of long streams stay exact.
#include "kv_cache.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>

#if defined(__linux__)
#include <sys/mman.h>
#include <unistd.h>
#endif

#include "../kernels/fp16.h"
#include "../kernels/quants.h"
#include "../util/state_io.h"
#include "kv_store.h"

namespace rl {

const char* kv_policy_name(KvPolicy p) {
    switch (p) {
        case KvPolicy::Full: return "full";
        case KvPolicy::Window: return "window";
        case KvPolicy::Sinks: return "sinks";
        case KvPolicy::H2O: return "h2o";
        case KvPolicy::Recall: return "recall";
    }
    return "?";
}

const char* kv_type_name(KvType t) {
    switch (t) {
        case KvType::F16: return "f16";
        case KvType::Q8_0: return "q8_0";
        case KvType::Q4_0: return "q4_0";
    }
    return "?";
}

size_t kv_row_bytes(KvType t, int64_t n) {
    switch (t) {
        case KvType::F16: return (size_t)n * 2;
        case KvType::Q8_0: return (size_t)(n / 32) * 34;
        case KvType::Q4_0: return (size_t)(n / 32) * 18;
    }
    return 0;
}

// Q8_0: d = max|x| / 127 (stored f16), q = round(x / d).
void kv_quantize_q8_0(const float* x, void* y, int64_t n) { generic::quantize_row_q8_0(x, y, n); }

// Q4_0: d = (value of largest magnitude) / -8, q = min(15, trunc(x / d + 8.5)); low nibbles hold
// elements 0..15 of the block, high nibbles 16..31.
void kv_quantize_q4_0(const float* x, void* y, int64_t n) {
    uint8_t* out = (uint8_t*)y;
    for (int64_t b = 0; b < n / 32; b++, x += 32, out += 18) {
        float amax = 0.0f, max = 0.0f;
        for (int j = 0; j < 32; j++) {
            if (amax < std::fabs(x[j])) {
                amax = std::fabs(x[j]);
                max = x[j];
            }
        }
        const float d = max / -8.0f;
        float id = d != 0.0f ? 1.0f / d : 0.0f;
        if (!std::isfinite(id)) id = 0.0f;
        const uint16_t dh = fp32_to_fp16(d);
        std::memcpy(out, &dh, 2);
        for (int j = 0; j < 16; j++) {
            auto q = [&](float v) {
                float t = v * id + 8.5f;
                t = t != t ? 8.0f : std::min(15.0f, std::max(0.0f, t));  // NaN/inf never reach the int cast
                return (uint8_t)std::min(15, (int)t);
            };
            out[2 + j] = (uint8_t)(q(x[j]) | (q(x[16 + j]) << 4));
        }
    }
}

void kv_store_row(KvType t, const KernelTable* kt, const float* x, void* y, int64_t n) {
    switch (t) {
        case KvType::F16: kt->f32_to_fp16_row(x, (uint16_t*)y, n); return;
        case KvType::Q8_0: kv_quantize_q8_0(x, y, n); return;
        case KvType::Q4_0: kv_quantize_q4_0(x, y, n); return;
    }
}

void kv_load_row(KvType t, const KernelTable* kt, const void* x, float* y, int64_t n) {
    switch (t) {
        case KvType::F16: kt->fp16_to_f32_row((const uint16_t*)x, y, n); return;
        case KvType::Q8_0: generic::dequantize_row_q8_0(x, y, n); return;
        case KvType::Q4_0: generic::dequantize_row_q4_0(x, y, n); return;
    }
}

KvLayer::~KvLayer() {
    std::free(k_);
    std::free(v_);
    store_free();
}

void KvLayer::store_free() {
    if (!file_) {  // file segments are unmapped by their store
        for (uint8_t* p : store_k_) std::free(p);
        for (uint8_t* p : store_v_) std::free(p);
    }
    store_k_.clear();
    store_v_.clear();
}

int64_t kv_layer_slots(const KvLayerConfig& cfg) {
    switch (cfg.policy) {
        case KvPolicy::Full: return cfg.n_ctx;
        case KvPolicy::Window: return cfg.window;
        case KvPolicy::Sinks:
        case KvPolicy::Recall: return (int64_t)cfg.sinks + cfg.recent;
        case KvPolicy::H2O: return (int64_t)cfg.heavy + cfg.recent + 1;  // + the token of a step
    }
    return 0;
}

Status KvLayer::init(const KvLayerConfig& cfg, KvType type, int32_t n_head_kv, int32_t head_dim_k, int32_t head_dim_v) {
    cfg_ = cfg;
    type_ = type;
    n_head_kv_ = n_head_kv;
    head_dim_k_ = head_dim_k;
    if (cfg.policy == KvPolicy::Recall && (cfg.recent < 1 || cfg.block < 32 || cfg.block % 32 != 0 || cfg.top_blocks < 1))
        return status_error("INVALID_ARGUMENT", "a recall layer needs recent >= 1, a block that is a multiple of 32 and "
                                                "top_blocks >= 1");
    n_slots_ = kv_layer_slots(cfg);
    if (n_slots_ <= 0) return status_error("INVALID_ARGUMENT", "a KV cache layer needs at least one slot");
    k_head_ = kv_row_bytes(type, head_dim_k);
    v_head_ = kv_row_bytes(type, head_dim_v);
    k_row_ = k_head_ * (size_t)n_head_kv;
    v_row_ = v_head_ * (size_t)n_head_kv;
    // calloc: pages are mapped lazily, so a large full cache costs memory only as it fills.
    k_ = (uint8_t*)std::calloc((size_t)n_slots_, k_row_);
    v_ = (uint8_t*)std::calloc((size_t)n_slots_, v_row_);
    if (!k_ || !v_)
        return status_error("OUT_OF_MEMORY", "could not allocate a KV cache of " + std::to_string(n_slots_) +
                                                 " tokens; use a smaller context size or a bounded kv policy");
    const size_t tables = cfg.policy == KvPolicy::H2O ? (size_t)n_head_kv * n_slots_ : (size_t)n_slots_;
    pos_.assign(tables, -1);
    if (cfg.policy == KvPolicy::H2O) {
        score_.assign(tables, 0.0);
        h2o_held_.assign((size_t)n_head_kv, 0);
    }
    reset();
    return status_ok();
}

// Gives the whole pages inside the first n bytes of a calloc'd buffer back to the system. On Linux they
// read as zeros again, as after calloc, and cost no memory until written: a reset context (a server's
// idle sequence) holds no KV pages. Elsewhere the pages stay (nothing reads an empty slot).
static void release_pages(uint8_t* p, size_t n) {
#if defined(__linux__)
    const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    const uintptr_t lo = ((uintptr_t)p + page - 1) & ~(page - 1), hi = ((uintptr_t)p + n) & ~(page - 1);
    if (hi > lo) (void)madvise((void*)lo, hi - lo, MADV_DONTNEED);
#else
    (void)p;
    (void)n;
#endif
}

void KvLayer::reset() {
    const bool written = n_seen_ > 0 || std::any_of(h2o_held_.begin(), h2o_held_.end(), [](int64_t h) { return h > 0; });
    if (written) {
        const size_t rows = (size_t)state_rows();
        release_pages(k_, rows * k_row_);
        release_pages(v_, rows * v_row_);
    }
    n_seen_ = 0;
    store_free();
    store_n_ = 0;
    reps_.clear();
    n_reps_ = 0;
    std::fill(pos_.begin(), pos_.end(), -1);
    std::fill(score_.begin(), score_.end(), 0.0);
    std::fill(h2o_held_.begin(), h2o_held_.end(), 0);
}

int64_t KvLayer::slot_of(int64_t p) const {
    switch (cfg_.policy) {
        case KvPolicy::Window: return p % cfg_.window;
        case KvPolicy::Sinks:
        case KvPolicy::Recall: return p < cfg_.sinks ? p : cfg_.sinks + (p - cfg_.sinks) % cfg_.recent;
        default: return p;
    }
}

int64_t KvLayer::sink_query_pos(int64_t p) const {
    if (cfg_.policy != KvPolicy::Sinks) return p;
    return std::min<int64_t>(p, (int64_t)cfg_.sinks + cfg_.recent - 1);
}

int KvLayer::spans(int64_t p, KvSpan* out) const {
    int n = 0;
    auto add = [&](int64_t lo, int64_t hi, uint8_t rot) {
        if (lo <= hi) out[n++] = KvSpan{lo, hi, rot};
    };
    switch (cfg_.policy) {
        case KvPolicy::Full:
            add(cfg_.mask_window > 0 ? std::max<int64_t>(0, p - cfg_.mask_window + 1) : 0, p, 0);
            break;
        case KvPolicy::Window: add(std::max<int64_t>(0, p - cfg_.window + 1), p, 0); break;
        case KvPolicy::Sinks:
            add(0, std::min<int64_t>(cfg_.sinks - 1, p), 1);
            add(std::max<int64_t>(cfg_.sinks, p - cfg_.recent + 1), p, 0);
            break;
        case KvPolicy::H2O: break;  // per head, see h2o_held
        case KvPolicy::Recall:     // per query and head, see recall_*; without the blocks:
            add(0, std::min<int64_t>(cfg_.sinks - 1, p), 0);
            add(recall_tail_lo(p), p, 0);
            break;
    }
    return n;
}

void KvLayer::commit(const uint8_t* stage_k, const uint8_t* stage_v, int64_t p0, int32_t m) {
    for (int32_t t = 0; t < m; t++) {
        const int64_t p = p0 + t, slot = slot_of(p);
        if (cfg_.policy == KvPolicy::Recall && p >= cfg_.sinks && pos_[(size_t)slot] >= 0) {
            // the row leaving the ring moves to the store (segments reserved by recall_prepare)
            const int64_t r = store_n_++;
            std::memcpy(store_k_[(size_t)(r / kSegRows)] + (size_t)(r % kSegRows) * k_row_, k_row(slot), k_row_);
            std::memcpy(store_v_[(size_t)(r / kSegRows)] + (size_t)(r % kSegRows) * v_row_, v_row(slot), v_row_);
        }
        std::memcpy(k_row(slot), stage_k + (size_t)t * k_row_, k_row_);
        std::memcpy(v_row(slot), stage_v + (size_t)t * v_row_, v_row_);
        pos_[(size_t)slot] = p;
    }
    n_seen_ = p0 + m;
}

bool KvLayer::can_truncate(int64_t n) const {
    if (cfg_.policy == KvPolicy::H2O) return false;  // scores hold the later queries (the context allows n == position)
    if (cfg_.policy == KvPolicy::Recall) return n >= n_seen_ || (n_seen_ <= n_slots_ && n_reps_ == 0);
    return n >= n_seen_ || n_seen_ <= n_slots_;
}

void KvLayer::truncate(int64_t n) {
    if (n >= n_seen_ || !can_truncate(n)) return;
    for (int64_t p = n; p < n_seen_; p++) pos_[(size_t)slot_of(p)] = -1;
    n_seen_ = n;
}

Status KvLayer::save_tables(StateSink* out) const {
    Status st = out->scalar<int64_t>(n_seen_);
    if (st.ok()) st = out->write(pos_.data(), pos_.size() * sizeof(int64_t));
    if (st.ok() && cfg_.policy == KvPolicy::H2O) {
        st = out->write(score_.data(), score_.size() * sizeof(double));
        if (st.ok()) st = out->write(h2o_held_.data(), h2o_held_.size() * sizeof(int64_t));
    }
    return st;
}

Status KvLayer::read_tables(StateSource* in, int64_t position, KvTables* t) const {
    auto corrupt = [](const std::string& what) { return status_error("STATE_CORRUPT", "the saved state is damaged: " + what); };
    Status st = in->scalar(&t->n_seen);
    if (!st.ok()) return st;
    const bool h2o = cfg_.policy == KvPolicy::H2O;
    if (h2o ? t->n_seen != 0 : t->n_seen != position) return corrupt("a layer's token count differs from the position");
    t->pos.assign(pos_.size(), -1);
    if (!(st = in->read(t->pos.data(), t->pos.size() * sizeof(int64_t))).ok()) return st;
    if (!h2o) {
        // every slot holds the latest position written to it (or nothing): the table follows from
        // the token count, and must be exactly that
        std::vector<int64_t> expected(pos_.size(), -1);
        for (int64_t p = std::max<int64_t>(0, t->n_seen - n_slots_); p < t->n_seen; p++) expected[(size_t)slot_of(p)] = p;
        if (cfg_.policy == KvPolicy::Sinks)
            for (int64_t p = 0; p < std::min<int64_t>(cfg_.sinks, t->n_seen); p++) expected[(size_t)slot_of(p)] = p;
        if (expected != t->pos) return corrupt("a slot holds a position it cannot hold");
        return status_ok();
    }
    t->score.assign(score_.size(), 0.0);
    t->held.assign(h2o_held_.size(), 0);
    if (!(st = in->read(t->score.data(), t->score.size() * sizeof(double))).ok()) return st;
    if (!(st = in->read(t->held.data(), t->held.size() * sizeof(int64_t))).ok()) return st;
    for (int32_t g = 0; g < n_head_kv_; g++) {
        int64_t n = 0;
        for (int64_t slot = 0; slot < n_slots_; slot++) {
            const int64_t p = t->pos[(size_t)g * n_slots_ + slot];
            const double sc = t->score[(size_t)g * n_slots_ + slot];
            if (p < -1 || p >= position || !std::isfinite(sc)) return corrupt("an h2o slot holds an impossible position or score");
            n += p >= 0;
        }
        if (n != t->held[(size_t)g] || n > (int64_t)cfg_.heavy + cfg_.recent) return corrupt("an h2o head's token count is wrong");
    }
    return status_ok();
}

void KvLayer::apply_tables(KvTables* t) {
    n_seen_ = t->n_seen;
    pos_.swap(t->pos);
    if (cfg_.policy == KvPolicy::H2O) {
        score_.swap(t->score);
        h2o_held_.swap(t->held);
    }
}

int64_t KvLayer::state_rows() const {
    return cfg_.policy == KvPolicy::H2O ? n_slots_ : std::min(n_seen_, n_slots_);
}

uint64_t KvLayer::state_row_bytes(const KvTables& t) const {
    const int64_t n = cfg_.policy == KvPolicy::H2O ? n_slots_ : std::min(t.n_seen, n_slots_);
    return (uint64_t)n * (k_row_ + v_row_);
}

Status KvLayer::save_rows(StateSink* out) const {
    const int64_t n = state_rows();
    Status st = out->write(k_, (size_t)n * k_row_);
    return st.ok() ? out->write(v_, (size_t)n * v_row_) : st;
}

Status KvLayer::load_rows(StateSource* in) {
    const int64_t n = state_rows();
    Status st = in->read(k_, (size_t)n * k_row_);
    return st.ok() ? in->read(v_, (size_t)n * v_row_) : st;
}

int64_t KvLayer::held() const {
    if (cfg_.policy == KvPolicy::H2O) return h2o_held_.empty() ? 0 : h2o_held_[0];
    return std::min<int64_t>(n_seen_, n_slots_) + store_n_;
}

int64_t KvLayer::recall_tail_lo(int64_t p) const {
    const int64_t S = cfg_.sinks, r0 = std::max<int64_t>(S, p - cfg_.recent + 1);
    return std::max<int64_t>(S, r0 / cfg_.block * cfg_.block);
}

int64_t KvLayer::recall_avail(int64_t p) const {
    return recall_tail_lo(p) / cfg_.block - cfg_.sinks / cfg_.block;
}

void KvLayer::recall_block(int64_t i, int64_t* lo, int64_t* hi) const {
    const int64_t b = cfg_.sinks / cfg_.block + i;
    *lo = std::max<int64_t>(cfg_.sinks, b * cfg_.block);
    *hi = (b + 1) * cfg_.block - 1;
}

int64_t KvLayer::recall_select(int32_t g, const float* q0, int32_t group, int64_t p, float* score, int64_t* idx) const {
    const int64_t n_avail = recall_avail(p), dk = head_dim_k_;
    for (int64_t i = 0; i < n_avail; i++) {
        const float* mn = recall_rep(i, g);
        const float* mx = mn + dk;
        double sc = 0;
        for (int32_t h = 0; h < group; h++) {
            const float* q = q0 + (size_t)h * dk;
            for (int64_t d = 0; d < dk; d++) sc += std::max(q[d] * mn[d], q[d] * mx[d]);
        }
        score[i] = std::isnan(sc) ? -INFINITY : (float)sc;
    }
    const int64_t k = std::min<int64_t>(cfg_.top_blocks, n_avail);
    for (int64_t i = 0; i < n_avail; i++) idx[i] = i;
    if (k < n_avail) {
        std::partial_sort(idx, idx + k, idx + n_avail, [&](int64_t a, int64_t b) {
            return score[a] > score[b] || (score[a] == score[b] && a < b);
        });
        std::sort(idx, idx + k);
    }
    return k;
}

Status KvLayer::recall_prepare(int64_t p_last, const uint8_t* stage_k, int64_t p0, const KernelTable* kt,
                               const KvRotate* shift) {
    const int64_t want = recall_avail(p_last), dk = head_dim_k_;
    const int64_t n_store = std::max<int64_t>(0, p_last + 1 - cfg_.recent - cfg_.sinks);  // store rows after the commit
    try {
        while ((int64_t)store_k_.size() * kSegRows < n_store) {
            if (file_) {
                uint8_t* k = file_->grow((size_t)kSegRows * k_row_);
                uint8_t* v = k ? file_->grow((size_t)kSegRows * v_row_) : nullptr;
                if (!v) return status_error("EIO", "the recall store file cannot grow past " + std::to_string(file_->size()) + " bytes (disk full?)");
                store_k_.push_back(k);
                store_v_.push_back(v);
                continue;
            }
            uint8_t* k = (uint8_t*)std::malloc((size_t)kSegRows * k_row_);
            uint8_t* v = k ? (uint8_t*)std::malloc((size_t)kSegRows * v_row_) : nullptr;
            if (!v) {
                std::free(k);
                return status_error("OUT_OF_MEMORY", "the recall store cannot grow past " + std::to_string(store_bytes()) + " bytes");
            }
            store_k_.push_back(k);
            store_v_.push_back(v);
        }
        if (want > n_reps_) reps_.resize((size_t)want * n_head_kv_ * 2 * dk);
    } catch (const std::bad_alloc&) {
        return status_error("OUT_OF_MEMORY", "the recall store's tables cannot grow");
    }
    std::vector<float> rows;
    try {
        rows.resize((size_t)cfg_.block * dk);
    } catch (const std::bad_alloc&) {
        return status_error("OUT_OF_MEMORY", "no memory for a recall block's keys");
    }
    for (; n_reps_ < want; n_reps_++) {
        int64_t lo, hi;
        recall_block(n_reps_, &lo, &hi);
        const int64_t n = hi - lo + 1;
        for (int32_t g = 0; g < n_head_kv_; g++) {
            for (int64_t p = lo; p <= hi; p++) {
                const uint8_t* k = p >= p0 ? stage_k + (size_t)(p - p0) * k_row_ : k_at(p);
                kv_load_row(type_, kt, k + (size_t)g * k_head_, rows.data() + (size_t)(p - lo) * dk, dk);
            }
            if (shift) shift->fn(shift->ctx, -(hi + 1), rows.data(), n);
            float* mn = reps_.data() + ((size_t)n_reps_ * n_head_kv_ + g) * 2 * dk;
            float* mx = mn + dk;
            std::copy(rows.begin(), rows.begin() + dk, mn);
            std::copy(rows.begin(), rows.begin() + dk, mx);
            for (int64_t j = 1; j < n; j++)
                for (int64_t d = 0; d < dk; d++) {
                    mn[d] = std::min(mn[d], rows[(size_t)(j * dk + d)]);
                    mx[d] = std::max(mx[d], rows[(size_t)(j * dk + d)]);
                }
        }
    }
    return status_ok();
}

void KvLayer::slots(int32_t head, std::vector<int64_t>* pos, std::vector<double>* scores) const {
    if (cfg_.policy == KvPolicy::H2O) {
        const size_t off = (size_t)head * n_slots_;
        pos->assign(pos_.begin() + off, pos_.begin() + off + n_slots_);
        scores->assign(score_.begin() + off, score_.begin() + off + n_slots_);
    } else {
        pos->assign(pos_.begin(), pos_.end());
        scores->clear();
    }
}

int64_t KvLayer::h2o_insert(int32_t g, int64_t p, const uint8_t* k_head_row, const uint8_t* v_head_row) {
    int64_t* pos = pos_.data() + (size_t)g * n_slots_;
    int64_t slot = 0;
    while (pos[slot] >= 0) slot++;  // a free slot exists: h2o_evict keeps one
    pos[slot] = p;
    score_[(size_t)g * n_slots_ + slot] = 0.0;
    h2o_held_[(size_t)g]++;
    std::memcpy(k_row(slot) + (size_t)g * k_head_, k_head_row, k_head_);
    std::memcpy(v_row(slot) + (size_t)g * v_head_, v_head_row, v_head_);
    return slot;
}

void KvLayer::h2o_evict(int32_t g, int64_t p) {
    if (h2o_held_[(size_t)g] <= (int64_t)cfg_.heavy + cfg_.recent) return;
    int64_t* pos = pos_.data() + (size_t)g * n_slots_;
    double* score = score_.data() + (size_t)g * n_slots_;
    // Among tokens outside the last `recent` positions (p included), the lowest score; ties go to
    // the oldest.
    const int64_t newest_evictable = p - cfg_.recent;
    int64_t slot = -1;
    for (int64_t s = 0; s < n_slots_; s++) {
        if (pos[s] < 0 || pos[s] > newest_evictable) continue;
        if (slot < 0 || score[s] < score[slot] || (score[s] == score[slot] && pos[s] < pos[slot])) slot = s;
    }
    pos[slot] = -1;
    score[slot] = 0.0;  // an evicted token loses its score
    h2o_held_[(size_t)g]--;
}

int64_t KvLayer::h2o_held(int32_t g, int64_t* out) const {
    const int64_t* pos = pos_.data() + (size_t)g * n_slots_;
    int64_t n = 0;
    for (int64_t s = 0; s < n_slots_; s++)
        if (pos[s] >= 0) out[n++] = s;
    return n;
}

}  // namespace rl
