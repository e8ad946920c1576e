// GitHub's size limits on what wavebot writes, and fitting text within them. GitHub answers 422
// ("body is too long (maximum is 65536 characters)") to an issue, comment or pull-request body over
// 65,536 characters and to a pull-request title over 256. Pure; thread-safe.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace wavebot::core {

// Bytes, not characters: a UTF-8 byte count bounds GitHub's character count (and UTF-16 units) from above.
inline constexpr size_t kMaxBodyBytes = 65536;
inline constexpr size_t kMaxTitleChars = 256;

// `body` when it fits in `max_bytes`; otherwise cut at a line boundary, with any Markdown code fence and
// <details> block left open by the cut closed, followed by `note` (e.g. "… see the status comment").
// The result never exceeds `max_bytes` (a `note` too long for it is dropped).
std::string FitBody(std::string body, std::string_view note, size_t max_bytes = kMaxBodyBytes);

// `title` when it has at most kMaxTitleChars characters; otherwise cut on a code point and ended by "…".
std::string FitTitle(std::string title);

}  // namespace wavebot::core
