// Every device op against the CPU op (or a double-precision reference where the CPU op is fused
// into a larger kernel) on random inputs of ragged shapes, with a normalized-error bound per op.
// Usage: gpu_ops_selftest [vulkan|cuda]: the device gpu_open picks (Vulkan in CI: lavapipe via
// RINGLLM_VULKAN_DEVICE; CUDA: device 0 through the plugin, RINGLLM_CUDA_PLUGIN names its file).
// Exit status 0 = pass; 2 = no device (the script decides whether that fails).
#include <cmath>
#include <cstdio>
#include <cstring>
#include <deque>
#include <string>
#include <vector>

#include "../../engine/ops.h"
#include "../../gguf/gguf_types.h"
#include "../../kernels/fp16.h"
#include "../../kernels/quants.h"
#include "../../util/selftest.h"
#include "../gpu.h"

using namespace rl;

static uint32_t g_state = 12345;
static float rnd() {
    g_state = g_state * 1664525u + 1013904223u;
    return (float)((g_state >> 8) * (1.0 / 16777216.0)) * 2.0f - 1.0f;
}
static std::vector<float> rnd_vec(size_t n, float scale = 1.0f) {
    std::vector<float> v(n);
    for (float& x : v) x = rnd() * scale;
    return v;
}

// sum (a - b)^2 / sum b^2
static double nmse(const float* a, const float* b, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        num += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        den += (double)b[i] * b[i];
    }
    return den > 0 ? num / den : num;
}

struct Fixture {
    GpuDevice* dev;
    std::unique_ptr<GpuStream> s;
    std::deque<DevBuf> bufs;  // stable addresses: DevPtr points at its DevBuf
    ~Fixture() {
        for (DevBuf& b : bufs) dev->free(&b);
    }
    DevBuf& upload(const std::vector<float>& v) {
        bufs.emplace_back();
        Status st = dev->alloc(v.size() * 4 + 4, false, &bufs.back());
        CHECK(st.ok(), "alloc: %s", st.message.c_str());
        if (!v.empty()) dev->write(bufs.back(), 0, v.data(), v.size() * 4);
        return bufs.back();
    }
    std::vector<float> download(const DevBuf& b, size_t n) {
        std::vector<float> v(n);
        Status st = dev->read(b, 0, v.data(), n * 4);
        CHECK(st.ok(), "read: %s", st.message.c_str());
        return v;
    }
    void run() {
        Status st = s->run();
        CHECK(st.ok(), "run: %s", st.message.c_str());
    }
};

// Rows of GGUF blocks for a type, with reasonable values, and their f32 reference.
static std::vector<uint8_t> make_rows(uint32_t type, int64_t n_in, int64_t n_out, size_t* row_bytes) {
    const GgmlTypeInfo* ti = ggml_type_info(type);
    *row_bytes = (size_t)(n_in / ti->block_size) * ti->block_bytes;
    std::vector<uint8_t> data(*row_bytes * (size_t)n_out);
    for (size_t i = 0; i < data.size(); i++) data[i] = (uint8_t)(rnd() * 128 + 128);
    for (int64_t r = 0; r < n_out; r++) {
        uint8_t* row = data.data() + (size_t)r * *row_bytes;
        const int64_t nb = n_in / ti->block_size;
        for (int64_t b = 0; b < nb; b++) {
            uint8_t* blk = row + (size_t)b * ti->block_bytes;
            auto put_f16 = [&](size_t at, float v) {
                const uint16_t h = fp32_to_fp16(v);
                std::memcpy(blk + at, &h, 2);
            };
            switch (type) {
                case GGML_TYPE_F32: {
                    const float v = rnd();
                    std::memcpy(blk, &v, 4);
                    break;
                }
                case GGML_TYPE_F16: put_f16(0, rnd()); break;
                case GGML_TYPE_Q8_0:
                case GGML_TYPE_Q4_0:
                case GGML_TYPE_Q5_0: put_f16(0, 0.01f + 0.02f * std::fabs(rnd())); break;
                case GGML_TYPE_Q4_K:  // d, dmin then scales and nibbles as random bytes
                case GGML_TYPE_Q5_K:
                    put_f16(0, 0.002f * std::fabs(rnd()));
                    put_f16(2, 0.002f * std::fabs(rnd()));
                    break;
                case GGML_TYPE_Q6_K: put_f16(208, 0.002f * std::fabs(rnd())); break;  // d last
                default: break;
            }
        }
    }
    return data;
}

