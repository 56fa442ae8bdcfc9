// Byte streams for saved context state: a sink (memory or file) that hashes what it writes, and a
// source (memory or file) that knows its size, so a loader can verify the whole state before it
// changes anything. Little-endian scalars, as every platform ringllm builds for is.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <new>
#include <string>
#include <vector>

#include "status.h"

namespace rl {

// FNV-1a, 64-bit: the state's integrity check (against truncation and corruption, not attacks:
// the loader validates every field it reads as well).
struct Fnv64 {
    uint64_t h = 14695981039346656037ull;
    void add(const void* p, size_t n) {
        const uint8_t* b = (const uint8_t*)p;
        for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 1099511628211ull;
    }
};

class StateSink {
public:
    virtual ~StateSink() = default;
    Status write(const void* p, size_t n) {
        hash_.add(p, n);
        return put(p, n);
    }
    template <typename T>
    Status scalar(T v) {
        return write(&v, sizeof v);
    }
    // Appends the hash of everything written so far (the trailer).
    Status finish() {
        const uint64_t h = hash_.h;
        return put(&h, sizeof h);
    }

protected:
    virtual Status put(const void* p, size_t n) = 0;

private:
    Fnv64 hash_;
};

class VectorSink final : public StateSink {
public:
    explicit VectorSink(std::vector<uint8_t>* out) : out_(out) {}

protected:
    Status put(const void* p, size_t n) override {
        try {
            out_->insert(out_->end(), (const uint8_t*)p, (const uint8_t*)p + n);
        } catch (const std::bad_alloc&) {
            return status_error("OUT_OF_MEMORY", "no memory for the saved state; save it to a file instead");
        }
        return status_ok();
    }

private:
    std::vector<uint8_t>* out_;
};

class FileSink final : public StateSink {
public:
    explicit FileSink(std::FILE* f, std::string path) : f_(f), path_(std::move(path)) {}

protected:
    Status put(const void* p, size_t n) override {
        if (n && std::fwrite(p, 1, n, f_) != n) return status_error("EIO", "could not write the state to " + path_);
        return status_ok();
    }

private:
    std::FILE* f_;
    std::string path_;
};

class StateSource {
public:
    virtual ~StateSource() = default;
    virtual uint64_t size() const = 0;
    virtual uint64_t position() const = 0;  // bytes read since the start
    virtual Status rewind() = 0;
    // Reads exactly n bytes; STATE_CORRUPT past the end.
    virtual Status read(void* p, size_t n) = 0;
    template <typename T>
    Status scalar(T* v) {
        return read(v, sizeof *v);
    }
};

class MemorySource final : public StateSource {
public:
    MemorySource(const uint8_t* data, size_t n) : data_(data), n_(n) {}
    uint64_t size() const override { return n_; }
    uint64_t position() const override { return at_; }
    Status rewind() override {
        at_ = 0;
        return status_ok();
    }
    Status read(void* p, size_t n) override {
        if (n > n_ - at_) return status_error("STATE_CORRUPT", "the saved state is truncated");
        if (n) std::memcpy(p, data_ + at_, n);
        at_ += n;
        return status_ok();
    }

private:
    const uint8_t* data_;
    size_t n_;
    size_t at_ = 0;
};

class FileSource final : public StateSource {
public:
    FileSource(std::FILE* f, uint64_t size, std::string path) : f_(f), size_(size), path_(std::move(path)) {}
    uint64_t size() const override { return size_; }
    uint64_t position() const override { return at_; }
    Status rewind() override {
        at_ = 0;
        if (std::fseek(f_, 0, SEEK_SET) != 0) return status_error("EIO", "could not read " + path_);
        return status_ok();
    }
    Status read(void* p, size_t n) override {
        if (n > size_ - at_) return status_error("STATE_CORRUPT", "the saved state in " + path_ + " is truncated");
        if (n && std::fread(p, 1, n, f_) != n) return status_error("EIO", "could not read " + path_);
        at_ += n;
        return status_ok();
    }

private:
    std::FILE* f_;
    uint64_t size_;
    uint64_t at_ = 0;
    std::string path_;
};

// Size of an open file (64-bit everywhere, Windows included); -1 when it cannot tell.
inline int64_t state_file_size(std::FILE* f) {
#ifdef _WIN32
    if (_fseeki64(f, 0, SEEK_END) != 0) return -1;
    const int64_t n = _ftelli64(f);
#else
    if (fseeko(f, 0, SEEK_END) != 0) return -1;
    const int64_t n = (int64_t)ftello(f);
#endif
    return n;
}

// Reads the whole source and checks its trailer: the hash of everything before it. Leaves the
// source rewound. STATE_CORRUPT when it does not match.
inline Status state_verify(StateSource* src) {
    const uint64_t n = src->size();
    if (n < 8) return status_error("STATE_CORRUPT", "the saved state is truncated");
    Status st = src->rewind();
    if (!st.ok()) return st;
    Fnv64 h;
    std::vector<uint8_t> buf(1 << 20);
    for (uint64_t done = 0; done < n - 8;) {
        const size_t k = (size_t)std::min<uint64_t>(buf.size(), n - 8 - done);
        if (!(st = src->read(buf.data(), k)).ok()) return st;
        h.add(buf.data(), k);
        done += k;
    }
    uint64_t trailer = 0;
    if (!(st = src->scalar(&trailer)).ok()) return st;
    if (trailer != h.h) return status_error("STATE_CORRUPT", "the saved state is damaged (its checksum does not match)");
    return src->rewind();
}

}  // namespace rl
