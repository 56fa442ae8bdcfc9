#include "gguf_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace rl {

Status errno_status(int err, const std::string& path, const char* what) {
    const char* code = err == ENOENT ? "ENOENT" : err == EACCES ? "EACCES" : err == EISDIR ? "EISDIR" : "EIO";
    std::string hint = err == ENOENT ? " (check the path; relative paths resolve from the process's cwd)" : "";
    return status_error(code, std::string("cannot ") + what + " '" + path + "': " + std::strerror(err) + hint);
}

namespace {

// Opens a regular file and returns its size.
Status open_regular(const std::string& path, int* fd_out, uint64_t* size_out) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errno_status(errno, path, "open");
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int err = errno;
        ::close(fd);
        return errno_status(err, path, "stat");
    }
    if (S_ISDIR(sb.st_mode)) {
        ::close(fd);
        return errno_status(EISDIR, path, "open");
    }
    if (!S_ISREG(sb.st_mode)) {
        ::close(fd);
        return status_error("INVALID_ARGUMENT", "'" + path + "' is not a regular file");
    }
    *fd_out = fd;
    *size_out = (uint64_t)sb.st_size;
    return status_ok();
}

// pread until `n` bytes or EOF; returns bytes read or -1.
int64_t read_fully(int fd, uint8_t* dst, uint64_t off, uint64_t n) {
    uint64_t done = 0;
    while (done < n) {
        ssize_t r = ::pread(fd, dst + done, (size_t)(n - done), (off_t)(off + done));
        if (r < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        if (r == 0) break;
        done += (uint64_t)r;
    }
    return (int64_t)done;
}

constexpr uint64_t k_chunk = 16u << 20;  // progress/cancel granularity

}  // namespace

GgufFile::~GgufFile() { close(); }

void GgufFile::close() {
    header_ = GgufHeader();
    if (map_) munmap(map_, (size_t)file_size_);
    std::free(heap_);
    map_ = nullptr;
    heap_ = nullptr;
    data_ = nullptr;
    data_len_ = 0;
    file_size_ = 0;
}

Status GgufFile::prefix_error(Status st) const {
    st.message = "'" + path_ + "': " + st.message;
    return st;
}

Status GgufFile::open_header(const std::string& path) {
    close();
    path_ = path;
    int fd;
    Status st = open_regular(path, &fd, &file_size_);
    if (!st.ok()) return st;
    // Read a prefix and grow it until the header fits: a vocabulary-sized header is a few MB.
    uint64_t want = file_size_ < (1u << 20) ? file_size_ : (1u << 20);
    for (;;) {
        uint8_t* buf = (uint8_t*)std::realloc(heap_, want ? (size_t)want : 1);
        if (!buf) {
            ::close(fd);
            return status_error("OUT_OF_MEMORY", "cannot allocate " + std::to_string(want) + " bytes to read '" + path + "'");
        }
        heap_ = buf;
        int64_t got = read_fully(fd, heap_, 0, want);
        if (got < 0) {
            int err = errno;
            ::close(fd);
            return errno_status(err, path, "read");
        }
        data_ = heap_;
        data_len_ = (uint64_t)got;
        bool need_more = false;
        st = gguf_parse(data_, data_len_, file_size_, &header_, &need_more);
        if (st.ok() || !need_more || data_len_ < want) break;
        want = want * 2 < file_size_ ? want * 2 : file_size_;
    }
    ::close(fd);
    return st.ok() ? st : prefix_error(st);
}

Status GgufFile::open_full(const std::string& path, bool use_mmap, const ProgressFn& progress,
                           const std::atomic<bool>* cancel) {
    close();
    path_ = path;
    int fd;
    Status st = open_regular(path, &fd, &file_size_);
    if (!st.ok()) return st;
    if (file_size_ == 0) {
        ::close(fd);
        return prefix_error(status_error("GGUF_TRUNCATED", "the file is empty"));
    }
    auto cancelled = [cancel]() { return cancel && cancel->load(std::memory_order_relaxed); };
    if (use_mmap) {
        void* m = mmap(nullptr, (size_t)file_size_, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m != MAP_FAILED) {
            map_ = m;
            data_ = (const uint8_t*)m;
            data_len_ = file_size_;
        }
        // else: mmap refused (e.g. some network filesystems): fall back to reading.
    }
    if (!map_) {
        heap_ = (uint8_t*)std::malloc((size_t)file_size_);
        if (!heap_) {
            ::close(fd);
            return status_error("OUT_OF_MEMORY", "cannot allocate " + std::to_string(file_size_) +
                                                     " bytes to read '" + path + "'; try useMmap: true");
        }
        for (uint64_t off = 0; off < file_size_; off += k_chunk) {
            if (cancelled()) {
                ::close(fd);
                return status_error("ABORTED", "loading '" + path + "' was aborted");
            }
            uint64_t n = file_size_ - off < k_chunk ? file_size_ - off : k_chunk;
            int64_t got = read_fully(fd, heap_ + off, off, n);
            if (got != (int64_t)n) {
                int err = got < 0 ? errno : EIO;
                ::close(fd);
                return errno_status(err, path, "read");
            }
            if (progress) progress(0.95 * (double)(off + n) / (double)file_size_);
        }
        data_ = heap_;
        data_len_ = file_size_;
    }
    ::close(fd);  // a mapping stays valid after its descriptor is closed

    bool need_more = false;
    st = gguf_parse(data_, data_len_, file_size_, &header_, &need_more);
    if (!st.ok()) return prefix_error(st);

    if (map_) {
        // Touch tensor pages now (with progress) so the first decode does not page-fault its way in.
        uint64_t begin = header_.data_offset < file_size_ ? header_.data_offset : file_size_;
        madvise((uint8_t*)map_ + (begin & ~(uint64_t)4095), (size_t)(file_size_ - (begin & ~(uint64_t)4095)),
                MADV_WILLNEED);
        volatile uint8_t sink = 0;
        long page = sysconf(_SC_PAGESIZE);
        uint64_t step = page > 0 ? (uint64_t)page : 4096;
        for (uint64_t off = begin; off < file_size_; off += k_chunk) {
            if (cancelled()) return status_error("ABORTED", "loading '" + path + "' was aborted");
            uint64_t end = off + k_chunk < file_size_ ? off + k_chunk : file_size_;
            for (uint64_t p = off; p < end; p += step) sink = sink + data_[p];
            if (progress) progress(0.95 * (double)(end - begin) / (double)(file_size_ - begin));
        }
        (void)sink;
    }
    if (progress) progress(1.0);
    return status_ok();
}

const uint8_t* GgufFile::tensor_data(const GgufTensorInfo& t) const {
    if (!has_data()) return nullptr;
    return data_ + header_.data_offset + t.offset;
}

}  // namespace rl