static void deq_ref(uint32_t type, const void* row, float* out, int64_t n) {
    switch (type) {
        case GGML_TYPE_F32: generic::dequantize_row_f32(row, out, n); break;
        case GGML_TYPE_F16: generic::dequantize_row_f16(row, out, n); break;
        case GGML_TYPE_Q8_0: generic::dequantize_row_q8_0(row, out, n); break;
        case GGML_TYPE_Q4_0: generic::dequantize_row_q4_0(row, out, n); break;
        case GGML_TYPE_Q4_K: generic::dequantize_row_q4_K(row, out, n); break;
        case GGML_TYPE_Q5_K: generic::dequantize_row_q5_K(row, out, n); break;
        case GGML_TYPE_Q6_K: generic::dequantize_row_q6_K(row, out, n); break;
        case GGML_TYPE_Q5_0: generic::dequantize_row_q5_0(row, out, n); break;
    }
}

static void test_matmul(GpuDevice* dev) {
    struct Case {
        uint32_t type;
        int64_t n_in, n_out;
        int32_t m;
        double bound;
    };
    const Case cases[] = {
        {GGML_TYPE_F32, 37, 5, 3, 1e-10},     {GGML_TYPE_F32, 300, 71, 9, 1e-10},
        {GGML_TYPE_F16, 33, 17, 1, 1e-10},    {GGML_TYPE_F16, 257, 40, 17, 1e-10},
        {GGML_TYPE_Q8_0, 64, 13, 1, 1e-10},   {GGML_TYPE_Q8_0, 320, 33, 11, 1e-10},
        {GGML_TYPE_Q4_0, 32, 3, 2, 1e-10},    {GGML_TYPE_Q4_0, 512, 67, 8, 1e-10},
        {GGML_TYPE_Q4_K, 256, 9, 5, 1e-10},   {GGML_TYPE_Q5_K, 512, 7, 3, 1e-10},
        {GGML_TYPE_Q6_K, 256, 11, 4, 1e-10},  {GGML_TYPE_Q6_K, 768, 33, 9, 1e-10},
        {GGML_TYPE_Q5_0, 64, 5, 2, 1e-6},  // no shader of its own: F16 on upload
    };
    for (const Case& c : cases) {
        Fixture f{dev, nullptr, {}};
        dev->create_stream(&f.s);
        size_t row_bytes = 0;
        std::vector<uint8_t> w = make_rows(c.type, c.n_in, c.n_out, &row_bytes);
        void (*deq)(const void*, float*, int64_t) = nullptr;
        if (c.type == GGML_TYPE_Q4_K) deq = generic::dequantize_row_q4_K;
        if (c.type == GGML_TYPE_Q5_K) deq = generic::dequantize_row_q5_K;
        if (c.type == GGML_TYPE_Q6_K) deq = generic::dequantize_row_q6_K;
        if (c.type == GGML_TYPE_Q5_0) deq = generic::dequantize_row_q5_0;
        DevMatrix dm;
        Status st = gpu_matrix_upload(dev, c.type, w.data(), c.n_in, c.n_out, row_bytes, deq, &dm);
        CHECK(st.ok(), "upload %s: %s", ggml_type_info(c.type)->name, st.message.c_str());
        if (!st.ok()) continue;
        // x rows with a stride wider than n_in, y rows wider than n_out: offsets and strides exercised
        const int64_t xs = c.n_in + 3, ys = c.n_out + 2;
        std::vector<float> x = rnd_vec((size_t)(c.m * xs + 5));
        DevBuf& xb = f.upload(x);
        DevBuf& yb = f.upload(std::vector<float>((size_t)(c.m * ys + 7), 0.0f));
        f.s->matmul(dm, dev_at(xb, 5), xs, c.m, dev_at(yb, 7), ys);
        f.run();
        std::vector<float> y = f.download(yb, (size_t)(c.m * ys + 7));
        std::vector<float> got, want, row((size_t)c.n_in);
        for (int64_t r = 0; r < c.n_out; r++) {
            deq_ref(c.type, w.data() + (size_t)r * row_bytes, row.data(), c.n_in);
            for (int32_t t = 0; t < c.m; t++) {
                double s = 0;
                for (int64_t i = 0; i < c.n_in; i++) s += (double)row[(size_t)i] * x[(size_t)(5 + t * xs + i)];
                want.push_back((float)s);
                got.push_back(y[(size_t)(7 + t * ys + r)]);
            }
        }
        const double e = nmse(got.data(), want.data(), got.size());
        CHECK(e < c.bound, "matmul %s %lldx%lld m=%d: nmse %g", ggml_type_info(c.type)->name, (long long)c.n_out,
              (long long)c.n_in, c.m, e);
        gpu_matrix_free(dev, &dm);
    }
}

