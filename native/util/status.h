// Status values returned by every layer below the addon; the addon turns them into RingllmError.
#pragma once

#include <string>
#include <utility>

namespace rl {

struct Status {
    std::string code;     // stable error code, e.g. "GGUF_TRUNCATED"; empty means success
    std::string message;  // what went wrong and how to fix it

    bool ok() const { return code.empty(); }
};

inline Status status_ok() { return Status{}; }

inline Status status_error(const char* code, std::string message) {
    return Status{code, std::move(message)};
}

}  // namespace rl
