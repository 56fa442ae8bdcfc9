// Per-layer KV cache with a policy (LONG_CONTEXT.md sections 2-4, 6). Every policy stores keys
// after RoPE in rows of `type` (f16, or q8_0/q4_0 blocks of 32 along head_dim) and answers one
// question for attention: which rows does a query at position p see?
//
//   full    slot = p; capacity n_ctx. A window layer of the model still sees only its window
//           (mask_window), so `full` is the reference the ring policies are tested against.
//   window  W slots, slot = p mod W; a query sees p-W+1 .. p.
//   sinks   S + R slots: the first S positions stay in slots 0..S-1, later positions rotate through
//           slots S + (p-S) mod R. A query sees the sinks and its last R positions; positions are
//           assigned inside the cache (see KvSpan::rot).
//   h2o     heavy + recent (+1 during a step) slots per KV head, filled and evicted per head by accumulated attention
//           (kv_h2o_* below; the engine runs it token by token).
//   recall  sinks' S + R ring slots, plus a store: a row leaving the ring moves (once) to the store,
//           row p - S. Evicted positions form blocks of `block` aligned to absolute positions
//           (block i covers [max(S, (S/B + i)B), (S/B + i + 1)B)); each complete block keeps per KV
//           head the per-dimension min and max of its keys (Quest's bound: q.k <= sum_d max(q_d mn_d,
//           q_d mx_d)). A query at p sees the sinks, the top_blocks blocks of highest bound among
//           those ending before tail_lo(p), and the tail [tail_lo(p), p] (its last R positions plus
//           the rest of their block), in position order (kv_recall_* below; the engine runs it).
//
// Prefill runs a chunk's keys through a staging buffer in the same row format: attention reads the
// cache (old rows) plus the staging rows, then kv_commit copies the chunk in, so a chunk longer than
// the window never overwrites a row one of its own queries still needs (read before write).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "../kernels/kernel_table.h"
#include "../util/status.h"

namespace rl {

enum class KvPolicy : uint8_t { Full, Window, Sinks, H2O, Recall };
enum class KvType : uint8_t { F16, Q8_0, Q4_0 };

const char* kv_policy_name(KvPolicy p);
const char* kv_type_name(KvType t);

// Row codec of a storage type.
size_t kv_row_bytes(KvType t, int64_t n);  // n elements (a multiple of 32 for quantized types)
void kv_store_row(KvType t, const KernelTable* kt, const float* x, void* y, int64_t n);
void kv_load_row(KvType t, const KernelTable* kt, const void* x, float* y, int64_t n);
// Reference quantizers of the KV block formats (same bytes as the GGUF weight quantizers).
void kv_quantize_q8_0(const float* x, void* y, int64_t n);
void kv_quantize_q4_0(const float* x, void* y, int64_t n);

struct KvLayerConfig {
    KvPolicy policy = KvPolicy::Full;
    int64_t n_ctx = 0;        // full: slots
    int32_t mask_window = 0;  // full: the model's window for this layer (0: none)
    int32_t window = 0;       // window: W
    int32_t sinks = 0;        // sinks: S
    int32_t recent = 0;       // sinks: R; h2o: recent budget
    int32_t heavy = 0;        // h2o: heavy-hitter budget
    int32_t block = 0;        // recall: positions per block (a multiple of 32)
    int32_t top_blocks = 0;   // recall: blocks a query attends besides the sinks and the tail
    bool remap = false;       // recall: selected blocks seen just before the tail (else true positions)
};

// Positions [lo, hi] (inclusive) a query sees, in position order. rot 1 marks the sinks, whose
// query is rotated at the query's cache position (min(p, S+R-1)) rather than at p: this is
// StreamingLLM's "positions inside the cache" without re-rotating keys (see kv_cache.cpp).
struct KvSpan {
    int64_t lo;
    int64_t hi;
    uint8_t rot;
};
constexpr int kKvMaxSpans = 2;

// Rotates n rows of head_dim_k floats by `delta` positions (RoPE composes); the engine's, for a layer.
struct KvRotate {
    void (*fn)(const void* ctx, int64_t delta, float* rows, int64_t n);
    const void* ctx;
};

class KvFileStore;
class StateSink;
class StateSource;

// What a layer's slots hold, as read from a saved state before it is applied.
struct KvTables {
    int64_t n_seen = 0;
    std::vector<int64_t> pos;
    std::vector<double> score;
    std::vector<int64_t> held;
};

// Slots a layer of this configuration holds (full: n_ctx; window: W; sinks and recall: S + R; h2o:
// heavy + recent + 1).
int64_t kv_layer_slots(const KvLayerConfig& cfg);

class KvLayer {
public:
    KvLayer() = default;
    ~KvLayer();
    KvLayer(const KvLayer&) = delete;  // (rows and store segments are owned)
    KvLayer& operator=(const KvLayer&) = delete;

