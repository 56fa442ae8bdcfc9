// Vulkan host code: loads libvulkan, creates a compute device, uploads and downloads buffers, and
// records the op list of gpu.h as dispatches of the embedded shaders (shaders_spv.h), one
// descriptor set per dispatch and a barrier between dispatches. No arithmetic lives here.
#include "vk_backend.h"

#if defined(__has_include)
#if __has_include(<vulkan/vulkan.h>)
#define RL_HAVE_VULKAN 1
#endif
#endif

#ifndef RL_HAVE_VULKAN

namespace rl {
void vulkan_list(std::vector<GpuInfo>* out, std::string* why) {
    out->clear();
    *why = "this build of ringllm has no Vulkan backend (the Vulkan headers were not found when it was compiled)";
}
Status vulkan_open(int32_t, std::shared_ptr<GpuDevice>*) {
    return status_error("GPU_UNAVAILABLE", "this build of ringllm has no Vulkan backend");
}
}  // namespace rl

#else

#define VK_NO_PROTOTYPES
#include <vulkan/vulkan.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <mutex>

#ifdef _WIN32
#include <windows.h>
#else
#include <dlfcn.h>
#endif

#include "shaders_spv.h"

namespace rl {

namespace {

// Loader and instance-level functions.
#define RL_VK_INSTANCE_FNS(X)                      \
    X(vkDestroyInstance)                           \
    X(vkEnumeratePhysicalDevices)                  \
    X(vkGetPhysicalDeviceProperties)               \
    X(vkGetPhysicalDeviceMemoryProperties)         \
    X(vkGetPhysicalDeviceQueueFamilyProperties)    \
    X(vkCreateDevice)                              \
    X(vkGetDeviceProcAddr)

#define RL_VK_DEVICE_FNS(X)            \
    X(vkDestroyDevice)                 \
    X(vkGetDeviceQueue)                \
    X(vkDeviceWaitIdle)                \
    X(vkCreateBuffer)                  \
    X(vkDestroyBuffer)                 \
    X(vkGetBufferMemoryRequirements)   \
    X(vkAllocateMemory)                \
    X(vkFreeMemory)                    \
    X(vkBindBufferMemory)              \
    X(vkMapMemory)                     \
    X(vkUnmapMemory)                   \
    X(vkCreateShaderModule)            \
    X(vkDestroyShaderModule)           \
    X(vkCreateDescriptorSetLayout)     \
    X(vkDestroyDescriptorSetLayout)    \
    X(vkCreatePipelineLayout)          \
    X(vkDestroyPipelineLayout)         \
    X(vkCreateComputePipelines)        \
    X(vkDestroyPipeline)               \
    X(vkCreateDescriptorPool)          \
    X(vkDestroyDescriptorPool)         \
    X(vkResetDescriptorPool)           \
    X(vkAllocateDescriptorSets)        \
    X(vkUpdateDescriptorSets)          \
    X(vkCreateCommandPool)             \
    X(vkDestroyCommandPool)            \
    X(vkAllocateCommandBuffers)        \
    X(vkResetCommandBuffer)            \
    X(vkBeginCommandBuffer)            \
    X(vkEndCommandBuffer)              \
    X(vkCmdBindPipeline)               \
    X(vkCmdBindDescriptorSets)         \
    X(vkCmdPushConstants)              \
    X(vkCmdDispatch)                   \
    X(vkCmdPipelineBarrier)            \
    X(vkCmdCopyBuffer)                 \
    X(vkQueueSubmit)                   \
    X(vkCreateFence)                   \
    X(vkDestroyFence)                  \
    X(vkWaitForFences)                 \
    X(vkResetFences)

struct VkApi {
    void* lib = nullptr;
    PFN_vkGetInstanceProcAddr vkGetInstanceProcAddr = nullptr;
    PFN_vkCreateInstance vkCreateInstance = nullptr;
    PFN_vkEnumerateInstanceExtensionProperties vkEnumerateInstanceExtensionProperties = nullptr;
    VkInstance instance = VK_NULL_HANDLE;
#define RL_DECL(name) PFN_##name name = nullptr;
    RL_VK_INSTANCE_FNS(RL_DECL)
    RL_VK_DEVICE_FNS(RL_DECL)
#undef RL_DECL
    std::vector<VkPhysicalDevice> physical;
};

void* open_library(std::string* why) {
#if defined(_WIN32)
    void* lib = (void*)LoadLibraryA("vulkan-1.dll");
    if (!lib) *why = "vulkan-1.dll could not be loaded (install your GPU's driver)";
    return lib;
#else
#if defined(__APPLE__)
    const char* names[] = {"libvulkan.1.dylib", "libMoltenVK.dylib"};
#else
    const char* names[] = {"libvulkan.so.1", "libvulkan.so"};
#endif
    for (const char* n : names)
        if (void* lib = dlopen(n, RTLD_NOW | RTLD_LOCAL)) return lib;
    *why = std::string(names[0]) + " could not be loaded (install the Vulkan loader and your GPU's driver, e.g. "
                                   "Debian's libvulkan1 and mesa-vulkan-drivers)";
    return nullptr;
#endif
}

void* library_symbol(void* lib, const char* name) {
#if defined(_WIN32)
    return (void*)GetProcAddress((HMODULE)lib, name);
#else
    return dlsym(lib, name);
#endif
}

// One Vulkan instance per process, created on first use and kept (drivers dislike teardown at exit).
VkApi* vk_api(std::string* why) {
    static std::mutex mutex;
    static VkApi* api = nullptr;
    static std::string failure;
    std::lock_guard<std::mutex> lock(mutex);
    if (api) return api;
    if (!failure.empty()) {
        *why = failure;
        return nullptr;
    }
    auto fail = [&](std::string msg) -> VkApi* {
        failure = std::move(msg);
        *why = failure;
        return nullptr;
    };
    std::unique_ptr<VkApi> a(new VkApi());
    std::string err;
    a->lib = open_library(&err);
    if (!a->lib) return fail(err);
    a->vkGetInstanceProcAddr = (PFN_vkGetInstanceProcAddr)library_symbol(a->lib, "vkGetInstanceProcAddr");
    if (!a->vkGetInstanceProcAddr) return fail("the Vulkan loader has no vkGetInstanceProcAddr");
    a->vkCreateInstance = (PFN_vkCreateInstance)a->vkGetInstanceProcAddr(nullptr, "vkCreateInstance");
    a->vkEnumerateInstanceExtensionProperties = (PFN_vkEnumerateInstanceExtensionProperties)a->vkGetInstanceProcAddr(
        nullptr, "vkEnumerateInstanceExtensionProperties");
    if (!a->vkCreateInstance || !a->vkEnumerateInstanceExtensionProperties)
        return fail("the Vulkan loader has no vkCreateInstance");

    // MoltenVK lists its devices only to instances that enumerate portability drivers.
    bool portability = false;
    uint32_t n_ext = 0;
    a->vkEnumerateInstanceExtensionProperties(nullptr, &n_ext, nullptr);
    std::vector<VkExtensionProperties> exts(n_ext);
    if (n_ext) a->vkEnumerateInstanceExtensionProperties(nullptr, &n_ext, exts.data());
    for (const auto& e : exts)
        if (std::strcmp(e.extensionName, "VK_KHR_portability_enumeration") == 0) portability = true;
    const char* ext_names[] = {"VK_KHR_portability_enumeration"};

    VkApplicationInfo app{};
    app.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO;
    app.pApplicationName = "ringllm";
    app.pEngineName = "ringllm";
    app.apiVersion = VK_API_VERSION_1_0;
    VkInstanceCreateInfo ci{};
    ci.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO;
    ci.pApplicationInfo = &app;
    if (portability) {
        ci.flags = 0x00000001;  // VK_INSTANCE_CREATE_ENUMERATE_PORTABILITY_BIT_KHR
        ci.enabledExtensionCount = 1;
        ci.ppEnabledExtensionNames = ext_names;
    }
    VkResult r = a->vkCreateInstance(&ci, nullptr, &a->instance);
    if (r != VK_SUCCESS) return fail("vkCreateInstance failed (" + std::to_string((int)r) + "): no usable Vulkan driver");
#define RL_LOAD(name) a->name = (PFN_##name)a->vkGetInstanceProcAddr(a->instance, #name);
    RL_VK_INSTANCE_FNS(RL_LOAD)
#undef RL_LOAD
    if (!a->vkEnumeratePhysicalDevices || !a->vkGetDeviceProcAddr || !a->vkCreateDevice)
        return fail("the Vulkan instance lacks core functions");
    uint32_t n = 0;
    a->vkEnumeratePhysicalDevices(a->instance, &n, nullptr);
    a->physical.resize(n);
    if (n) a->vkEnumeratePhysicalDevices(a->instance, &n, a->physical.data());
    a->physical.resize(n);
    api = a.release();
    return api;
}

const char* device_type_name(VkPhysicalDeviceType t) {
    switch (t) {
        case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return "discrete";
        case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return "integrated";
        case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return "virtual";
        case VK_PHYSICAL_DEVICE_TYPE_CPU: return "cpu";
        default: return "other";
    }
}

GpuInfo describe(VkApi* a, VkPhysicalDevice pd, int32_t index) {
    VkPhysicalDeviceProperties props;
    a->vkGetPhysicalDeviceProperties(pd, &props);
    VkPhysicalDeviceMemoryProperties mem;
    a->vkGetPhysicalDeviceMemoryProperties(pd, &mem);
    GpuInfo info;
    info.backend = "vulkan";
    info.name = props.deviceName;
    info.type = device_type_name(props.deviceType);
    info.index = index;
    for (uint32_t i = 0; i < mem.memoryHeapCount; i++)
        if (mem.memoryHeaps[i].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT)
            info.memory = std::max<uint64_t>(info.memory, mem.memoryHeaps[i].size);
    return info;
}

enum ShaderId { SH_MATMUL_F32, SH_MATMUL_F16, SH_MATMUL_Q8_0, SH_MATMUL_Q4_0, SH_MATMUL_Q4_K, SH_MATMUL_Q5_K, SH_MATMUL_Q6_K, SH_NORM, SH_ADD, SH_GLU, SH_ROPE,
                SH_KV_STORE_F16, SH_KV_STORE_Q8_0, SH_ATTENTION_F16, SH_ATTENTION_Q8_0, SH_ATTN_MERGE, SH_COUNT };
constexpr uint32_t kBindings = 4;
constexpr uint32_t kPushBytes = 128;
constexpr uint32_t kSetsPerPool = 512;
constexpr uint32_t kMaxGroups = 65535;  // the smallest maxComputeWorkGroupCount a device may have

struct VkBuf {
    VkBuffer buffer = VK_NULL_HANDLE;
    VkDeviceMemory memory = VK_NULL_HANDLE;
    void* mapped = nullptr;  // host-visible memory stays mapped
    size_t bytes = 0;
};

class VulkanStream;

class VulkanDevice final : public GpuDevice {
    friend class VulkanStream;

public:
    ~VulkanDevice() override;
    Status init(VkApi* api, VkPhysicalDevice pd, const GpuInfo& info);
    const GpuInfo& info() const override { return info_; }
    Status alloc(size_t bytes, bool host_visible, DevBuf* out) override;
    void free(DevBuf* buf) override;
    Status write(const DevBuf& buf, size_t offset, const void* src, size_t bytes) override;
    Status read(const DevBuf& buf, size_t offset, void* dst, size_t bytes) override;
    Status create_stream(std::unique_ptr<GpuStream>* out) override;
    int64_t allocated_bytes() const override { return allocated_.load(); }
    size_t max_buffer_bytes() const override { return max_range_; }

private:
    int32_t memory_type(uint32_t bits, VkMemoryPropertyFlags need, VkMemoryPropertyFlags prefer) const;
    Status create_buffer(size_t bytes, bool host_visible, VkBuf* out);
    void destroy_buffer(VkBuf* b);
    Status submit_wait(VkCommandBuffer cb, VkFence fence);
    // Copies between a buffer and host memory through the staging buffer, in chunks.
    Status staged_copy(const VkBuf& dev, size_t offset, void* host, size_t bytes, bool to_device);

