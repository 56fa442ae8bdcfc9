#include "kv_store.h"

#ifndef _WIN32
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>
#endif

#include <cerrno>
#include <cstring>

namespace rl {

KvFileStore::~KvFileStore() {
    reset();
#ifndef _WIN32
    if (fd_ >= 0) ::close(fd_);
#endif
}

#ifdef _WIN32
Status KvFileStore::open(const std::string&) {
    return status_error("UNSUPPORTED", "kv.store as a file needs mmap; use kv.store \"memory\" on Windows");
}
uint8_t* KvFileStore::grow(size_t) { return nullptr; }
void KvFileStore::reset() {}
#else
Status KvFileStore::open(const std::string& path) {
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd_ < 0) {
        const int err = errno;
        const char* code = err == ENOENT ? "ENOENT" : err == EACCES || err == EROFS ? "EACCES" : err == EISDIR ? "EISDIR" : "EIO";
        return status_error(code, "cannot create the recall store '" + path + "': " + std::strerror(err));
    }
    ::unlink(path.c_str());  // the mapping keeps it; nothing is left behind
    return status_ok();
}

uint8_t* KvFileStore::grow(size_t bytes) {
    const size_t page = (size_t)sysconf(_SC_PAGESIZE);
    bytes = (bytes + page - 1) / page * page;  // segments start on page boundaries
    if (fd_ < 0 || ftruncate(fd_, (off_t)(size_ + bytes)) != 0) return nullptr;
    void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd_, (off_t)size_);
    if (p == MAP_FAILED) {
        if (ftruncate(fd_, (off_t)size_) != 0) {  // nothing else to do: the next grow retries
        }
        return nullptr;
    }
    maps_.emplace_back(p, bytes);
    size_ += bytes;
    return (uint8_t*)p;
}

void KvFileStore::reset() {
    for (auto& m : maps_) munmap(m.first, m.second);
    maps_.clear();
    if (fd_ >= 0 && size_ > 0 && ftruncate(fd_, 0) != 0) {  // the space is reused from 0 anyway
    }
    size_ = 0;
}
#endif

}  // namespace rl