    Status init(const KvLayerConfig& cfg, KvType type, int32_t n_head_kv, int32_t head_dim_k, int32_t head_dim_v);
    // Empty, positions forgotten; the pages of the rows written so far go back to the system (Linux).
    void reset();

    const KvLayerConfig& config() const { return cfg_; }
    KvType type() const { return type_; }
    int64_t n_slots() const { return n_slots_; }
    size_t k_row_bytes() const { return k_row_; }  // all KV heads of one slot
    size_t v_row_bytes() const { return v_row_; }
    size_t k_head_bytes() const { return k_head_; }
    size_t v_head_bytes() const { return v_head_; }
    size_t bytes() const { return (size_t)n_slots_ * (k_row_ + v_row_); }
    uint8_t* k_row(int64_t slot) { return k_ + (size_t)slot * k_row_; }
    uint8_t* v_row(int64_t slot) { return v_ + (size_t)slot * v_row_; }
    const uint8_t* k_row(int64_t slot) const { return k_ + (size_t)slot * k_row_; }
    const uint8_t* v_row(int64_t slot) const { return v_ + (size_t)slot * v_row_; }

    // Slot that position p is written to (full, window, sinks, recall's ring).
    int64_t slot_of(int64_t p) const;
    // Rows of position p (a recall layer: from the store once it left the ring).
    const uint8_t* k_at(int64_t p) const {
        return store_holds(p) ? store_row(store_k_, p - cfg_.sinks, k_row_) : k_row(slot_of(p));
    }
    const uint8_t* v_at(int64_t p) const {
        return store_holds(p) ? store_row(store_v_, p - cfg_.sinks, v_row_) : v_row(slot_of(p));
    }
    // Positions a query at p sees (full, window, sinks): at most kKvMaxSpans non-empty spans in
    // position order; returns their count. While a chunk at p0 is staged, positions >= p0 are read
    // from its staging rows (row p - p0) and the others from slot_of(p).
    int spans(int64_t p, KvSpan* out) const;
    // Position the query at p is rotated at for rot-1 rows (sinks: min(p, S+R-1); else p).
    int64_t sink_query_pos(int64_t p) const;
    // Whether truncate(n) is exact: positions >= n were never written over a row that a later query
    // at n.. still needs (full; window/sinks that never wrapped; h2o only n >= what it has seen).
    bool can_truncate(int64_t n) const;
    // Forgets positions >= n (a cancelled decode rolls back; a chat rewinds). Only when can_truncate.
    void truncate(int64_t n);
    // Copies m staged rows (positions p0..p0+m-1) into their slots.
    void commit(const uint8_t* stage_k, const uint8_t* stage_v, int64_t p0, int32_t m);

    // Saved state: the small tables (positions per slot, h2o scores), then the rows in use
    // (state_rows() of them: full/window/sinks the slots written so far, h2o every slot).
    Status save_tables(StateSink* out) const;
    // Reads and validates tables saved by save_tables for a context at `position`; changes nothing.
    Status read_tables(StateSource* in, int64_t position, KvTables* t) const;
    void apply_tables(KvTables* t);
    int64_t state_rows() const;
    // Bytes of rows a state with these tables holds for this layer.
    uint64_t state_row_bytes(const KvTables& t) const;
    Status save_rows(StateSink* out) const;
    Status load_rows(StateSource* in);

    // Tokens held now (h2o: per KV head, the same count for every head).
    int64_t held() const;
    // Position held by each slot (-1: empty); h2o: of KV head `head`, with the accumulated scores.
    void slots(int32_t head, std::vector<int64_t>* pos, std::vector<double>* scores) const;