static void test_rows_ops(GpuDevice* dev) {
    for (int32_t n : {1, 7, 64, 65, 300}) {
        const int32_t rows = 3;
        Fixture f{dev, nullptr, {}};
        dev->create_stream(&f.s);
        std::vector<float> x = rnd_vec((size_t)(rows * n)), w = rnd_vec((size_t)n), b = rnd_vec((size_t)n);
        for (int kind = 0; kind < 2; kind++) {
            DevBuf& xb = f.upload(x);
            DevBuf& wb = f.upload(w);
            DevBuf& yb = f.upload(std::vector<float>((size_t)(rows * n)));
            f.s->norm(kind ? DevNorm::Layer : DevNorm::Rms, dev_at(xb), n, dev_at(wb), dev_at(yb), n, rows, n, 1e-5f);
            f.run();
            std::vector<float> got = f.download(yb, (size_t)(rows * n)), want((size_t)(rows * n));
            for (int32_t t = 0; t < rows; t++)
                (kind ? ops_layernorm : ops_rmsnorm)(x.data() + t * n, w.data(), want.data() + t * n, n, 1e-5f);
            const double e = nmse(got.data(), want.data(), got.size());
            CHECK(e < 1e-10, "%s n=%d: nmse %g", kind ? "layernorm" : "rmsnorm", n, e);
        }
        // bias (broadcast) and residual add; a copy
        {
            DevBuf& yb = f.upload(x);
            DevBuf& bb = f.upload(b);
            DevBuf& ab = f.upload(x);
            DevBuf& cb = f.upload(std::vector<float>((size_t)(rows * n)));
            f.s->add(dev_at(yb), n, dev_at(bb), 0, rows, n);
            f.s->add(dev_at(yb), n, dev_at(ab), n, rows, n);
            f.s->copy(dev_at(cb), n, dev_at(yb), n, rows, n);
            f.run();
            std::vector<float> got = f.download(cb, (size_t)(rows * n)), want = x;
            ops_add_bias_rows(want.data(), b.data(), rows, n, n);
            for (size_t i = 0; i < want.size(); i++) want[i] += x[i];
            CHECK(nmse(got.data(), want.data(), got.size()) < 1e-12, "add, copy n=%d", n);
        }
        for (int act = 0; act < 2; act++) {
            std::vector<float> g = rnd_vec((size_t)(rows * n), 4.0f), u = rnd_vec((size_t)(rows * n));
            DevBuf& gb = f.upload(g);
            DevBuf& ub = f.upload(u);
            f.s->glu(act ? DevGlu::GeluTanh : DevGlu::Silu, dev_at(gb), dev_at(ub), rows, n);
            f.run();
            std::vector<float> got = f.download(gb, g.size());
            (act ? ops_geglu : ops_swiglu)(g.data(), u.data(), (int64_t)g.size());
            const double e = nmse(got.data(), g.data(), g.size());
            CHECK(e < 1e-10, "%s n=%d: nmse %g", act ? "geglu" : "swiglu", n, e);
        }
    }
}

static void test_rope(GpuDevice* dev) {
    struct Case {
        int32_t n_heads, head_dim, n_rot;
        bool neox;
    };
    for (const Case& c : {Case{4, 64, 64, false}, Case{3, 80, 64, true}, Case{2, 32, 16, false}, Case{5, 128, 128, true}}) {
        const int32_t rows = 6, stride = c.n_heads * c.head_dim + 4;
        Fixture f{dev, nullptr, {}};
        dev->create_stream(&f.s);
        std::vector<float> x = rnd_vec((size_t)(rows * stride)), cs((size_t)rows * c.n_rot);
        for (int32_t t = 0; t < rows; t++) ops_rope_cache(cs.data() + t * c.n_rot, c.n_rot, 1000 * t + 3, 1.0f, 10000.0f, nullptr);
        DevBuf& xb = f.upload(x);
        DevBuf& cb = f.upload(cs);
        f.s->rope(dev_at(xb), stride, rows, c.n_heads, c.head_dim, c.n_rot, c.neox, dev_at(cb));
        f.run();
        std::vector<float> got = f.download(xb, x.size());
        for (int32_t t = 0; t < rows; t++)
            (c.neox ? ops_rope_apply_neox : ops_rope_apply_norm)(x.data() + t * stride, c.n_heads, c.head_dim, c.n_rot,
                                                                  cs.data() + t * c.n_rot);
        const double e = nmse(got.data(), x.data(), x.size());
        CHECK(e < 1e-12, "rope heads=%d dim=%d rot=%d neox=%d: nmse %g", c.n_heads, c.head_dim, c.n_rot, c.neox, e);
    }
}

