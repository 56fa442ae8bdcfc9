#include "gguf_file.h"

#ifdef _WIN32
#include <windows.h>

#include "../util/utf8_path.h"
#else
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#endif

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

#ifdef _WIN32
// Windows: the path is UTF-8, opened as UTF-16 (CreateFileW); mapped with CreateFileMapping.
using FileHandle = HANDLE;

int win_errno(DWORD e) {
    switch (e) {
        case ERROR_FILE_NOT_FOUND:
        case ERROR_PATH_NOT_FOUND:
        case ERROR_INVALID_NAME:
        case ERROR_INVALID_DRIVE:
        case ERROR_BAD_NETPATH:
            return ENOENT;
        case ERROR_ACCESS_DENIED:
        case ERROR_SHARING_VIOLATION:
            return EACCES;
        default:
            return EIO;
    }
}

Status open_regular(const std::string& path, FileHandle* fd_out, uint64_t* size_out) {
    const std::wstring wpath = utf8_to_wide(path);
    const DWORD attr = GetFileAttributesW(wpath.c_str());
    if (attr == INVALID_FILE_ATTRIBUTES) return errno_status(win_errno(GetLastError()), path, "open");
    if (attr & FILE_ATTRIBUTE_DIRECTORY) return errno_status(EISDIR, path, "open");
    HANDLE h = CreateFileW(wpath.c_str(), GENERIC_READ, FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, nullptr,
                           OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, nullptr);
    if (h == INVALID_HANDLE_VALUE) return errno_status(win_errno(GetLastError()), path, "open");
    LARGE_INTEGER size;
    if (GetFileType(h) != FILE_TYPE_DISK || !GetFileSizeEx(h, &size)) {
        CloseHandle(h);
        return status_error("INVALID_ARGUMENT", "'" + path + "' is not a regular file");
    }
    *fd_out = h;
    *size_out = (uint64_t)size.QuadPart;
    return status_ok();
}

void close_file(FileHandle h) { CloseHandle(h); }

// ReadFile at an offset until `n` bytes or EOF; returns bytes read or -1 (errno set).
int64_t read_fully(FileHandle h, uint8_t* dst, uint64_t off, uint64_t n) {
    uint64_t done = 0;
    while (done < n) {
        OVERLAPPED at = {};
        at.Offset = (DWORD)((off + done) & 0xffffffffu);
        at.OffsetHigh = (DWORD)((off + done) >> 32);
        const DWORD want = n - done > (1u << 30) ? (1u << 30) : (DWORD)(n - done);
        DWORD got = 0;
        if (!ReadFile(h, dst + done, want, &got, &at)) {
            if (GetLastError() == ERROR_HANDLE_EOF) break;
            errno = win_errno(GetLastError());
            return -1;
        }
        if (got == 0) break;
        done += got;
    }
    return (int64_t)done;
}

// A read-only view of the whole file, or nullptr (the caller then reads it).
void* map_file(FileHandle h, uint64_t) {
    HANDLE mapping = CreateFileMappingW(h, nullptr, PAGE_READONLY, 0, 0, nullptr);
    if (!mapping) return nullptr;
    void* view = MapViewOfFile(mapping, FILE_MAP_READ, 0, 0, 0);
    CloseHandle(mapping);  // the view keeps the mapping alive
    return view;
}

void unmap_file(void* p, uint64_t) { UnmapViewOfFile(p); }

void will_need(void*, uint64_t) {}  // the pages are touched right after

uint64_t page_size() {
    SYSTEM_INFO si;
    GetSystemInfo(&si);
    return si.dwPageSize ? si.dwPageSize : 4096;
}
#else
using FileHandle = int;

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

void close_file(int fd) { ::close(fd); }

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

// A read-only private mapping of the whole file, or nullptr (e.g. some network filesystems refuse).
void* map_file(int fd, uint64_t size) {
    void* m = mmap(nullptr, (size_t)size, PROT_READ, MAP_PRIVATE, fd, 0);
    return m == MAP_FAILED ? nullptr : m;
}

void unmap_file(void* p, uint64_t size) { munmap(p, (size_t)size); }

