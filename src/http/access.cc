#include "http/access.h"

#include <cctype>
#include <cstdint>

namespace wavebot::http {
namespace {

bool ConstantTimeEquals(const std::string& a, const std::string& b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < b.size(); ++i) diff |= static_cast<unsigned char>((i < a.size() ? a[i] : 0) ^ b[i]);
  return diff == 0;
}

// Standard base64 with padding; false on anything else.
bool DecodeBase64(const std::string& in, std::string* out) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  if (in.size() % 4 != 0) return false;
  out->clear();
  for (size_t i = 0; i < in.size(); i += 4) {
    uint32_t acc = 0;
    int pad = 0;
    for (size_t j = 0; j < 4; ++j) {
      char c = in[i + j];
      if (c == '=' && i + 4 == in.size() && j >= 2) {
        ++pad;
        acc <<= 6;
        continue;
      }
      int v = value(c);
      if (v < 0 || pad) return false;
      acc = (acc << 6) | static_cast<uint32_t>(v);
    }
    out->push_back(static_cast<char>((acc >> 16) & 0xff));
    if (pad < 2) out->push_back(static_cast<char>((acc >> 8) & 0xff));
    if (pad < 1) out->push_back(static_cast<char>(acc & 0xff));
  }
  return true;
}

bool StartsWithIgnoreCase(const std::string& s, const std::string& prefix) {
  if (s.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(s[i])) != std::tolower(static_cast<unsigned char>(prefix[i]))) {
      return false;
    }
  }
  return true;
}

}  // namespace

Access CheckAccess(const std::string& authorization, const std::vector<std::string>& tokens) {
  if (authorization.empty()) return Access::kNoCredentials;
  std::string presented;
  if (StartsWithIgnoreCase(authorization, "Bearer ")) {
    presented = authorization.substr(7);
  } else if (StartsWithIgnoreCase(authorization, "Basic ")) {
    std::string decoded;
    if (!DecodeBase64(authorization.substr(6), &decoded)) return Access::kWrongCredentials;
    auto colon = decoded.find(':');
    if (colon == std::string::npos) return Access::kWrongCredentials;
    presented = decoded.substr(colon + 1);
  } else {
    return Access::kWrongCredentials;
  }
  bool ok = false;
  for (const std::string& t : tokens) ok |= !t.empty() && ConstantTimeEquals(presented, t);
  return ok ? Access::kAllowed : Access::kWrongCredentials;
}

}  // namespace wavebot::http
