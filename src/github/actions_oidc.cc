#include "github/actions_oidc.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>

#include "github/jwt.h"
#include "github/rest.h"

namespace wavebot::github {
namespace {

using nlohmann::json;

constexpr size_t kMaxTokenChars = 16 * 1024;
constexpr int kMinRsaBits = 2048;

Error Unauthenticated(const std::string& why) { return Error(ErrorCode::kUnauthenticated, "OIDC token: " + why); }
Error Denied(const std::string& why) { return Error(ErrorCode::kPermissionDenied, "OIDC token: " + why); }

// Strict base64url (RFC 7515 section 2): the URL-safe alphabet only, no padding, no stray bits.
Result<std::string> StrictB64Url(std::string_view s) {
  if (s.size() % 4 == 1) return Error(ErrorCode::kParse, "bad base64url length");
  for (char c : s) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') {
      return Error(ErrorCode::kParse, "invalid base64url character");
    }
  }
  return Base64UrlDecode(s);
}

bool IEquals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

// A string claim, "" when absent or not a string.
std::string Str(const json& j, const char* k) {
  auto it = j.find(k);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

// A numeric claim GitHub sends as a decimal string ("run_id": "123") or a number; -1 when neither.
int64_t IdClaim(const json& j, const char* k) {
  auto it = j.find(k);
  if (it == j.end()) return -1;
  if (it->is_number_unsigned() || it->is_number_integer()) return it->get<int64_t>();
  if (!it->is_string()) return -1;
  const std::string& s = it->get_ref<const std::string&>();
  if (s.empty() || s.size() > 18 || s.find_first_not_of("0123456789") != std::string::npos) return -1;
  return std::stoll(s);
}

// A NumericDate claim (seconds); nullopt when absent, an error when present but not a number.
Result<std::optional<int64_t>> TimeClaim(const json& j, const char* k) {
  auto it = j.find(k);
  if (it == j.end()) return std::optional<int64_t>();
  if (!it->is_number()) return Unauthenticated(std::string("'") + k + "' is not a number");
  return std::optional<int64_t>(static_cast<int64_t>(it->get<double>()));
}

}  // namespace

// An RSA public key built from a JWK's n and e.
struct ActionsOidcVerifier::Key {
  EVP_PKEY* pkey = nullptr;
  ~Key() { EVP_PKEY_free(pkey); }
  bool Verify(std::string_view data, std::string_view sig) const {
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    bool ok = ctx != nullptr && EVP_DigestVerifyInit(ctx, nullptr, EVP_sha256(), nullptr, pkey) == 1 &&
              EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
                               reinterpret_cast<const unsigned char*>(data.data()), data.size()) == 1;
    EVP_MD_CTX_free(ctx);
    ERR_clear_error();
    return ok;
  }
  static Result<std::shared_ptr<Key>> FromJwk(const json& jwk) {
    if (Str(jwk, "kty") != "RSA") return Error(ErrorCode::kParse, "not an RSA key");
    if (jwk.contains("alg") && Str(jwk, "alg") != "RS256") return Error(ErrorCode::kParse, "not an RS256 key");
    if (jwk.contains("use") && Str(jwk, "use") != "sig") return Error(ErrorCode::kParse, "not a signing key");
    auto n = StrictB64Url(Str(jwk, "n"));
    auto e = StrictB64Url(Str(jwk, "e"));
    if (!n.ok() || !e.ok() || n->empty() || e->empty()) return Error(ErrorCode::kParse, "bad n or e");
    BIGNUM* bn_n = BN_bin2bn(reinterpret_cast<const unsigned char*>(n->data()), static_cast<int>(n->size()), nullptr);
    BIGNUM* bn_e = BN_bin2bn(reinterpret_cast<const unsigned char*>(e->data()), static_cast<int>(e->size()), nullptr);
    OSSL_PARAM_BLD* bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM* params = nullptr;
    EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_name(nullptr, "RSA", nullptr);
    auto key = std::make_shared<Key>();
    bool ok = bn_n && bn_e && bld && ctx && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n) == 1 &&
              OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e) == 1 &&
              (params = OSSL_PARAM_BLD_to_param(bld)) != nullptr && EVP_PKEY_fromdata_init(ctx) == 1 &&
              EVP_PKEY_fromdata(ctx, &key->pkey, EVP_PKEY_PUBLIC_KEY, params) == 1;
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    EVP_PKEY_CTX_free(ctx);
    BN_free(bn_n);
    BN_free(bn_e);
    ERR_clear_error();
    if (!ok || key->pkey == nullptr) return Error(ErrorCode::kParse, "OpenSSL refused the key");
    if (EVP_PKEY_get_bits(key->pkey) < kMinRsaBits) return Error(ErrorCode::kParse, "RSA key shorter than 2048 bits");
    return key;
  }
};

std::string DefaultActionsOidcIssuer(const std::string& api_url) {
  std::string url = api_url;
  while (!url.empty() && url.back() == '/') url.pop_back();
  if (url == "https://api.github.com") return "https://token.actions.githubusercontent.com";
  auto scheme = url.find("://");
  auto slash = scheme == std::string::npos ? std::string::npos : url.find('/', scheme + 3);
  std::string origin = slash == std::string::npos ? url : url.substr(0, slash);
  return origin + "/_services/token";
}

