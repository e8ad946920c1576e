#include "webhook/signature.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

namespace wavebot::webhook {
namespace {

constexpr std::string_view kPrefix = "sha256=";

bool Digest(std::string_view secret, std::string_view body, unsigned char out[32]) {
  unsigned int len = 0;
  return HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
              reinterpret_cast<const unsigned char*>(body.data()), body.size(), out, &len) != nullptr &&
         len == 32;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
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
    int hi = HexValue(header[kPrefix.size() + 2 * i]);
    int lo = HexValue(header[kPrefix.size() + 2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    given[i] = static_cast<unsigned char>(hi << 4 | lo);
  }
  unsigned char expected[32];
  if (!Digest(secret, body, expected)) return false;
  return CRYPTO_memcmp(given, expected, sizeof(expected)) == 0;
}

}  // namespace wavebot::webhook
