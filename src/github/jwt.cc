#include "github/jwt.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace wavebot::github {
namespace {

std::string OpensslError() {
  unsigned long e = ERR_get_error();
  if (e == 0) return "unknown OpenSSL error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof(buf));
  ERR_clear_error();
  return buf;
}

EVP_PKEY* Key(void* p) { return static_cast<EVP_PKEY*>(p); }

std::string Hex(const unsigned char* d, size_t n) {
  static const char* kHex = "0123456789abcdef";
  std::string out;
  out.reserve(n * 2);
  for (size_t i = 0; i < n; ++i) {
    out.push_back(kHex[d[i] >> 4]);
    out.push_back(kHex[d[i] & 15]);
  }
  return out;
}

}  // namespace

Result<std::shared_ptr<PrivateKey>> PrivateKey::FromPem(std::string_view pem) {
  if (pem.find("-----BEGIN") == std::string_view::npos) {
    return Error(ErrorCode::kInvalidArgument, "not a PEM private key (no -----BEGIN line)");
  }
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  EVP_PKEY* pkey = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (pkey == nullptr) {
    return Error(ErrorCode::kInvalidArgument, "private key does not parse: " + OpensslError());
  }
  if (EVP_PKEY_base_id(pkey) != EVP_PKEY_RSA) {
    EVP_PKEY_free(pkey);
    return Error(ErrorCode::kInvalidArgument, "private key is not an RSA key (GitHub Apps use RSA)");
  }
  return std::shared_ptr<PrivateKey>(new PrivateKey(pkey));
}

Result<std::shared_ptr<PrivateKey>> PrivateKey::FromFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error(ErrorCode::kIo, "cannot read private key file " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  auto key = FromPem(ss.str());
  if (!key.ok()) return key.error().Wrap(path);
  return key;
}

Result<std::shared_ptr<PrivateKey>> PrivateKey::Generate() {
  EVP_PKEY* pkey = EVP_RSA_gen(2048);
  if (pkey == nullptr) return Error(ErrorCode::kInternal, "RSA key generation failed: " + OpensslError());
  return std::shared_ptr<PrivateKey>(new PrivateKey(pkey));
}

PrivateKey::~PrivateKey() { EVP_PKEY_free(Key(pkey_)); }

Result<std::string> PrivateKey::SignRs256(std::string_view data) const {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  std::string sig;
  size_t len = 0;
  bool ok = EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, Key(pkey_)) == 1 &&
            EVP_DigestSign(ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(data.data()),
                           data.size()) == 1;
  if (ok) {
    sig.resize(len);
    ok = EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len,
                        reinterpret_cast<const unsigned char*>(data.data()), data.size()) == 1;
    sig.resize(len);
  }
  EVP_MD_CTX_free(ctx);
  if (!ok) return Error(ErrorCode::kInternal, "RS256 signing failed: " + OpensslError());
  return sig;
}

bool PrivateKey::VerifyRs256(std::string_view data, std::string_view signature) const {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  bool ok = EVP_DigestVerifyInit(ctx, nullptr, EVP_sha256(), nullptr, Key(pkey_)) == 1 &&
            EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
                             reinterpret_cast<const unsigned char*>(data.data()), data.size()) == 1;
  EVP_MD_CTX_free(ctx);
  ERR_clear_error();
  return ok;
}

std::string PrivateKey::PrivatePem() const {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(bio, Key(pkey_), nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<size_t>(n));
  BIO_free(bio);
  return out;
}

std::string PrivateKey::PublicPem() const {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PUBKEY(bio, Key(pkey_));
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<size_t>(n));
  BIO_free(bio);
  return out;
}

Result<std::pair<std::string, std::string>> PrivateKey::PublicNumbers() const {
  BIGNUM* n = nullptr;
  BIGNUM* e = nullptr;
  if (EVP_PKEY_get_bn_param(Key(pkey_), OSSL_PKEY_PARAM_RSA_N, &n) != 1 ||
      EVP_PKEY_get_bn_param(Key(pkey_), OSSL_PKEY_PARAM_RSA_E, &e) != 1) {
    BN_free(n);
    BN_free(e);
    return Error(ErrorCode::kInternal, "cannot read the RSA public numbers: " + OpensslError());
  }
  auto bytes = [](const BIGNUM* b) {
    std::string out(static_cast<size_t>(BN_num_bytes(b)), '\0');
    BN_bn2bin(b, reinterpret_cast<unsigned char*>(out.data()));
    return out;
  };
  std::pair<std::string, std::string> out{bytes(n), bytes(e)};
  BN_free(n);
  BN_free(e);
  return out;
}

Result<std::string> SignJwtRs256(const PrivateKey& key, std::string_view header_json, std::string_view claims_json) {
  std::string signing_input = Base64UrlEncode(header_json) + "." + Base64UrlEncode(claims_json);
  auto sig = key.SignRs256(signing_input);
  if (!sig.ok()) return sig.error();
  return signing_input + "." + Base64UrlEncode(*sig);
}