    VkApi api_;  // the instance's functions and this device's (device functions are per device)
    VkApi* a_ = &api_;
    GpuInfo info_;
    VkPhysicalDevice pd_ = VK_NULL_HANDLE;
    VkPhysicalDeviceMemoryProperties mem_{};
    VkDevice dev_ = VK_NULL_HANDLE;
    VkQueue queue_ = VK_NULL_HANDLE;
    uint32_t family_ = 0;
    size_t max_range_ = 0;
    std::mutex queue_mutex_;  // vkQueueSubmit needs the queue externally synchronized
    VkDescriptorSetLayout set_layout_ = VK_NULL_HANDLE;
    VkPipelineLayout layout_ = VK_NULL_HANDLE;
    VkPipeline pipelines_[SH_COUNT] = {};
    VkBuf dummy_;  // bound to the bindings an op does not use
    // staging for write()/read() of device-only memory
    std::mutex staging_mutex_;
    VkBuf staging_;
    VkCommandPool copy_pool_ = VK_NULL_HANDLE;
    VkCommandBuffer copy_cb_ = VK_NULL_HANDLE;
    VkFence copy_fence_ = VK_NULL_HANDLE;
    std::atomic<int64_t> allocated_{0};
};

Status vk_error(const char* what, VkResult r) {
    if (r == VK_ERROR_OUT_OF_DEVICE_MEMORY || r == VK_ERROR_OUT_OF_HOST_MEMORY)
        return status_error("GPU_OUT_OF_MEMORY", std::string(what) + ": out of device memory");
    return status_error("GPU_FAILED", std::string(what) + " failed (VkResult " + std::to_string((int)r) + ")");
}

Status VulkanDevice::init(VkApi* api, VkPhysicalDevice pd, const GpuInfo& info) {
    api_ = *api;
    pd_ = pd;
    info_ = info;
    a_->vkGetPhysicalDeviceMemoryProperties(pd, &mem_);
    VkPhysicalDeviceProperties props;
    a_->vkGetPhysicalDeviceProperties(pd, &props);
    max_range_ = props.limits.maxStorageBufferRange;
    if (props.limits.maxPushConstantsSize < kPushBytes || props.limits.maxComputeWorkGroupInvocations < 64)
        return status_error("GPU_UNAVAILABLE", info_.name + " lacks the compute limits ringllm needs");

    uint32_t n_fam = 0;
    a_->vkGetPhysicalDeviceQueueFamilyProperties(pd, &n_fam, nullptr);
    std::vector<VkQueueFamilyProperties> fams(n_fam);
    a_->vkGetPhysicalDeviceQueueFamilyProperties(pd, &n_fam, fams.data());
    bool found = false;
    for (uint32_t i = 0; i < n_fam && !found; i++)
        if (fams[i].queueFlags & VK_QUEUE_COMPUTE_BIT) {
            family_ = i;
            found = true;
        }
    if (!found) return status_error("GPU_UNAVAILABLE", info_.name + " has no compute queue");

    const float priority = 1.0f;
    VkDeviceQueueCreateInfo qci{};
    qci.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO;
    qci.queueFamilyIndex = family_;
    qci.queueCount = 1;
    qci.pQueuePriorities = &priority;
    VkDeviceCreateInfo dci{};
    dci.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO;
    dci.queueCreateInfoCount = 1;
    dci.pQueueCreateInfos = &qci;
    VkResult r = a_->vkCreateDevice(pd, &dci, nullptr, &dev_);
    if (r != VK_SUCCESS) return vk_error("vkCreateDevice", r);
#define RL_LOAD(name)                                                  \
    a_->name = (PFN_##name)a_->vkGetDeviceProcAddr(dev_, #name);       \
    if (!a_->name) return status_error("GPU_FAILED", "the Vulkan driver lacks " #name);
    RL_VK_DEVICE_FNS(RL_LOAD)
#undef RL_LOAD
    a_->vkGetDeviceQueue(dev_, family_, 0, &queue_);

    VkDescriptorSetLayoutBinding b[kBindings];
    for (uint32_t i = 0; i < kBindings; i++) {
        b[i] = VkDescriptorSetLayoutBinding{};
        b[i].binding = i;
        b[i].descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
        b[i].descriptorCount = 1;
        b[i].stageFlags = VK_SHADER_STAGE_COMPUTE_BIT;
    }
    VkDescriptorSetLayoutCreateInfo lci{};
    lci.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO;
    lci.bindingCount = kBindings;
    lci.pBindings = b;
    if ((r = a_->vkCreateDescriptorSetLayout(dev_, &lci, nullptr, &set_layout_)) != VK_SUCCESS)
        return vk_error("vkCreateDescriptorSetLayout", r);
    VkPushConstantRange pcr{VK_SHADER_STAGE_COMPUTE_BIT, 0, kPushBytes};
    VkPipelineLayoutCreateInfo plci{};
    plci.sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO;
    plci.setLayoutCount = 1;
    plci.pSetLayouts = &set_layout_;
    plci.pushConstantRangeCount = 1;
    plci.pPushConstantRanges = &pcr;
    if ((r = a_->vkCreatePipelineLayout(dev_, &plci, nullptr, &layout_)) != VK_SUCCESS)
        return vk_error("vkCreatePipelineLayout", r);
    static_assert(sizeof(vk_spv::kShaders) / sizeof(vk_spv::kShaders[0]) == SH_COUNT, "shader table and ShaderId differ");
    for (int i = 0; i < SH_COUNT; i++) {
        VkShaderModuleCreateInfo smci{};
        smci.sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO;
        smci.codeSize = vk_spv::kShaders[i].bytes;
        smci.pCode = vk_spv::kShaders[i].code;
        VkShaderModule mod;
        if ((r = a_->vkCreateShaderModule(dev_, &smci, nullptr, &mod)) != VK_SUCCESS)
            return vk_error("vkCreateShaderModule", r);
        VkComputePipelineCreateInfo cci{};
        cci.sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO;
        cci.stage.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO;
        cci.stage.stage = VK_SHADER_STAGE_COMPUTE_BIT;
        cci.stage.module = mod;
        cci.stage.pName = "main";
        cci.layout = layout_;
        r = a_->vkCreateComputePipelines(dev_, VK_NULL_HANDLE, 1, &cci, nullptr, &pipelines_[i]);
        a_->vkDestroyShaderModule(dev_, mod, nullptr);
        if (r != VK_SUCCESS) return vk_error((std::string("compiling shader ") + vk_spv::kShaders[i].name).c_str(), r);
    }
    Status st = create_buffer(256, false, &dummy_);
    if (!st.ok()) return st;
    if (!(st = create_buffer(16u << 20, true, &staging_)).ok()) return st;
    VkCommandPoolCreateInfo cpci{};
    cpci.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO;
    cpci.flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT;
    cpci.queueFamilyIndex = family_;
    if ((r = a_->vkCreateCommandPool(dev_, &cpci, nullptr, &copy_pool_)) != VK_SUCCESS) return vk_error("vkCreateCommandPool", r);
    VkCommandBufferAllocateInfo cbai{};
    cbai.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO;
    cbai.commandPool = copy_pool_;
    cbai.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
    cbai.commandBufferCount = 1;
    if ((r = a_->vkAllocateCommandBuffers(dev_, &cbai, &copy_cb_)) != VK_SUCCESS) return vk_error("vkAllocateCommandBuffers", r);
    VkFenceCreateInfo fci{};
    fci.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO;
    if ((r = a_->vkCreateFence(dev_, &fci, nullptr, &copy_fence_)) != VK_SUCCESS) return vk_error("vkCreateFence", r);
    return status_ok();
}

VulkanDevice::~VulkanDevice() {
    if (!dev_) return;
    a_->vkDeviceWaitIdle(dev_);
    destroy_buffer(&dummy_);
    destroy_buffer(&staging_);
    if (copy_fence_) a_->vkDestroyFence(dev_, copy_fence_, nullptr);
    if (copy_pool_) a_->vkDestroyCommandPool(dev_, copy_pool_, nullptr);
    for (VkPipeline p : pipelines_)
        if (p) a_->vkDestroyPipeline(dev_, p, nullptr);
    if (layout_) a_->vkDestroyPipelineLayout(dev_, layout_, nullptr);
    if (set_layout_) a_->vkDestroyDescriptorSetLayout(dev_, set_layout_, nullptr);
    a_->vkDestroyDevice(dev_, nullptr);
}

int32_t VulkanDevice::memory_type(uint32_t bits, VkMemoryPropertyFlags need, VkMemoryPropertyFlags prefer) const {
    int32_t fallback = -1;
    for (uint32_t i = 0; i < mem_.memoryTypeCount; i++) {
        if (!(bits & (1u << i))) continue;
        const VkMemoryPropertyFlags f = mem_.memoryTypes[i].propertyFlags;
        if ((f & need) != need) continue;
        if ((f & prefer) == prefer) return (int32_t)i;
        if (fallback < 0) fallback = (int32_t)i;
    }
    return fallback;
}

Status VulkanDevice::create_buffer(size_t bytes, bool host_visible, VkBuf* out) {
    *out = VkBuf{};
    VkBufferCreateInfo bci{};
    bci.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO;
    bci.size = std::max<size_t>(bytes, 16);
    bci.usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT;
    bci.sharingMode = VK_SHARING_MODE_EXCLUSIVE;
    VkResult r = a_->vkCreateBuffer(dev_, &bci, nullptr, &out->buffer);
    if (r != VK_SUCCESS) return vk_error("vkCreateBuffer", r);
    VkMemoryRequirements req;
    a_->vkGetBufferMemoryRequirements(dev_, out->buffer, &req);
    const VkMemoryPropertyFlags hv = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
    const int32_t type = host_visible ? memory_type(req.memoryTypeBits, hv, VK_MEMORY_PROPERTY_HOST_CACHED_BIT)
                                      : memory_type(req.memoryTypeBits, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT, 0);
    if (type < 0) {
        destroy_buffer(out);
        return status_error("GPU_FAILED", info_.name + " has no suitable memory type");
    }
    VkMemoryAllocateInfo mai{};
    mai.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO;
    mai.allocationSize = req.size;
    mai.memoryTypeIndex = (uint32_t)type;
    if ((r = a_->vkAllocateMemory(dev_, &mai, nullptr, &out->memory)) != VK_SUCCESS) {
        destroy_buffer(out);
        if (r == VK_ERROR_OUT_OF_DEVICE_MEMORY || r == VK_ERROR_OUT_OF_HOST_MEMORY)
            return status_error("GPU_OUT_OF_MEMORY", info_.name + " could not allocate " + std::to_string(bytes >> 20) +
                                                         " MiB (" + std::to_string(allocated_.load() >> 20) +
                                                         " MiB already in use); offload fewer layers (gpuLayers)");
        return vk_error("vkAllocateMemory", r);
    }
    if ((r = a_->vkBindBufferMemory(dev_, out->buffer, out->memory, 0)) != VK_SUCCESS) {
        destroy_buffer(out);
        return vk_error("vkBindBufferMemory", r);
    }
    // memory the host can see stays mapped (on unified-memory devices that is device-local memory too)
    if (mem_.memoryTypes[type].propertyFlags & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT) {
        if ((mem_.memoryTypes[type].propertyFlags & VK_MEMORY_PROPERTY_HOST_COHERENT_BIT) &&
            a_->vkMapMemory(dev_, out->memory, 0, VK_WHOLE_SIZE, 0, &out->mapped) != VK_SUCCESS)
            out->mapped = nullptr;
    }
    out->bytes = bytes;
    allocated_ += (int64_t)req.size;
    return status_ok();
}

void VulkanDevice::destroy_buffer(VkBuf* b) {
    if (b->mapped) a_->vkUnmapMemory(dev_, b->memory);
    if (b->buffer) a_->vkDestroyBuffer(dev_, b->buffer, nullptr);
    if (b->memory) a_->vkFreeMemory(dev_, b->memory, nullptr);
    *b = VkBuf{};
}

Status VulkanDevice::alloc(size_t bytes, bool host_visible, DevBuf* out) {
    *out = DevBuf{};
    if (bytes > max_range_)
        return status_error("GPU_UNSUPPORTED", "a buffer of " + std::to_string(bytes >> 20) + " MiB is larger than " +
                                                   info_.name + " binds (" + std::to_string(max_range_ >> 20) + " MiB)");
    std::unique_ptr<VkBuf> b(new VkBuf());
    Status st = create_buffer(bytes, host_visible, b.get());
    if (!st.ok()) return st;
    out->impl = b.release();
    out->bytes = bytes;
    return status_ok();
}

void VulkanDevice::free(DevBuf* buf) {
    if (!buf->impl) return;
    VkBuf* b = (VkBuf*)buf->impl;
    VkMemoryRequirements req;
    a_->vkGetBufferMemoryRequirements(dev_, b->buffer, &req);
    allocated_ -= (int64_t)req.size;
    destroy_buffer(b);
    delete b;
    *buf = DevBuf{};
}

Status VulkanDevice::submit_wait(VkCommandBuffer cb, VkFence fence) {
    VkSubmitInfo si{};
    si.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO;
    si.commandBufferCount = 1;
    si.pCommandBuffers = &cb;
    VkResult r;
    {
        std::lock_guard<std::mutex> lock(queue_mutex_);
        r = a_->vkQueueSubmit(queue_, 1, &si, fence);
    }
    if (r != VK_SUCCESS) return vk_error("vkQueueSubmit", r);
    r = a_->vkWaitForFences(dev_, 1, &fence, VK_TRUE, UINT64_MAX);
    a_->vkResetFences(dev_, 1, &fence);
    if (r != VK_SUCCESS) return vk_error("vkWaitForFences", r);
    return status_ok();
}

Status VulkanDevice::staged_copy(const VkBuf& dev, size_t offset, void* host, size_t bytes, bool to_device) {
    std::lock_guard<std::mutex> lock(staging_mutex_);
    for (size_t done = 0; done < bytes;) {
        const size_t n = std::min(bytes - done, staging_.bytes);
        if (to_device) std::memcpy(staging_.mapped, (const uint8_t*)host + done, n);
        a_->vkResetCommandBuffer(copy_cb_, 0);
        VkCommandBufferBeginInfo bi{};
        bi.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO;
        bi.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
        a_->vkBeginCommandBuffer(copy_cb_, &bi);
        VkBufferCopy region{to_device ? 0 : offset + done, to_device ? offset + done : 0, n};
        a_->vkCmdCopyBuffer(copy_cb_, to_device ? staging_.buffer : dev.buffer, to_device ? dev.buffer : staging_.buffer, 1,
                            &region);
        a_->vkEndCommandBuffer(copy_cb_);
        Status st = submit_wait(copy_cb_, copy_fence_);
        if (!st.ok()) return st;
        if (!to_device) std::memcpy((uint8_t*)host + done, staging_.mapped, n);
        done += n;
    }
    return status_ok();
}

Status VulkanDevice::write(const DevBuf& buf, size_t offset, const void* src, size_t bytes) {
    const VkBuf* b = (const VkBuf*)buf.impl;
    if (!b || offset + bytes > b->bytes) return status_error("INVALID_ARGUMENT", "device write outside the buffer");
    if (b->mapped) {
        std::memcpy((uint8_t*)b->mapped + offset, src, bytes);
        return status_ok();
    }
    return staged_copy(*b, offset, const_cast<void*>(src), bytes, true);
}

Status VulkanDevice::read(const DevBuf& buf, size_t offset, void* dst, size_t bytes) {
    const VkBuf* b = (const VkBuf*)buf.impl;
    if (!b || offset + bytes > b->bytes) return status_error("INVALID_ARGUMENT", "device read outside the buffer");
    if (b->mapped) {
        std::memcpy(dst, (const uint8_t*)b->mapped + offset, bytes);
        return status_ok();
    }
    return staged_copy(*b, offset, dst, bytes, false);
}

class VulkanStream final : public GpuStream {
public:
    explicit VulkanStream(VulkanDevice* d) : d_(d), a_(d->a_) {}
    ~VulkanStream() override {
        d_->free(&parts_);
        if (pool_) a_->vkDestroyCommandPool(d_->dev_, pool_, nullptr);
        if (sets_) a_->vkDestroyDescriptorPool(d_->dev_, sets_, nullptr);
        if (fence_) a_->vkDestroyFence(d_->dev_, fence_, nullptr);
    }
    Status init();

    void matmul(const DevMatrix& w, DevPtr x, int64_t x_stride, int32_t m, DevPtr y, int64_t y_stride) override {
        static const ShaderId ids[] = {SH_MATMUL_F32,  SH_MATMUL_F16,  SH_MATMUL_Q8_0, SH_MATMUL_Q4_0,
                                       SH_MATMUL_Q4_K, SH_MATMUL_Q5_K, SH_MATMUL_Q6_K};
        const DevBuf* scales = w.scales.impl ? &w.scales : nullptr;
        for (int64_t r0 = 0; r0 < w.n_out; r0 += kMaxGroups) {
            const int32_t pc[10] = {(int32_t)w.n_in, (int32_t)w.n_out, m, (int32_t)r0, (int32_t)x.off, (int32_t)x_stride,
                                    (int32_t)y.off, (int32_t)y_stride, 0, 0};
            const DevBuf* bufs[kBindings] = {scales, &w.data, x.buf, y.buf};
            dispatch(ids[(int)w.fmt], bufs, pc, sizeof(pc), (uint32_t)std::min<int64_t>(kMaxGroups, w.n_out - r0),
                     (uint32_t)((m + 7) / 8));
        }
    }
    void norm(DevNorm kind, DevPtr x, int64_t x_stride, DevPtr w, DevPtr y, int64_t y_stride, int32_t rows, int32_t n,
              float eps) override {
        struct {
            int32_t n, x_off, x_stride, w_off, y_off, y_stride, kind;
            float eps;
        } pc{n, (int32_t)x.off, (int32_t)x_stride, (int32_t)w.off, (int32_t)y.off, (int32_t)y_stride,
             kind == DevNorm::Layer ? 1 : 0, eps};
        const DevBuf* bufs[kBindings] = {x.buf, w.buf, y.buf, nullptr};
        for (int32_t r0 = 0; r0 < rows; r0 += (int32_t)kMaxGroups) {
            auto p = pc;
            p.x_off += (int32_t)(r0 * x_stride);
            p.y_off += (int32_t)(r0 * y_stride);
            dispatch(SH_NORM, bufs, &p, sizeof(p), (uint32_t)std::min<int32_t>((int32_t)kMaxGroups, rows - r0), 1);
        }
    }
    void add(DevPtr y, int64_t y_stride, DevPtr a, int64_t a_stride, int32_t rows, int32_t n) override {
        add_or_copy(y, y_stride, a, a_stride, rows, n, 0);
    }
    void copy(DevPtr y, int64_t y_stride, DevPtr a, int64_t a_stride, int32_t rows, int32_t n) override {
        add_or_copy(y, y_stride, a, a_stride, rows, n, 1);
    }
    void add_or_copy(DevPtr y, int64_t y_stride, DevPtr a, int64_t a_stride, int32_t rows, int32_t n, int32_t mode) {
        const int32_t pc[6] = {n, (int32_t)y.off, (int32_t)y_stride, (int32_t)a.off, (int32_t)a_stride, mode};
        const DevBuf* bufs[kBindings] = {y.buf, a.buf, nullptr, nullptr};
        dispatch(SH_ADD, bufs, pc, sizeof(pc), (uint32_t)((n + 63) / 64), (uint32_t)rows);
    }
    void rope(DevPtr x, int64_t x_stride, int32_t rows, int32_t n_heads, int32_t head_dim, int32_t n_rot, bool neox,
              DevPtr cs) override {
        const int32_t pc[7] = {(int32_t)x.off, (int32_t)x_stride, n_heads, head_dim, n_rot, neox ? 1 : 0, (int32_t)cs.off};
        const DevBuf* bufs[kBindings] = {x.buf, cs.buf, nullptr, nullptr};
        dispatch(SH_ROPE, bufs, pc, sizeof(pc), (uint32_t)((n_heads * (n_rot / 2) + 63) / 64), (uint32_t)rows);
    }
    void glu(DevGlu act, DevPtr g, DevPtr u, int32_t rows, int32_t n) override {
        const int32_t pc[4] = {n, (int32_t)g.off, (int32_t)u.off, act == DevGlu::GeluTanh ? 1 : 0};
        const DevBuf* bufs[kBindings] = {g.buf, u.buf, nullptr, nullptr};
        dispatch(SH_GLU, bufs, pc, sizeof(pc), (uint32_t)((n + 63) / 64), (uint32_t)rows);
    }
    void kv_store(DevPtr src, int64_t src_stride, int32_t rows, int32_t dim, const DevBuf& cache, const DevRing& ring,
                  int64_t pos0) override {
        const int64_t S = ring.n_sinks;
        const int32_t sink_rows = pos0 < S ? (int32_t)std::min<int64_t>(rows, S - pos0) : 0;
        const int32_t pc[8] = {(int32_t)src.off,  (int32_t)src_stride, dim, (int32_t)ring.n_ring,
                               (int32_t)((std::max(pos0, S) - S) % ring.n_ring), sink_rows, (int32_t)(pos0 < S ? pos0 : 0),
                               (int32_t)S};
        const DevBuf* bufs[kBindings] = {src.buf, &cache, nullptr, nullptr};
        const bool q8 = ring.type == DevKv::Q8_0;
        const int32_t units = q8 ? dim / 32 : dim / 2;
        dispatch(q8 ? SH_KV_STORE_Q8_0 : SH_KV_STORE_F16, bufs, pc, sizeof(pc), (uint32_t)((units + 63) / 64), (uint32_t)rows);
    }
    void attention(const DevAttn& at, DevPtr q, DevPtr q1, int64_t q_stride, const DevBuf& k_cache, const DevBuf& v_cache,
                   DevPtr out, int64_t out_stride) override {
        const int64_t newest = at.pos0 + at.rows - 1, S = at.ring.n_sinks;
        const int32_t splits = dev_attn_splits(at);
        const DevBuf* parts = nullptr;
        if (splits > 1) {
            const size_t need = (size_t)at.rows * at.n_head * splits * (at.dv + 2) * 4;
            if (parts_.bytes < need) {
                d_->free(&parts_);
                Status st = d_->alloc(std::max(need, (size_t)at.n_head * kDevMaxSplits * (at.dv + 2) * 4), false, &parts_);
                if (!st.ok()) {
                    if (failed_.ok()) failed_ = st;
                    return;
                }
            }
            parts = &parts_;
        }
        struct {
            int32_t q_off, q1_off, q_stride, o_off, o_stride;
            int32_t rows, p_newest, p_mod, n_ring, n_sinks;
            int32_t window, group, dk, dv, n_head_kv;
            float scale, softcap;
            int32_t splits, n_head;
        } pc{(int32_t)q.off,
             (int32_t)q1.off,
             (int32_t)q_stride,
             (int32_t)out.off,
             (int32_t)out_stride,
             at.rows,
             (int32_t)std::min<int64_t>(newest, 1 << 30),
             (int32_t)(newest >= S ? (newest - S) % at.ring.n_ring : 0),
             (int32_t)at.ring.n_ring,
             (int32_t)S,
             at.window,
             at.n_head / at.n_head_kv,
             at.dk,
             at.dv,
             at.n_head_kv,
             at.scale,
             at.softcap,
             splits,
             at.n_head};
        if (parts) pc.o_off = 0;
        const DevBuf* bufs[kBindings] = {q.buf, &k_cache, &v_cache, parts ? parts : out.buf};
        dispatch(at.ring.type == DevKv::Q8_0 ? SH_ATTENTION_Q8_0 : SH_ATTENTION_F16, bufs, &pc, sizeof(pc), (uint32_t)at.n_head,
                 (uint32_t)at.rows, (uint32_t)splits);
        if (!parts) return;
        const int32_t mc[6] = {0, (int32_t)out.off, (int32_t)out_stride, splits, at.dv, at.n_head};
        const DevBuf* mbufs[kBindings] = {parts, nullptr, nullptr, out.buf};
        dispatch(SH_ATTN_MERGE, mbufs, mc, sizeof(mc), (uint32_t)at.n_head, (uint32_t)at.rows);
    }
    Status run() override;

private:
    void begin();
    void dispatch(ShaderId id, const DevBuf* const* bufs, const void* pc, uint32_t pc_bytes, uint32_t gx, uint32_t gy,
                  uint32_t gz = 1);

    VulkanDevice* d_;
    VkApi* a_;
    VkCommandPool pool_ = VK_NULL_HANDLE;
    VkCommandBuffer cb_ = VK_NULL_HANDLE;
    VkDescriptorPool sets_ = VK_NULL_HANDLE;
    VkFence fence_ = VK_NULL_HANDLE;
    DevBuf parts_;  // flash-decoding partials, grown on first need
    uint32_t sets_used_ = 0;
    bool recording_ = false;
    Status failed_;  // the first error of a recording (reported by run())
};

Status VulkanStream::init() {
    VkCommandPoolCreateInfo cpci{};
    cpci.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO;
    cpci.flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT;
    cpci.queueFamilyIndex = d_->family_;
    VkResult r = a_->vkCreateCommandPool(d_->dev_, &cpci, nullptr, &pool_);
    if (r != VK_SUCCESS) return vk_error("vkCreateCommandPool", r);
    VkCommandBufferAllocateInfo cbai{};
    cbai.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO;
    cbai.commandPool = pool_;
    cbai.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
    cbai.commandBufferCount = 1;
    if ((r = a_->vkAllocateCommandBuffers(d_->dev_, &cbai, &cb_)) != VK_SUCCESS) return vk_error("vkAllocateCommandBuffers", r);
    VkDescriptorPoolSize size{VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, kSetsPerPool * kBindings};
    VkDescriptorPoolCreateInfo dpci{};
    dpci.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO;
    dpci.maxSets = kSetsPerPool;
    dpci.poolSizeCount = 1;
    dpci.pPoolSizes = &size;
    if ((r = a_->vkCreateDescriptorPool(d_->dev_, &dpci, nullptr, &sets_)) != VK_SUCCESS)
        return vk_error("vkCreateDescriptorPool", r);
    VkFenceCreateInfo fci{};
    fci.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO;
    if ((r = a_->vkCreateFence(d_->dev_, &fci, nullptr, &fence_)) != VK_SUCCESS) return vk_error("vkCreateFence", r);
    return status_ok();
}

void VulkanStream::begin() {
    a_->vkResetCommandBuffer(cb_, 0);
    a_->vkResetDescriptorPool(d_->dev_, sets_, 0);
    sets_used_ = 0;
    VkCommandBufferBeginInfo bi{};
    bi.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO;
    bi.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
    a_->vkBeginCommandBuffer(cb_, &bi);
    recording_ = true;
}

void VulkanStream::dispatch(ShaderId id, const DevBuf* const* bufs, const void* pc, uint32_t pc_bytes, uint32_t gx,
                            uint32_t gy, uint32_t gz) {
    if (!failed_.ok() || gx == 0 || gy == 0) return;
    if (!recording_) begin();
    if (sets_used_ == kSetsPerPool) {  // the pool is spent: run what is recorded and start over
        Status st = run();
        if (!st.ok()) {
            failed_ = st;
            return;
        }
        begin();
    }
    VkDescriptorSetAllocateInfo dsai{};
    dsai.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO;
    dsai.descriptorPool = sets_;
    dsai.descriptorSetCount = 1;
    dsai.pSetLayouts = &d_->set_layout_;
    VkDescriptorSet set;
    VkResult r = a_->vkAllocateDescriptorSets(d_->dev_, &dsai, &set);
    if (r != VK_SUCCESS) {
        failed_ = vk_error("vkAllocateDescriptorSets", r);
        return;
    }
    sets_used_++;
    VkDescriptorBufferInfo infos[kBindings];
    VkWriteDescriptorSet writes[kBindings];
    for (uint32_t i = 0; i < kBindings; i++) {
        const VkBuf* b = bufs[i] && bufs[i]->impl ? (const VkBuf*)bufs[i]->impl : &d_->dummy_;
        infos[i] = VkDescriptorBufferInfo{b->buffer, 0, VK_WHOLE_SIZE};
        writes[i] = VkWriteDescriptorSet{};
        writes[i].sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET;
        writes[i].dstSet = set;
        writes[i].dstBinding = i;
        writes[i].descriptorCount = 1;
        writes[i].descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
        writes[i].pBufferInfo = &infos[i];
    }
    a_->vkUpdateDescriptorSets(d_->dev_, kBindings, writes, 0, nullptr);
    a_->vkCmdBindPipeline(cb_, VK_PIPELINE_BIND_POINT_COMPUTE, d_->pipelines_[id]);
    a_->vkCmdBindDescriptorSets(cb_, VK_PIPELINE_BIND_POINT_COMPUTE, d_->layout_, 0, 1, &set, 0, nullptr);
    a_->vkCmdPushConstants(cb_, d_->layout_, VK_SHADER_STAGE_COMPUTE_BIT, 0, pc_bytes, pc);
    a_->vkCmdDispatch(cb_, gx, gy, gz);
    VkMemoryBarrier mb{};
    mb.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER;
    mb.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT;
    mb.dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_HOST_READ_BIT;
    a_->vkCmdPipelineBarrier(cb_, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
                             VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &mb, 0, nullptr, 0,
                             nullptr);
}

Status VulkanStream::run() {
    Status st = failed_;
    failed_ = status_ok();
    if (!recording_) return st;
    recording_ = false;
    a_->vkEndCommandBuffer(cb_);
    if (!st.ok()) return st;
    return d_->submit_wait(cb_, fence_);
}

Status VulkanDevice::create_stream(std::unique_ptr<GpuStream>* out) {
    std::unique_ptr<VulkanStream> s(new VulkanStream(this));
    Status st = s->init();
    if (!st.ok()) return st;
    *out = std::move(s);
    return status_ok();
}

}  // namespace

void vulkan_list(std::vector<GpuInfo>* out, std::string* why) {
    out->clear();
    VkApi* a = vk_api(why);
    if (!a) return;
    for (size_t i = 0; i < a->physical.size(); i++) out->push_back(describe(a, a->physical[i], (int32_t)i));
    if (out->empty()) *why = "the Vulkan loader found no device";
}

Status vulkan_open(int32_t index, std::shared_ptr<GpuDevice>* out) {
    std::string why;
    VkApi* a = vk_api(&why);
    if (!a) return status_error("GPU_UNAVAILABLE", why);
    if (index < 0 || (size_t)index >= a->physical.size())
        return status_error("GPU_UNAVAILABLE", "no Vulkan device " + std::to_string(index));
    std::shared_ptr<VulkanDevice> d = std::make_shared<VulkanDevice>();
    Status st = d->init(a, a->physical[(size_t)index], describe(a, a->physical[(size_t)index], index));
    if (!st.ok()) return st;
    *out = d;
    return status_ok();
}

}  // namespace rl

#endif  // RL_HAVE_VULKAN
