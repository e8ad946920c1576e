// What both JSON scanners (payload_scan.cc, json_index.cc) share: their hot loop, skipping the bytes of
// a string that need no attention, i.e. printable ASCII other than '"' and '\\'; and writing a decoded
// \\u escape as UTF-8.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <string>

namespace wavebot::webhook {

inline constexpr std::array<bool, 256> kJsonPlainByte = [] {
  std::array<bool, 256> t{};
  for (int c = 0x20; c < 0x80; ++c) t[c] = c != '"' && c != '\\';
  return t;
}();

// Returns the first byte in [p, end) that is not plain (or end). Eight bytes at a time while none of
// them can be special: each test below may flag a plain byte (then the exact loop decides) but never
// misses a special one.
inline const char* SkipJsonPlainRun(const char* p, const char* end) {
  constexpr uint64_t kOnes = 0x0101010101010101ULL, kHigh = 0x8080808080808080ULL;
  auto has_zero = [](uint64_t x) { return (x - kOnes) & ~x & kHigh; };
  while (end - p >= 8) {
    uint64_t w;
    std::memcpy(&w, p, 8);
    const uint64_t special = (w & kHigh) | ((w - 0x20 * kOnes) & ~w & kHigh) | has_zero(w ^ ('"' * kOnes)) |
                             has_zero(w ^ ('\\' * kOnes));
    if (special) break;
    p += 8;
  }
  while (p < end && kJsonPlainByte[static_cast<unsigned char>(*p)]) ++p;
  return p;
}

// Appends code point `cp` (at most U+10FFFF, as a \u escape or a surrogate pair decodes to) as UTF-8.
inline void AppendUtf8(std::string* out, uint32_t cp) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | cp >> 6));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | cp >> 12));
    out->push_back(static_cast<char>(0x80 | (cp >> 6 & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | cp >> 18));
    out->push_back(static_cast<char>(0x80 | (cp >> 12 & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp >> 6 & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

}  // namespace wavebot::webhook
