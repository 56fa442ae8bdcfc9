// A GGUF file opened for inspection (header bytes only) or for use (whole file mapped or read).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>

#include "gguf.h"

namespace rl {

// ENOENT / EACCES / EISDIR / EIO for a failed file operation on `path` (`what`: "open", "read", ...),
// with the system's message.
Status errno_status(int err, const std::string& path, const char* what);

// Called with a fraction in [0, 1]; cheap, may be called often.
using ProgressFn = std::function<void(double)>;

class GgufFile {
public:
    GgufFile() = default;
    ~GgufFile();
    GgufFile(const GgufFile&) = delete;
    GgufFile& operator=(const GgufFile&) = delete;

    // Reads only as much of the file as the header needs (no mapping of tensor data).
    Status open_header(const std::string& path);

    // Maps the whole file read-only (or reads it into memory when use_mmap is false or mmap is
    // refused), parses the header and touches the tensor data so first use does not stall.
    // `cancel` is polled between chunks; when set, returns ABORTED.
    Status open_full(const std::string& path, bool use_mmap, const ProgressFn& progress,
                     const std::atomic<bool>* cancel);

    void close();

    const GgufHeader& header() const { return header_; }
    const std::string& path() const { return path_; }
    uint64_t file_size() const { return file_size_; }
    bool mapped() const { return map_ != nullptr; }
    bool has_data() const { return data_len_ == file_size_ && file_size_ > 0; }

    // Tensor bytes; nullptr when only the header was read.
    const uint8_t* tensor_data(const GgufTensorInfo& t) const;

private:
    Status parse_loaded();
    Status prefix_error(Status st) const;

    std::string path_;
    uint64_t file_size_ = 0;
    const uint8_t* data_ = nullptr;  // (data_len_) file bytes from offset 0
    uint64_t data_len_ = 0;
    void* map_ = nullptr;            // mmap base when mapped
    uint8_t* heap_ = nullptr;        // heap copy otherwise
    GgufHeader header_;
};

}  // namespace rl
