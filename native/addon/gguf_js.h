// GGUF header -> plain JS objects (main thread only).
#pragma once

#include <napi.h>

#include "../gguf/gguf.h"

namespace rl {

// Arrays longer than max_array become {kind: "array", type, length, truncated: true} markers so a
// 150k-entry vocabulary is not copied into JS unless asked for.
Napi::Value gguf_value_to_js(Napi::Env env, const GgufValue& v, uint32_t max_array);

// {version, alignment, headerBytes, dataOffset, fileSize, metadata, metadataTypes, tensors}
Napi::Object gguf_header_to_js(Napi::Env env, const GgufHeader& h, uint64_t file_size, uint32_t max_array);

}  // namespace rl