    // h2o, for KV head g and the token at position p (processed one token at a time): writes the
    // staged row part of head g into a free slot (returned); after the step's attention,
    // h2o_evict drops the lowest-scored token outside the last `recent` positions when the head
    // holds more than heavy + recent. A step thus attends over at most heavy + recent + 1 tokens.
    int64_t h2o_insert(int32_t g, int64_t p, const uint8_t* k_head_row, const uint8_t* v_head_row);
    void h2o_evict(int32_t g, int64_t p);
    // Held slots of head g (order: slot index) into out; returns their count.
    int64_t h2o_held(int32_t g, int64_t* out) const;
    void h2o_add_score(int32_t g, int64_t slot, double p) { score_[(size_t)g * n_slots_ + slot] += p; }

    // recall. First position of the tail a query at p sees: its last R positions (never the sinks)
    // and the rest of the block holding the first of them.
    int64_t recall_tail_lo(int64_t p) const;
    // Blocks complete for a query at p (those ending before recall_tail_lo(p)).
    int64_t recall_avail(int64_t p) const;
    // Positions [lo, hi] of block i.
    void recall_block(int64_t i, int64_t* lo, int64_t* hi) const;
    // Computes the representatives of the blocks a query at p_last needs; key rows by position, those
    // >= p0 from the staged chunk (stride k_row_bytes). Called before the chunk's attention. With
    // `shift` (remap layers) each block's keys are first rotated by -(hi + 1), into the frame of a
    // block that ends just before position 0: see recall_select.
    Status recall_prepare(int64_t p_last, const uint8_t* stage_k, int64_t p0, const KernelTable* kt,
                          const KvRotate* shift = nullptr);
    // Blocks a query at p selects for KV head g: q (group, head_dim_k) scores each complete block by
    // sum over the group's heads and dims of max(q_d mn_d, q_d mx_d) (Quest's upper bound on q.k
    // over the block; NaN scores -inf); the `top_blocks` highest, ties to the lower index, go into
    // idx in block order. score (recall_avail(p)) and idx (recall_avail(p)) are scratch; returns the
    // count. absolute: q rotated at p (true distances). remap: q rotated at p - recall_tail_lo(p)
    // against block-frame representatives, so every block is scored as if it ended just before the
    // tail (the distances remap attends it at, whatever its age).
    int64_t recall_select(int32_t g, const float* q, int32_t group, int64_t p, float* score, int64_t* idx) const;
    int64_t recall_blocks() const { return n_reps_; }
    // (2, head_dim_k): per-dimension min, then max, of block i's keys of KV head g.
    const float* recall_rep(int64_t i, int32_t g) const { return reps_.data() + ((size_t)i * n_head_kv_ + g) * 2 * head_dim_k_; }
    int64_t store_rows() const { return store_n_; }
    // Segments from this file instead of the heap (kv.store = a path); the context owns it and
    // resets it after the layers.
    void set_file_store(KvFileStore* f) { file_ = f; }
    size_t store_bytes() const { return (size_t)store_n_ * (k_row_ + v_row_); }

private:
    static constexpr int64_t kSegRows = 4096;  // store rows per segment (segments never move)
    bool store_holds(int64_t p) const {
        return cfg_.policy == KvPolicy::Recall && p >= cfg_.sinks && p - cfg_.sinks < store_n_;
    }
    static const uint8_t* store_row(const std::vector<uint8_t*>& segs, int64_t r, size_t row) {
        return segs[(size_t)(r / kSegRows)] + (size_t)(r % kSegRows) * row;
    }
    Status store_append(int64_t slot);
    void store_free();

    KvLayerConfig cfg_;
    KvType type_ = KvType::F16;
    int32_t n_head_kv_ = 0;
    int64_t n_slots_ = 0;
    size_t k_head_ = 0, v_head_ = 0, k_row_ = 0, v_row_ = 0;
    uint8_t* k_ = nullptr;
    uint8_t* v_ = nullptr;
    int64_t n_seen_ = 0;             // tokens written (full/window/sinks)
    std::vector<int64_t> pos_;       // (n_slots) or h2o (n_head_kv, n_slots): position per slot, -1 empty
    std::vector<double> score_;      // h2o (n_head_kv, n_slots)
    std::vector<int64_t> h2o_held_;  // h2o (n_head_kv) tokens held per head
    int32_t head_dim_k_ = 0;
    std::vector<uint8_t*> store_k_;  // recall: segments of kSegRows K rows (store row r = position S + r)
    std::vector<uint8_t*> store_v_;
    int64_t store_n_ = 0;            // rows in the store
    std::vector<float> reps_;        // recall (n_reps, n_head_kv, 2, head_dim_k) block min/max keys
    int64_t n_reps_ = 0;
    KvFileStore* file_ = nullptr;
};

}  // namespace rl
