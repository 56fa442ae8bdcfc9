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

enum class KvPolicy : uint8_t { Full, Window, Sinks, H2O };
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

class StateSink;
class StateSource;

// What a layer's slots hold, as read from a saved state before it is applied.
struct KvTables {
    int64_t n_seen = 0;
    std::vector<int64_t> pos;
    std::vector<double> score;
    std::vector<int64_t> held;
};

// Slots a layer of this configuration holds (full: n_ctx; window: W; sinks: S + R; h2o: heavy +
// recent + 1).
int64_t kv_layer_slots(const KvLayerConfig& cfg);

class KvLayer {
public:
    KvLayer() = default;
    ~KvLayer();
    KvLayer(const KvLayer&) = delete;
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

    // Slot that position p is written to (full, window, sinks).
    int64_t slot_of(int64_t p) const;
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

private:
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
};

}  // namespace rl
