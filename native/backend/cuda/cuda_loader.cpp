#include "cuda_loader.h"

#include <cstdlib>
#include <mutex>

#ifdef _WIN32
#include <windows.h>
#else
#include <dlfcn.h>
#endif

#include "cuda_plugin.h"

namespace rl {

namespace {

struct Plugin {
    RingllmCudaListFn list = nullptr;
    RingllmCudaOpenFn open = nullptr;
};

// The folder of the file this code was loaded from (the addon), with a trailing separator.
std::string own_dir() {
#ifdef _WIN32
    HMODULE self = nullptr;
    char path[MAX_PATH];
    if (!GetModuleHandleExA(GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS | GET_MODULE_HANDLE_EX_FLAG_UNCHANGED_REFCOUNT,
                            (LPCSTR)&own_dir, &self) ||
        !GetModuleFileNameA(self, path, MAX_PATH))
        return "";
    std::string p(path);
    const size_t cut = p.find_last_of("\\/");
#else
    Dl_info info;
    if (!dladdr((void*)&own_dir, &info) || !info.dli_fname) return "";
    std::string p(info.dli_fname);
    const size_t cut = p.find_last_of('/');
#endif
    return cut == std::string::npos ? "" : p.substr(0, cut + 1);
}

void* open_plugin(const std::string& path) {
#ifdef _WIN32
    return (void*)LoadLibraryA(path.c_str());
#else
    return dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
#endif
}

void* plugin_symbol(void* lib, const char* name) {
#ifdef _WIN32
    return (void*)GetProcAddress((HMODULE)lib, name);
#else
    return dlsym(lib, name);
#endif
}

std::mutex& plugin_mutex() {
    static std::mutex mutex;
    return mutex;
}

std::string& package_plugin() {
    static std::string path;
    return path;
}

// Loaded once per process and kept (the CUDA runtime dislikes being unloaded).
const Plugin* plugin(std::string* why) {
    std::mutex& mutex = plugin_mutex();
    static Plugin loaded;
    static bool tried = false;
    static std::string failure;
    std::lock_guard<std::mutex> lock(mutex);
    if (!tried) {
        tried = true;
#ifdef _WIN32
        const char* file = "ringllm_cuda.dll";
#else
        const char* file = "libringllm_cuda.so";
#endif
        const char* env = std::getenv("RINGLLM_CUDA_PLUGIN");
        std::string path = env && *env ? std::string(env) : own_dir() + file;
        void* lib = open_plugin(path);
        if (!lib && !(env && *env) && !package_plugin().empty()) {
            // none beside the addon: the installed CUDA package's
            path = package_plugin();
            lib = open_plugin(path);
        }
        if (!lib) {
#ifdef _WIN32
            failure = "the CUDA plugin " + path + " could not be loaded";
#else
            const char* err = dlerror();
            failure = "the CUDA plugin could not be loaded (" + std::string(err ? err : path) + ")";
#endif
            failure += "; build it with nvcc (npm run build:cmake with the CUDA toolkit installed) or install the CUDA "
                       "package for your platform";
        } else {
            auto abi = (RingllmCudaAbiFn)plugin_symbol(lib, "ringllm_cuda_abi");
            loaded.list = (RingllmCudaListFn)plugin_symbol(lib, "ringllm_cuda_list");
            loaded.open = (RingllmCudaOpenFn)plugin_symbol(lib, "ringllm_cuda_open");
            if (!abi || !loaded.list || !loaded.open || abi() != RINGLLM_CUDA_ABI) {
                loaded = Plugin{};
                failure = "the CUDA plugin " + path + " is from another version of ringllm; rebuild or reinstall it";
            }
        }
    }
    if (!loaded.open) {
        *why = failure;
        return nullptr;
    }
    return &loaded;
}

}  // namespace

void cuda_set_package_plugin(const std::string& path) {
    std::lock_guard<std::mutex> lock(plugin_mutex());
    package_plugin() = path;
}

void cuda_list(std::vector<GpuInfo>* out, std::string* why) {
    out->clear();
    const Plugin* p = plugin(why);
    if (!p) return;
    if (!p->list(out, why)) out->clear();
    else if (out->empty()) *why = "the CUDA runtime found no device";
}

Status cuda_open(int32_t index, std::shared_ptr<GpuDevice>* out) {
    std::string why;
    const Plugin* p = plugin(&why);
    if (!p) return status_error("GPU_UNAVAILABLE", why);
    GpuDevice* dev = nullptr;
    Status st = p->open(index, &dev);
    if (!st.ok()) return status_error("GPU_UNAVAILABLE", st.message);
    out->reset(dev);
    return status_ok();
}

}  // namespace rl