// The rows a K/V cache of `type` gives back for `x` (rows of dim): the CPU's own rounding.
static std::vector<float> kv_round(DevKv type, const std::vector<float>& x, int32_t dim) {
    std::vector<float> out(x.size());
    std::vector<uint8_t> blocks((size_t)dim / 32 * 34 + 34);
    for (size_t r = 0; r < x.size() / (size_t)dim; r++) {
        const float* row = x.data() + r * dim;
        float* o = out.data() + r * dim;
        if (type == DevKv::F16) {
            for (int32_t i = 0; i < dim; i++) o[i] = fp16_to_fp32(fp32_to_fp16(row[i]));
        } else {
            generic::quantize_row_q8_0(row, blocks.data(), dim);
            generic::dequantize_row_q8_0(blocks.data(), o, dim);
        }
    }
    return out;
}

// kv_store, then attention, against a double-precision softmax over the positions a query sees.
static void test_attention(GpuDevice* dev) {
    struct Case {
        int32_t n_head, n_head_kv, dk, dv;
        int64_t n_sinks, n_ring;
        int32_t window;     // 0: full
        int32_t chunks[4];  // rows decoded per step (0 ends)
        float softcap;
        DevKv type;
    };
    const Case cases[] = {
        {4, 4, 64, 64, 0, 64, 0, {5, 1, 1, 0}, 0.0f, DevKv::F16},           // full cache, MHA
        {8, 2, 32, 32, 0, 40, 0, {17, 3, 1, 0}, 0.0f, DevKv::F16},          // GQA 4
        {4, 1, 128, 128, 0, 300, 0, {70, 130, 1, 0}, 50.0f, DevKv::F16},    // MQA, more than 64 keys, softcap
        {6, 3, 80, 48, 0, 16 + 8, 16, {8, 8, 8, 1}, 0.0f, DevKv::F16},      // window 16 ring of 24 slots, wraps
        {2, 2, 256, 256, 0, 10 + 4, 10, {4, 4, 4, 4}, 0.0f, DevKv::F16},    // head dim 256, window, wraps twice
        {4, 2, 64, 64, 3, 6 + 5, 6, {5, 5, 5, 1}, 0.0f, DevKv::F16},        // sinks 3 + recent 6, wraps
        {4, 2, 32, 32, 4, 8 + 70, 8, {70, 1, 1, 0}, 0.0f, DevKv::F16},      // sinks; a chunk longer than its window
        {4, 2, 64, 64, 0, 80, 0, {9, 33, 1, 0}, 0.0f, DevKv::Q8_0},         // q8_0 rows, full
        {2, 1, 96, 64, 2, 5 + 4, 5, {4, 4, 4, 1}, 30.0f, DevKv::Q8_0},      // q8_0, sinks, softcap
        // single queries over long caches: flash-decoding splits and their merge
        {2, 1, 32, 32, 0, 1600, 0, {1300, 1, 1, 0}, 0.0f, DevKv::F16},
        {2, 2, 32, 64, 4, 700 + 900, 700, {900, 1, 1, 0}, 0.0f, DevKv::Q8_0},  // ring: window + the longest chunk
    };
    for (const Case& c : cases) {
        Fixture f{dev, nullptr, {}};
        dev->create_stream(&f.s);
        const int32_t kd = c.n_head_kv * c.dk, vd = c.n_head_kv * c.dv, qd = c.n_head * c.dk, od = c.n_head * c.dv;
        const DevRing ring{c.n_sinks, c.n_ring, c.type};
        const int64_t slots = c.n_sinks + c.n_ring;
        DevBuf kc, vc;
        dev->alloc((size_t)slots * dev_kv_row_bytes(c.type, kd), false, &kc);
        dev->alloc((size_t)slots * dev_kv_row_bytes(c.type, vd), false, &vc);
        std::vector<float> all_k, all_v;  // every position's rows as the cache keeps them
        int64_t pos = 0;
        double worst = 0;
        for (int32_t rows : c.chunks) {
            if (rows == 0) break;
            // q0 then q1 (the sinks' queries) in one buffer, as the engine keeps them
            std::vector<float> q = rnd_vec((size_t)rows * qd * 2), k = rnd_vec((size_t)rows * kd), v = rnd_vec((size_t)rows * vd);
            DevBuf& qb = f.upload(q);
            DevBuf& kb = f.upload(k);
            DevBuf& vb = f.upload(v);
            DevBuf& ob = f.upload(std::vector<float>((size_t)rows * od));
            f.s->kv_store(dev_at(kb), kd, rows, kd, kc, ring, pos);
            f.s->kv_store(dev_at(vb), vd, rows, vd, vc, ring, pos);
            DevAttn at;
            at.rows = rows;
            at.pos0 = pos;
            at.ring = ring;
            at.window = c.window;
            at.n_head = c.n_head;
            at.n_head_kv = c.n_head_kv;
            at.dk = c.dk;
            at.dv = c.dv;
            at.scale = 1.0f / std::sqrt((float)c.dk);
            at.softcap = c.softcap;
            const int64_t q1_off = c.n_sinks > 0 ? (int64_t)rows * qd : 0;
            f.s->attention(at, dev_at(qb), dev_at(qb, q1_off), qd, kc, vc, dev_at(ob), od);
            f.run();
            std::vector<float> got = f.download(ob, (size_t)rows * od);
            for (float x : kv_round(c.type, k, kd)) all_k.push_back(x);
            for (float x : kv_round(c.type, v, vd)) all_v.push_back(x);
            std::vector<float> want((size_t)rows * od);
            for (int32_t t = 0; t < rows; t++) {
                const int64_t qp = pos + t;
                for (int32_t h = 0; h < c.n_head; h++) {
                    const int32_t g = h / (c.n_head / c.n_head_kv);
                    std::vector<double> sc;
                    std::vector<int64_t> ps;
                    for (int64_t p = 0; p <= qp; p++) {
                        const bool sink = p < c.n_sinks;
                        if (!sink && c.window > 0 && p <= qp - c.window) continue;
                        const float* qv = q.data() + (sink ? q1_off : 0) + t * qd + h * c.dk;
                        double s = 0;
                        for (int32_t i = 0; i < c.dk; i++) s += (double)qv[i] * all_k[(size_t)(p * kd + g * c.dk + i)];
                        s *= at.scale;
                        if (c.softcap > 0) s = c.softcap * std::tanh(s / c.softcap);
                        sc.push_back(s);
                        ps.push_back(p);
                    }
                    double mx = -1e300, sum = 0;
                    for (double s : sc) mx = std::max(mx, s);
                    for (double& s : sc) sum += (s = std::exp(s - mx));
                    for (int32_t e = 0; e < c.dv; e++) {
                        double o = 0;
                        for (size_t j = 0; j < sc.size(); j++) o += sc[j] * all_v[(size_t)(ps[j] * vd + g * c.dv + e)];
                        want[(size_t)(t * od + h * c.dv + e)] = (float)(o / sum);
                    }
                }
            }
            worst = std::max(worst, nmse(got.data(), want.data(), got.size()));
            pos += rows;
        }
        // q8_0: a product landing on a rounding boundary may round the other way on the device
        DevAttn last;
        last.rows = 1;
        last.pos0 = pos - 1;
        last.ring = ring;
        last.window = c.window;
        if (c.chunks[0] > 512) CHECK(dev_attn_splits(last) > 1, "the long case decodes in splits");
        CHECK(worst < (c.type == DevKv::Q8_0 ? 1e-6 : 1e-10),
              "attention %s heads=%d/%d dk=%d dv=%d sinks=%lld ring=%lld window=%d: nmse %g",
              c.type == DevKv::Q8_0 ? "q8_0" : "f16", c.n_head, c.n_head_kv, c.dk, c.dv, (long long)c.n_sinks,
              (long long)c.n_ring, c.window, worst);
        dev->free(&kc);
        dev->free(&vc);
    }
}

int main(int argc, char** argv) {
    const std::string backend = argc > 1 ? argv[1] : "vulkan";
    std::shared_ptr<GpuDevice> dev;
    Status st = gpu_open(backend, "", &dev);
    if (!st.ok()) {
        std::printf("no device: %s\n", st.message.c_str());
        return 2;
    }
    std::printf("device: %s %s (%s)\n", dev->info().backend.c_str(), dev->info().name.c_str(), dev->info().type.c_str());
    test_matmul(dev.get());
    test_rows_ops(dev.get());
    test_rope(dev.get());
    test_attention(dev.get());
    std::printf("%d checks, %d failed; %lld bytes still allocated\n", g_checks, g_failures,
                (long long)dev->allocated_bytes());
    return g_failures != 0;
}
