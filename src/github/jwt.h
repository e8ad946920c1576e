// GitHub App JSON Web Tokens: RS256 over the App's private key with OpenSSL EVP, plus the HMAC and
// base64url helpers the webhook signer and the simulator share.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "common/result.h"

namespace wavebot::github {

// A parsed RSA private key. Immutable after construction; safe to share between threads.
class PrivateKey {
 public:
  // Parses a PEM private key (PKCS#1 or PKCS#8). kInvalidArgument names what is wrong.
  static Result<std::shared_ptr<PrivateKey>> FromPem(std::string_view pem);
  // Reads and parses `path`. kIo when unreadable; kInvalidArgument when it is not a private key.
  static Result<std::shared_ptr<PrivateKey>> FromFile(const std::string& path);
  // A fresh 2048-bit key (for the simulator and tests).
  static Result<std::shared_ptr<PrivateKey>> Generate();

  ~PrivateKey();
  PrivateKey(const PrivateKey&) = delete;
  PrivateKey& operator=(const PrivateKey&) = delete;

  // RSASSA-PKCS1-v1_5 SHA-256 signature of `data`.
  Result<std::string> SignRs256(std::string_view data) const;
  // Checks an RS256 signature with this key's public half.
  bool VerifyRs256(std::string_view data, std::string_view signature) const;
  std::string PrivatePem() const;
  std::string PublicPem() const;
  // The public key's RSA modulus and exponent as unsigned big-endian bytes (what a JWK's "n" and "e"
  // encode in base64url).
  Result<std::pair<std::string, std::string>> PublicNumbers() const;

 private:
  explicit PrivateKey(void* pkey) : pkey_(pkey) {}
  void* pkey_;  // EVP_PKEY*, owned
};

// The App JWT: header {"alg":"RS256","typ":"JWT"}, claims iat = now - 60 s, exp = now + 9 min,
// iss = app_id (an app id of digits is sent as a number, a client id as a string).
Result<std::string> MakeAppJwt(const PrivateKey& key, const std::string& app_id,
                               std::chrono::system_clock::time_point now);

// A compact JWS: base64url(header_json) "." base64url(claims_json) "." base64url(RS256 signature). The
// header should say {"alg":"RS256",...}; nothing is checked here (tests forge tokens with it too).
Result<std::string> SignJwtRs256(const PrivateKey& key, std::string_view header_json, std::string_view claims_json);

struct JwtClaims {
  std::string iss;
  int64_t iat = 0;
  int64_t exp = 0;
};
// Verifies an RS256 JWT with `key` and returns its claims (signature only; the caller checks times).
Result<JwtClaims> VerifyAppJwt(const PrivateKey& key, std::string_view jwt);

std::string Base64UrlEncode(std::string_view data);
Result<std::string> Base64UrlDecode(std::string_view data);
// Standard base64 (RFC 4648 section 4, padded), as GitHub's contents API uses. The decoder skips line
// breaks (GitHub wraps the content every 60 characters). Errors: kParse on any other invalid character.
std::string Base64Encode(std::string_view data);
Result<std::string> Base64Decode(std::string_view data);
// "sha256=" + lowercase hex HMAC-SHA256(secret, body): GitHub's X-Hub-Signature-256.
std::string HubSignature256(std::string_view secret, std::string_view body);
// Lowercase hex SHA-256 / SHA-1 of `data`.
std::string Sha256Hex(std::string_view data);

}  // namespace wavebot::github