std::string JwksUrlOf(const std::string& issuer) {
  std::string url = issuer;
  while (!url.empty() && url.back() == '/') url.pop_back();
  return url + "/.well-known/jwks";
}

namespace {

class HttpJwksSource final : public JwksSource {
 public:
  HttpJwksSource(std::string url, Transport* transport) : url_(std::move(url)), transport_(transport) {}
  Result<std::string> Fetch() override {
    HttpRequest req;
    req.url = url_;
    req.headers["Accept"] = "application/json";
    bool landed = false;
    auto res = transport_->Send(req, &landed);
    if (!res.ok()) return Error(ErrorCode::kUnavailable, "fetching " + url_ + ": " + res.error().message());
    if (res->status != 200) {
      return Error(ErrorCode::kUnavailable, "fetching " + url_ + ": HTTP " + std::to_string(res->status));
    }
    return res->body;
  }

 private:
  std::string url_;
  Transport* transport_;
};

}  // namespace

std::unique_ptr<JwksSource> NewHttpJwksSource(std::string jwks_url, Transport* transport) {
  return std::make_unique<HttpJwksSource>(std::move(jwks_url), transport);
}

ActionsOidcVerifier::ActionsOidcVerifier(OidcVerifierOptions options, JwksSource* source, Clock* clock)
    : options_(std::move(options)), source_(source), clock_(clock) {}

Status ActionsOidcVerifier::Refresh() {
  auto text = source_->Fetch();
  if (!text.ok()) return text.error();
  json doc = json::parse(*text, nullptr, false);
  if (!doc.is_object() || !doc.contains("keys") || !doc["keys"].is_array()) {
    return Error(ErrorCode::kUnavailable, "the issuer's JWKS is not a JSON object with a keys array");
  }
  std::map<std::string, std::shared_ptr<Key>> keys;
  for (const auto& jwk : doc["keys"]) {
    if (!jwk.is_object() || Str(jwk, "kid").empty()) continue;
    auto key = Key::FromJwk(jwk);
    if (!key.ok()) {
      spdlog::debug("oidc: JWKS key '{}' skipped: {}", Str(jwk, "kid"), key.error().message());
      continue;
    }
    keys[Str(jwk, "kid")] = *key;
  }
  keys_ = std::move(keys);
  fetched_ = clock_->Now();
  have_keys_ = true;
  return OkStatus();
}

Result<std::shared_ptr<ActionsOidcVerifier::Key>> ActionsOidcVerifier::KeyFor(const std::string& kid) {
  std::lock_guard lock(mu_);  // held while fetching: concurrent claims wait for one fetch
  auto now = clock_->Now();
  if (!have_keys_ || now - fetched_ >= options_.jwks_ttl) {
    Status st = Refresh();
    if (!st.ok()) {
      if (!have_keys_) return st.error();
      spdlog::warn("oidc: refreshing the issuer's keys failed, using those fetched before: {}", st.error().message());
    }
  }
  auto it = keys_.find(kid);
  if (it == keys_.end() && now - last_kid_refetch_ >= options_.min_refetch_interval) {
    // A key the cache does not know: the issuer may have rotated its keys since. Rate-limited, so that
    // tokens naming made-up key ids cannot make wavebot hammer the issuer.
    last_kid_refetch_ = now;
    Status st = Refresh();
    if (!st.ok()) spdlog::warn("oidc: fetching the issuer's keys for kid '{}' failed: {}", kid, st.error().message());
    it = keys_.find(kid);
  }
  if (it == keys_.end()) return Unauthenticated("signed with an unknown key id '" + kid + "' (not in the issuer's JWKS)");
  return it->second;
}