void will_need(void* p, uint64_t len) { madvise(p, (size_t)len, MADV_WILLNEED); }

uint64_t page_size() {
    long page = sysconf(_SC_PAGESIZE);
    return page > 0 ? (uint64_t)page : 4096;
}
#endif

constexpr uint64_t k_chunk = 16u << 20;  // progress/cancel granularity

}  // namespace

GgufFile::~GgufFile() { close(); }

void GgufFile::close() {
    header_ = GgufHeader();
    if (map_) unmap_file(map_, file_size_);
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
    FileHandle fd;
    Status st = open_regular(path, &fd, &file_size_);
    if (!st.ok()) return st;
    // Read a prefix and grow it until the header fits: a vocabulary-sized header is a few MB.
    uint64_t want = file_size_ < (1u << 20) ? file_size_ : (1u << 20);
    for (;;) {
        uint8_t* buf = (uint8_t*)std::realloc(heap_, want ? (size_t)want : 1);
        if (!buf) {
            close_file(fd);
            return status_error("OUT_OF_MEMORY", "cannot allocate " + std::to_string(want) + " bytes to read '" + path + "'");
        }
        heap_ = buf;
        int64_t got = read_fully(fd, heap_, 0, want);
        if (got < 0) {
            int err = errno;
            close_file(fd);
            return errno_status(err, path, "read");
        }
        data_ = heap_;
        data_len_ = (uint64_t)got;
        bool need_more = false;
        st = gguf_parse(data_, data_len_, file_size_, &header_, &need_more);
        if (st.ok() || !need_more || data_len_ < want) break;
        want = want * 2 < file_size_ ? want * 2 : file_size_;
    }
    close_file(fd);
    return st.ok() ? st : prefix_error(st);
}

Status GgufFile::open_full(const std::string& path, bool use_mmap, const ProgressFn& progress,
                           const std::atomic<bool>* cancel) {
    close();
    path_ = path;
    FileHandle fd;
    Status st = open_regular(path, &fd, &file_size_);
    if (!st.ok()) return st;
    if (file_size_ == 0) {
        close_file(fd);
        return prefix_error(status_error("GGUF_TRUNCATED", "the file is empty"));
    }
    auto cancelled = [cancel]() { return cancel && cancel->load(std::memory_order_relaxed); };
    if (use_mmap) {
        void* m = map_file(fd, file_size_);
        if (m) {
            map_ = m;
            data_ = (const uint8_t*)m;
            data_len_ = file_size_;
        }
        // else: mmap refused (e.g. some network filesystems): fall back to reading.
    }
    if (!map_) {
        heap_ = (uint8_t*)std::malloc((size_t)file_size_);
        if (!heap_) {
            close_file(fd);
            return status_error("OUT_OF_MEMORY", "cannot allocate " + std::to_string(file_size_) +
                                                     " bytes to read '" + path + "'; try useMmap: true");
        }
        for (uint64_t off = 0; off < file_size_; off += k_chunk) {
            if (cancelled()) {
                close_file(fd);
                return status_error("ABORTED", "loading '" + path + "' was aborted");
            }
            uint64_t n = file_size_ - off < k_chunk ? file_size_ - off : k_chunk;
            int64_t got = read_fully(fd, heap_ + off, off, n);
            if (got != (int64_t)n) {
                int err = got < 0 ? errno : EIO;
                close_file(fd);
                return errno_status(err, path, "read");
            }
            if (progress) progress(0.95 * (double)(off + n) / (double)file_size_);
        }
        data_ = heap_;
        data_len_ = file_size_;
    }
    close_file(fd);  // a mapping stays valid after its descriptor is closed

    bool need_more = false;
    st = gguf_parse(data_, data_len_, file_size_, &header_, &need_more);
    if (!st.ok()) return prefix_error(st);

    if (map_) {
        // Touch tensor pages now (with progress) so the first decode does not page-fault its way in.
        uint64_t begin = header_.data_offset < file_size_ ? header_.data_offset : file_size_;
        will_need((uint8_t*)map_ + (begin & ~(uint64_t)4095), file_size_ - (begin & ~(uint64_t)4095));
        volatile uint8_t sink = 0;
        uint64_t step = page_size();
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
