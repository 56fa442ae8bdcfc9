// Kernel micro-benchmark (not part of the addon): memory read bandwidth, and for every weight type
// the engine's matmul as gemv (1 token: GB/s of weights streamed) and gemm (prefill tokens: GFLOP/s),
// on 1 and 2 threads. Figures are printed, never asserted. Built and run by scripts/bench-kernels.sh.
//   kernel_bench --bandwidth          read bandwidth only; last line JSON {"readGBps":{"1":..,"2":..}}
//   kernel_bench [--types Q4_0,Q8_0] [--threads 1,2] [--tokens 128] [--tier avx2|generic] [--no-repack]
//                [--resident]   (gemv on a cache-resident 1 MiB matrix: the kernel's compute ceiling)
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "../../engine/matmul.h"
#include "../../engine/thread_pool.h"
#include "../../gguf/gguf_types.h"
#include "../kernels.h"
#include "../packed.h"

using namespace rl;

static double now_s() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

static std::vector<int> parse_ints(const char* s) {
    std::vector<int> out;
    for (const char* p = s; *p;) {
        out.push_back(std::atoi(p));
        while (*p && *p != ',') p++;
        if (*p == ',') p++;
    }
    return out;
}

// Sum of 64-bit words over [b, e): the compiler vectorizes the loop; the sum keeps it alive.
static uint64_t read_sum(const uint64_t* b, const uint64_t* e) {
    uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (; b + 4 <= e; b += 4) {
        s0 += b[0];
        s1 += b[1];
        s2 += b[2];
        s3 += b[3];
    }
    return s0 + s1 + s2 + s3;
}

// Best of several passes over a buffer much larger than the caches, split across n threads.
static double read_bandwidth(int n_threads) {
    const size_t bytes = (size_t)1 << 30;
    std::vector<uint64_t> buf(bytes / 8);
    for (size_t i = 0; i < buf.size(); i++) buf[i] = i;
    std::atomic<uint64_t> sink{0};
    double best = 0;
    for (int pass = 0; pass < 6; pass++) {
        std::vector<std::thread> ts;
        double t0 = now_s();
        const size_t per = buf.size() / (size_t)n_threads;
        for (int t = 0; t < n_threads; t++)
            ts.emplace_back([&, t] { sink += read_sum(buf.data() + per * t, buf.data() + per * (t + 1)); });
        for (std::thread& t : ts) t.join();
        best = std::max(best, (double)bytes / (now_s() - t0) / 1e9);
    }
    if (sink.load() == 42) std::printf(" ");
    return best;
}

struct TypeName {
    const char* name;
    uint32_t type;
};
static const TypeName kTypes[] = {
    {"F32", GGML_TYPE_F32},     {"F16", GGML_TYPE_F16},   {"BF16", GGML_TYPE_BF16}, {"Q8_0", GGML_TYPE_Q8_0},
    {"Q4_0", GGML_TYPE_Q4_0},   {"Q4_1", GGML_TYPE_Q4_1}, {"Q5_0", GGML_TYPE_Q5_0}, {"Q5_1", GGML_TYPE_Q5_1},
    {"IQ4_NL", GGML_TYPE_IQ4_NL}, {"Q2_K", GGML_TYPE_Q2_K}, {"Q3_K", GGML_TYPE_Q3_K}, {"Q4_K", GGML_TYPE_Q4_K},
    {"Q5_K", GGML_TYPE_Q5_K},   {"Q6_K", GGML_TYPE_Q6_K}, {"IQ4_XS", GGML_TYPE_IQ4_XS},
};

// Weight bytes all in [0x30, 0x3f]: every f16/bf16/f32 field read from them is a normal number of
// modest size (no subnormal slow paths, no infinities); quantized codes are arbitrary.
static void fill_weights(std::vector<uint8_t>* w, uint32_t seed) {
    for (uint8_t& b : *w) {
        seed = seed * 1664525u + 1013904223u;
        b = (uint8_t)(0x30 | (seed >> 28));
    }
}

// The packed copy of m (as repack.cpp makes it at load) when the type has packed kernels.
static std::vector<uint8_t> pack(WeightMatrix* m, bool enabled) {
    std::vector<uint8_t> out;
    const WeightKernels* k = m->k;
    if (!enabled || !k->pack) return out;
    const int64_t nb = m->n_in / (int64_t)k->pack_elems, groups = m->n_out / kPackRows;
    m->packed_group_bytes = (size_t)nb * k->pack_block_bytes;
    out.resize(m->packed_group_bytes * (size_t)groups);
    for (int64_t g = 0; g < groups; g++)
        k->pack(m->data + (size_t)g * kPackRows * m->row_bytes, m->row_bytes, nb, out.data() + g * m->packed_group_bytes);
    m->packed = out.data();
    m->packed_rows = groups * kPackRows;
    return out;
}

struct Result {
    double gemv_gbps, gemm_gflops;
};

