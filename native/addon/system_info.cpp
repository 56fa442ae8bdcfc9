// systemInfo(), ggmlTypes() and kernelRun(): facts about this machine and the kernel tiers.
#include <cstdlib>
#include <cstring>

#include "../gguf/gguf_types.h"
#include "../kernels/kernels.h"
#include "../kv/kv_cache.h"
#include "../util/cpu_features.h"
#include "../util/cpu_topology.h"
#include "addon.h"

namespace rl {

static const KernelTable* active_kernels(Napi::Env env) {
    const KernelTable* table = nullptr;
    Status st = kernels_select(std::getenv("RINGLLM_KERNELS"), &table);
    if (!st.ok()) throw_status(env, st);
    return table;
}

Napi::Value system_info(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const CpuFeatures& f = cpu_features_get();
    Napi::Object cpu = Napi::Object::New(env);
    auto flag = [&](const char* name, bool v) { cpu.Set(name, Napi::Boolean::New(env, v)); };
    flag("sse3", f.sse3);
    flag("ssse3", f.ssse3);
    flag("sse41", f.sse41);
    flag("sse42", f.sse42);
    flag("avx", f.avx);
    flag("avx2", f.avx2);
    flag("fma", f.fma);
    flag("f16c", f.f16c);
    flag("bmi2", f.bmi2);
    flag("avx512f", f.avx512f);
    flag("avx512bw", f.avx512bw);
    flag("avx512vl", f.avx512vl);
    flag("avx512dq", f.avx512dq);
    flag("avx512vnni", f.avx512vnni);
    flag("avx512bf16", f.avx512bf16);
    flag("avxvnni", f.avxvnni);
    flag("neon", f.neon);
    flag("dotprod", f.dotprod);
    flag("i8mm", f.i8mm);
    flag("fp16", f.fp16);

    Napi::Array tiers = Napi::Array::New(env);
    const char* names[] = {"avx512", "avx2", "neon", "generic"};
    uint32_t n = 0;
    for (const char* name : names)
        if (kernels_by_name(name)) tiers.Set(n++, name);

    Napi::Object out = Napi::Object::New(env);
    out.Set("cpu", cpu);
    out.Set("kernels", active_kernels(env)->name);
    out.Set("kernelTiers", tiers);
    out.Set("threads", Napi::Number::New(env, cpu_physical_cores()));
    out.Set("logicalCores", Napi::Number::New(env, cpu_logical_cores()));
    return out;
}

Napi::Value ggml_types(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    int count = 0;
    const GgmlTypeInfo* table = ggml_type_table(&count);
    Napi::Array out = Napi::Array::New(env, count);
    for (int k = 0; k < count; k++) {
        Napi::Object o = Napi::Object::New(env);
        o.Set("id", Napi::Number::New(env, table[k].id));
        o.Set("name", table[k].name);
        o.Set("blockSize", Napi::Number::New(env, table[k].block_size));
        o.Set("blockBytes", Napi::Number::New(env, table[k].block_bytes));
        o.Set("computable", Napi::Boolean::New(env, table[k].computable));
        out.Set((uint32_t)k, o);
    }
    return out;
}

// kernelRun(tier, op, ...typed arrays) -> result; a test hook comparing tiers with the reference.
//   "dot_f32"(a: Float32Array, b: Float32Array) -> number
//   "fp16_to_f32"(x: Uint16Array) -> Float32Array, "bf16_to_f32"(x: Uint16Array) -> Float32Array
//   "f32_to_fp16"(x: Float32Array) -> Uint16Array
//   "kv_q8_0" | "kv_q4_0"(x: Float32Array, length a multiple of 32) -> Uint8Array, the KV cache's
//   row encoding (and "kv_f16" -> Uint8Array of f16 bytes)
Napi::Value kernel_run(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 3 || !info[0].IsString() || !info[1].IsString())
        throw_invalid(env, "kernelRun(tier, op, ...arrays)");
    std::string tier = info[0].As<Napi::String>().Utf8Value();
    std::string op = info[1].As<Napi::String>().Utf8Value();
    const KernelTable* k = tier == "active" ? active_kernels(env) : kernels_by_name(tier.c_str());
    if (!k) throw_status(env, status_error("UNSUPPORTED", "kernel tier '" + tier + "' cannot run on this machine"));
    auto f32 = [&](size_t i) {
        if (info.Length() <= i || !info[i].IsTypedArray() ||
            info[i].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
            throw_invalid(env, "argument " + std::to_string(i) + " must be a Float32Array");
        return info[i].As<Napi::Float32Array>();
    };
    auto u16 = [&](size_t i) {
        if (info.Length() <= i || !info[i].IsTypedArray() ||
            info[i].As<Napi::TypedArray>().TypedArrayType() != napi_uint16_array)
            throw_invalid(env, "argument " + std::to_string(i) + " must be a Uint16Array");
        return info[i].As<Napi::Uint16Array>();
    };
    if (op == "dot_f32") {
        Napi::Float32Array a = f32(2), b = f32(3);
        if (a.ElementLength() != b.ElementLength()) throw_invalid(env, "dot_f32: arrays differ in length");
        return Napi::Number::New(env, k->dot_f32(a.Data(), b.Data(), (int64_t)a.ElementLength()));
    }
    if (op == "fp16_to_f32" || op == "bf16_to_f32") {
        Napi::Uint16Array x = u16(2);
        Napi::Float32Array y = Napi::Float32Array::New(env, x.ElementLength());
        (op == "fp16_to_f32" ? k->fp16_to_f32_row : k->bf16_to_f32_row)(x.Data(), y.Data(),
                                                                         (int64_t)x.ElementLength());
        return y;
    }
    if (op == "f32_to_fp16") {
        Napi::Float32Array x = f32(2);
        Napi::Uint16Array y = Napi::Uint16Array::New(env, x.ElementLength());
        k->f32_to_fp16_row(x.Data(), y.Data(), (int64_t)x.ElementLength());
        return y;
    }
    if (op == "kv_f16" || op == "kv_q8_0" || op == "kv_q4_0") {
        Napi::Float32Array x = f32(2);
        const KvType t = op == "kv_f16" ? KvType::F16 : op == "kv_q8_0" ? KvType::Q8_0 : KvType::Q4_0;
        const int64_t n = (int64_t)x.ElementLength();
        if (t != KvType::F16 && n % 32 != 0) throw_invalid(env, op + ": length must be a multiple of 32");
        Napi::Uint8Array y = Napi::Uint8Array::New(env, kv_row_bytes(t, n));
        kv_store_row(t, k, x.Data(), y.Data(), n);
        return y;
    }
    throw_invalid(env, "kernelRun: unknown op '" + op + "'");
}

}  // namespace rl
