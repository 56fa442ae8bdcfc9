// A recall store's backing file (kv.store = a path): segments appended to one file and mapped
// shared, so a stream's evicted rows live in the page cache and on disk instead of anonymous memory
// (RSS stays bounded by what the kernel keeps resident). The file is unlinked once created: it
// holds nothing a later process could use, and disappears with the context, even after a crash.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "../util/status.h"

namespace rl {

class KvFileStore {
public:
    KvFileStore() = default;
    ~KvFileStore();
    KvFileStore(const KvFileStore&) = delete;
    KvFileStore& operator=(const KvFileStore&) = delete;

    // Creates (or truncates) `path` for writing; EACCES, ENOENT, EISDIR or EIO when it cannot;
    // UNSUPPORTED where there is no mmap (Windows).
    Status open(const std::string& path);
    // A new zeroed segment of `bytes` at the end of the file, mapped read-write; null on failure
    // (disk full, no address space).
    uint8_t* grow(size_t bytes);
    // Unmaps every segment and empties the file (the context was reset).
    void reset();
    uint64_t size() const { return size_; }

private:
    int fd_ = -1;
    uint64_t size_ = 0;
    std::vector<std::pair<void*, size_t>> maps_;
};

}  // namespace rl
