// X-Hub-Signature-256: "sha256=" + lower-case hex of HMAC-SHA256(secret, raw body).
#pragma once

#include <string>
#include <string_view>

namespace wavebot::webhook {

// Returns "sha256=<64 hex digits>" for `body` under `secret`. Thread-safe.
std::string ComputeSignature(std::string_view secret, std::string_view body);

// True when `header` is exactly "sha256=" followed by the 64 hex digits (either case) of the HMAC of
// `body` under `secret`. The digest comparison is constant-time (CRYPTO_memcmp). Thread-safe.
bool VerifySignature(std::string_view secret, std::string_view body, std::string_view header);

}  // namespace wavebot::webhook
