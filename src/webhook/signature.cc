#include "webhook/signature.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <string>

#include "common/hex.h"

namespace wavebot::webhook {
namespace {

constexpr std::string_view kPrefix = "sha256=";

// The HMAC key schedule (the SHA-256 states after the inner and outer padded keys) is computed once per
// thread and secret, not per request: each call re-initialises the thread's context with the key it
// holds (EVP_MAC_init with a null key) instead of fetching the algorithm and hashing the key again.
struct ThreadMac {
  std::string secret;
  EVP_MAC_CTX* ctx = nullptr;
  ~ThreadMac() { EVP_MAC_CTX_free(ctx); }
};

EVP_MAC* HmacAlgorithm() {
  static EVP_MAC* const mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);  // process lifetime
  return mac;
}

bool Digest(std::string_view secret, std::string_view body, unsigned char out[32]) {
  thread_local ThreadMac t;
  if (!t.ctx || t.secret != secret) {
    EVP_MAC_CTX_free(t.ctx);
    t.ctx = nullptr;
    t.secret.clear();
    if (!HmacAlgorithm()) return false;
    t.ctx = EVP_MAC_CTX_new(HmacAlgorithm());
    if (!t.ctx) return false;
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0), OSSL_PARAM_construct_end()};
    static const unsigned char kEmpty[1] = {0};
    const auto* key = secret.empty() ? kEmpty : reinterpret_cast<const unsigned char*>(secret.data());
    if (EVP_MAC_init(t.ctx, key, secret.size(), params) != 1) {
      EVP_MAC_CTX_free(t.ctx);
      t.ctx = nullptr;
      return false;
    }
    t.secret = std::string(secret);
  } else if (EVP_MAC_init(t.ctx, nullptr, 0, nullptr) != 1) {
    return false;
  }
  size_t len = 0;
  return EVP_MAC_update(t.ctx, reinterpret_cast<const unsigned char*>(body.data()), body.size()) == 1 &&
         EVP_MAC_final(t.ctx, out, &len, 32) == 1 && len == 32;
}

}  // namespace

std::string ComputeSignature(std::string_view secret, std::string_view body) {
  unsigned char digest[32];
  if (!Digest(secret, body, digest)) return "";
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(kPrefix);
  for (unsigned char b : digest) {
    out += kHex[b >> 4];
    out += kHex[b & 15];
  }
  return out;
}

bool VerifySignature(std::string_view secret, std::string_view body, std::string_view header) {
  if (header.size() != kPrefix.size() + 64 || header.substr(0, kPrefix.size()) != kPrefix) return false;
  unsigned char given[32];
  for (size_t i = 0; i < 32; ++i) {
    int hi = HexDigitValue(header[kPrefix.size() + 2 * i]);
    int lo = HexDigitValue(header[kPrefix.size() + 2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    given[i] = static_cast<unsigned char>(hi << 4 | lo);
  }
  unsigned char expected[32];
  if (!Digest(secret, body, expected)) return false;
  return CRYPTO_memcmp(given, expected, sizeof(expected)) == 0;
}

}  // namespace wavebot::webhook
