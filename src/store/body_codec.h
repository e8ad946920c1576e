// How a webhook delivery's body is kept in the store: compressed with zstd (level 1). GitHub's payloads
// are JSON full of repeated URLs and objects and shrink about 7x (12,672 bytes of issue_comment.created
// to 1,802): a seventh of the bytes to write, to copy at checkpoints and to keep for the retention
// period (docs/benchmarks.md, "Ingress"). Older rows keep the raw bytes ("identity").
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "common/result.h"

namespace wavebot::store {

inline constexpr std::string_view kBodyIdentity = "identity";
inline constexpr std::string_view kBodyZstd = "zstd";

// The body compressed as one zstd frame that records its size. Thread-safe (a context per thread).
std::string CompressBody(std::string_view body);

// The body back from what was stored with `encoding` ("identity" or "zstd"). An unknown encoding, a
// corrupt frame or one that says it holds more than `max_bytes` is an error, never a crash.
Result<std::string> DecodeBody(std::string_view stored, std::string_view encoding, size_t max_bytes);

}  // namespace wavebot::store