Result<ActionsOidcClaims> ActionsOidcVerifier::Verify(std::string_view jwt, const ActionsRunBinding& want) {
  if (jwt.empty()) return Unauthenticated("missing");
  if (jwt.size() > kMaxTokenChars) return Unauthenticated("longer than " + std::to_string(kMaxTokenChars) + " characters");
  size_t a = jwt.find('.');
  size_t b = a == std::string_view::npos ? a : jwt.find('.', a + 1);
  if (b == std::string_view::npos || jwt.find('.', b + 1) != std::string_view::npos) {
    return Unauthenticated("not a compact JWS (three base64url parts separated by dots)");
  }
  auto header_text = StrictB64Url(jwt.substr(0, a));
  auto payload_text = StrictB64Url(jwt.substr(a + 1, b - a - 1));
  auto sig = StrictB64Url(jwt.substr(b + 1));
  if (!header_text.ok() || !payload_text.ok() || !sig.ok()) return Unauthenticated("a part is not base64url");
  json header = json::parse(*header_text, nullptr, false);
  if (!header.is_object()) return Unauthenticated("the header is not a JSON object");
  // The algorithm is fixed by wavebot, never taken from the token: "none", HS256 (a public key used as
  // an HMAC secret) and every other alg are refused before any key is looked at.
  std::string alg = Str(header, "alg");
  if (alg != "RS256") return Unauthenticated("alg '" + (alg.empty() ? header.value("alg", json()).dump() : alg) + "' refused (only RS256)");
  if (header.contains("crit")) return Unauthenticated("critical header parameters are not supported");
  std::string kid = Str(header, "kid");
  if (kid.empty()) return Unauthenticated("the header names no key id (kid)");
  auto key = KeyFor(kid);
  if (!key.ok()) return key.error();
  if (!(*key)->Verify(jwt.substr(0, b), *sig)) return Unauthenticated("the signature does not verify");

  json c = json::parse(*payload_text, nullptr, false);
  if (!c.is_object()) return Unauthenticated("the claims are not a JSON object");
  if (Str(c, "iss") != options_.issuer) {
    return Unauthenticated("issuer '" + Str(c, "iss") + "' is not '" + options_.issuer + "'");
  }
  bool aud_ok = false;
  if (auto it = c.find("aud"); it != c.end()) {
    if (it->is_string()) aud_ok = *it == options_.audience;
    if (it->is_array()) aud_ok = std::find(it->begin(), it->end(), json(options_.audience)) != it->end();
  }
  if (!aud_ok) return Unauthenticated("audience " + c.value("aud", json()).dump() + " is not '" + options_.audience + "'");
  int64_t now = std::chrono::duration_cast<std::chrono::seconds>(clock_->Now().time_since_epoch()).count();
  int64_t leeway = options_.leeway.count();
  auto exp = TimeClaim(c, "exp");
  auto nbf = TimeClaim(c, "nbf");
  auto iat = TimeClaim(c, "iat");
  for (const auto* t : {&exp, &nbf, &iat}) {
    if (!t->ok()) return t->error();
  }
  if (!exp->has_value()) return Unauthenticated("no expiry (exp)");
  if (now > **exp + leeway) return Unauthenticated("expired " + std::to_string(now - **exp) + " s ago");
  if (nbf->has_value() && now + leeway < **nbf) return Unauthenticated("not valid before " + std::to_string(**nbf));
  if (!iat->has_value()) return Unauthenticated("no issue time (iat)");
  if (now + leeway < **iat) return Unauthenticated("issued in the future");

  ActionsOidcClaims out;
  out.sub = Str(c, "sub");
  out.repository = Str(c, "repository");
  out.workflow_ref = Str(c, "workflow_ref");
  out.event_name = Str(c, "event_name");
  out.ref = Str(c, "ref");
  out.sha = Str(c, "sha");
  out.actor = Str(c, "actor");
  out.runner_environment = Str(c, "runner_environment");
  out.jti = Str(c, "jti");
  out.run_id = IdClaim(c, "run_id");
  out.run_attempt = IdClaim(c, "run_attempt");
  // The binding. GitHub's names are case-insensitive; the workflow's path is not.
  if (out.repository.empty() || !IEquals(out.repository, want.repository)) {
    return Denied("issued to repository '" + out.repository + "', not '" + want.repository + "'");
  }
  if (out.event_name != "workflow_dispatch") {
    return Denied("issued to a run triggered by '" + out.event_name + "', not by workflow_dispatch");
  }
  const std::string tail = "/" + want.workflow + "@";  // "<repository>/<workflow>@<ref>"
  size_t repo_len = want.repository.size();
  bool workflow_ok = out.workflow_ref.size() > repo_len + tail.size() &&
                     IEquals(std::string_view(out.workflow_ref).substr(0, repo_len), want.repository) &&
                     out.workflow_ref.compare(repo_len, tail.size(), tail) == 0;
  if (!workflow_ok) {
    return Denied("issued to workflow '" + out.workflow_ref + "', not " + want.repository + "/" + want.workflow);
  }
  if (want.run_id <= 0 || out.run_id != want.run_id) {
    return Denied("issued to workflow run " + std::to_string(out.run_id) + ", not to run " +
                  std::to_string(want.run_id) + " (the run of this dispatch)");
  }
  // A re-run of the run (someone with write access pressing "Re-run") keeps its id: only the attempt
  // wavebot's dispatch started may claim. (wavebot dispatches anew when a job ends without a result.)
  if (out.run_attempt != 1 && out.run_attempt != -1) {
    return Denied("issued to attempt " + std::to_string(out.run_attempt) + " of run " + std::to_string(out.run_id) +
                  ", a re-run; only the dispatched attempt (1) may claim");
  }
  return out;
}

Result<std::string> JwksOf(const PrivateKey& key, const std::string& kid) {
  auto numbers = key.PublicNumbers();
  if (!numbers.ok()) return numbers.error();
  json jwk = {{"kty", "RSA"},
              {"alg", "RS256"},
              {"use", "sig"},
              {"kid", kid},
              {"n", Base64UrlEncode(numbers->first)},
              {"e", Base64UrlEncode(numbers->second)}};
  return json{{"keys", json::array({jwk})}}.dump();
}

}  // namespace wavebot::github