// resident: the gemv matrix is about 1 MiB, so it stays in the caches (L2 per core) and the figure is the
// kernel's compute ceiling rather than a streaming one.
static Result bench_type(const TypeName& tn, const KernelTable* kt, ThreadPool* pool, int n_tok, bool repack,
                         bool resident) {
    const WeightKernels* k = weight_kernels(tn.type, kt);
    const GgmlTypeInfo* ti = ggml_type_info(tn.type);
    const int64_t n_in = 2048;
    const size_t row_bytes = (size_t)(n_in / ti->block_size) * ti->block_bytes;
    // gemv: a matrix far larger than the caches (about 128 MiB), so the figure is a streaming one.
    const int64_t n_out_v = resident ? std::max<int64_t>(64, ((int64_t)1 << 20) / (int64_t)row_bytes / 64 * 64)
                                     : std::max<int64_t>(8192, ((int64_t)128 << 20) / (int64_t)row_bytes / 8 * 8);
    std::vector<uint8_t> wv((size_t)n_out_v * row_bytes);
    fill_weights(&wv, 1);
    WeightMatrix mv;
    mv.data = wv.data();
    mv.n_in = n_in;
    mv.n_out = n_out_v;
    mv.row_bytes = row_bytes;
    mv.k = k;
    std::vector<uint8_t> packed_v = pack(&mv, repack);
    std::vector<float> x((size_t)n_in * n_tok), y((size_t)n_out_v * std::max(1, n_tok));
    for (size_t i = 0; i < x.size(); i++) x[i] = (float)((i * 2654435761u) % 1000) / 500.0f - 1.0f;
    std::vector<uint8_t> act(matmul_act_bytes(mv, n_tok) + 64);
    mv.packed_rows = mv.packed ? mv.n_out / kPackRows * kPackRows : 0;
    double best_v = 1e30;
    const int reps = resident ? 64 : 1;
    for (int it = 0; it < 8; it++) {
        double t0 = now_s();
        for (int r = 0; r < reps; r++) matmul(pool, mv, x.data(), n_in, 1, y.data(), n_out_v, act.data());
        best_v = std::min(best_v, (now_s() - t0) / reps);
    }
    if (resident) return {(double)wv.size() / best_v / 1e9, 0.0};  // the gemm shape needs the large matrix
    // gemm: TinyLlama's ffn_up shape (5632 x 2048) times n_tok tokens.
    WeightMatrix mm = mv;
    mm.n_out = 5632;
    if (mm.packed) mm.packed_rows = mm.n_out;
    double best_m = 1e30;
    for (int it = 0; it < 3; it++) {
        double t0 = now_s();
        matmul(pool, mm, x.data(), n_in, n_tok, y.data(), mm.n_out, act.data());
        best_m = std::min(best_m, now_s() - t0);
    }
    return {(double)wv.size() / best_v / 1e9, 2.0 * (double)n_in * (double)mm.n_out * n_tok / best_m / 1e9};
}

int main(int argc, char** argv) {
    bool bandwidth_only = false;
    std::vector<int> threads = {1, 2};
    std::string types, tier_name;
    int n_tok = 128;
    bool repack = true, resident = false;
    for (int i = 1; i < argc; i++) {
        std::string a = argv[i];
        if (a == "--bandwidth") bandwidth_only = true;
        else if (a == "--threads" && i + 1 < argc) threads = parse_ints(argv[++i]);
        else if (a == "--types" && i + 1 < argc) types = std::string(",") + argv[++i] + ",";
        else if (a == "--tokens" && i + 1 < argc) n_tok = std::max(1, std::atoi(argv[++i]));
        else if (a == "--tier" && i + 1 < argc) tier_name = argv[++i];
        else if (a == "--no-repack") repack = false;
        else if (a == "--resident") resident = true;
        else {
            std::fprintf(stderr, "usage: kernel_bench [--bandwidth] [--types Q4_0,..] [--threads 1,2] [--tokens N] [--tier T] [--no-repack] [--resident]\n");
            return 2;
        }
    }
    if (bandwidth_only) {
        std::string json = "{\"readGBps\":{";
        for (size_t i = 0; i < threads.size(); i++) {
            double g = read_bandwidth(threads[i]);
            std::printf("read bandwidth, %d thread(s): %.1f GB/s\n", threads[i], g);
            char part[64];
            std::snprintf(part, sizeof part, "%s\"%d\":%.2f", i ? "," : "", threads[i], g);
            json += part;
        }
        std::printf("%s}}\n", json.c_str());
        return 0;
    }
    const KernelTable* kt = nullptr;
    Status st = kernels_select(tier_name.empty() ? nullptr : tier_name.c_str(), &kt);
    if (!st.ok()) {
        std::fprintf(stderr, "%s\n", st.message.c_str());
        return 1;
    }
    std::printf("tier %s; gemv: 2048-wide rows, ~%s matrix, 1 token; gemm: 5632 x 2048 x %d tokens\n", kt->name,
                resident ? "1 MiB (cache-resident)" : "128 MiB", n_tok);
    std::printf("%-7s %7s %12s %14s\n", "type", "threads", "gemv GB/s", "gemm GFLOP/s");
    for (int nt : threads) {
        ThreadPool pool;
        if (!pool.init(nt).ok()) return 1;
        for (const TypeName& tn : kTypes) {
            if (!types.empty() && types.find(std::string(",") + tn.name + ",") == std::string::npos) continue;
            Result r = bench_type(tn, kt, &pool, n_tok, repack, resident);
            std::printf("%-7s %7d %12.2f %14.2f\n", tn.name, nt, r.gemv_gbps, r.gemm_gflops);
            std::fflush(stdout);
        }
    }
    return 0;
}