Result<std::string> MakeAppJwt(const PrivateKey& key, const std::string& app_id,
                               std::chrono::system_clock::time_point now) {
  if (app_id.empty()) return Error(ErrorCode::kInvalidArgument, "app id (or client id) is empty");
  int64_t t = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  nlohmann::json claims = {{"iat", t - 60}, {"exp", t + 9 * 60}};
  bool digits = app_id.find_first_not_of("0123456789") == std::string::npos;
  if (digits) {
    claims["iss"] = std::stoll(app_id);
  } else {
    claims["iss"] = app_id;
  }
  std::string signing_input = Base64UrlEncode(R"({"alg":"RS256","typ":"JWT"})") + "." +
                              Base64UrlEncode(claims.dump());
  auto sig = key.SignRs256(signing_input);
  if (!sig.ok()) return sig.error();
  return signing_input + "." + Base64UrlEncode(*sig);
}

Result<JwtClaims> VerifyAppJwt(const PrivateKey& key, std::string_view jwt) {
  size_t a = jwt.find('.');
  size_t b = a == std::string_view::npos ? a : jwt.find('.', a + 1);
  if (b == std::string_view::npos) return Error(ErrorCode::kUnauthenticated, "not a JWT");
  auto header = Base64UrlDecode(jwt.substr(0, a));
  auto payload = Base64UrlDecode(jwt.substr(a + 1, b - a - 1));
  auto sig = Base64UrlDecode(jwt.substr(b + 1));
  if (!header.ok() || !payload.ok() || !sig.ok()) return Error(ErrorCode::kUnauthenticated, "JWT is not base64url");
  auto h = nlohmann::json::parse(*header, nullptr, false);
  if (h.is_discarded() || h.value("alg", "") != "RS256") {
    return Error(ErrorCode::kUnauthenticated, "JWT alg must be RS256");
  }
  if (!key.VerifyRs256(jwt.substr(0, b), *sig)) {
    return Error(ErrorCode::kUnauthenticated, "JWT signature does not verify");
  }
  auto p = nlohmann::json::parse(*payload, nullptr, false);
  if (p.is_discarded() || !p.is_object() || !p.contains("iat") || !p.contains("exp") || !p.contains("iss")) {
    return Error(ErrorCode::kUnauthenticated, "JWT lacks iat, exp or iss");
  }
  JwtClaims c;
  c.iss = p["iss"].is_string() ? p["iss"].get<std::string>() : p["iss"].dump();
  if (!p["iat"].is_number_integer() || !p["exp"].is_number_integer()) {
    return Error(ErrorCode::kUnauthenticated, "JWT iat/exp are not integers");
  }
  c.iat = p["iat"].get<int64_t>();
  c.exp = p["exp"].get<int64_t>();
  return c;
}

std::string Base64UrlEncode(std::string_view data) {
  static const char* kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  size_t i = 0;
  const auto* d = reinterpret_cast<const unsigned char*>(data.data());
  for (; i + 2 < data.size(); i += 3) {
    uint32_t v = (d[i] << 16) | (d[i + 1] << 8) | d[i + 2];
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (i + 1 == data.size()) {
    uint32_t v = d[i] << 16;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
  } else if (i + 2 == data.size()) {
    uint32_t v = (d[i] << 16) | (d[i + 1] << 8);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
  }
  return out;
}

std::string Base64Encode(std::string_view data) {
  std::string out = Base64UrlEncode(data);
  for (char& c : out) c = c == '-' ? '+' : c == '_' ? '/' : c;
  while (out.size() % 4 != 0) out += '=';
  return out;
}

Result<std::string> Base64Decode(std::string_view data) {
  std::string url;
  url.reserve(data.size());
  for (char c : data) {
    if (c == '\n' || c == '\r') continue;
    if (c == '=') break;
    if (c == '-' || c == '_') return Error(ErrorCode::kParse, "invalid base64 character");
    url += c == '+' ? '-' : c == '/' ? '_' : c;
  }
  return Base64UrlDecode(url);
}

Result<std::string> Base64UrlDecode(std::string_view data) {
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : data) {
    int v;
    if (c >= 'A' && c <= 'Z') v = c - 'A';
    else if (c >= 'a' && c <= 'z') v = c - 'a' + 26;
    else if (c >= '0' && c <= '9') v = c - '0' + 52;
    else if (c == '-' || c == '+') v = 62;
    else if (c == '_' || c == '/') v = 63;
    else if (c == '=') break;
    else return Error(ErrorCode::kParse, "invalid base64url character");
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  return out;
}

std::string HubSignature256(std::string_view secret, std::string_view body) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(body.data()), body.size(), md, &len);
  return "sha256=" + Hex(md, len);
}

std::string Sha256Hex(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
  return Hex(md, len);
}

}  // namespace wavebot::github
