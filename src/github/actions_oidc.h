// GitHub Actions OIDC tokens: how wavebot knows that a claim of a run comes from the job of the workflow
// run its own dispatch created (docs/runners.md, docs/security.md).
//
// A job granted `permissions: id-token: write` can ask GitHub for a JWT signed by the Actions issuer
// (https://token.actions.githubusercontent.com on github.com, https://HOST/_services/token on GitHub
// Enterprise Server) naming its repository, workflow, event and run. ActionsOidcVerifier checks such a
// token: RS256 only, signed by a key of the issuer's JWKS (<issuer>/.well-known/jwks, cached with a TTL
// and fetched again when a token names a key id it does not know), `iss`, `aud`, `exp`/`nbf`/`iat` with a
// small leeway, and the binding: `repository`, `event_name == "workflow_dispatch"`, `workflow_ref` naming
// the workflow file in that repository, `run_id`, and `run_attempt` 1 (not a re-run).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "common/result.h"

namespace wavebot::github {

class PrivateKey;
class Transport;

// Where the issuer's signing keys come from. Thread-safe.
class JwksSource {
 public:
  virtual ~JwksSource() = default;
  // The JWKS document ({"keys": [...]}) as served at <issuer>/.well-known/jwks.
  // Errors: kUnavailable (unreachable, non-200 answer).
  virtual Result<std::string> Fetch() = 0;
};

// GETs `jwks_url` over `transport` (not owned; must outlive the source).
std::unique_ptr<JwksSource> NewHttpJwksSource(std::string jwks_url, Transport* transport);

// The Actions OIDC issuer for a REST API URL: https://token.actions.githubusercontent.com for
// https://api.github.com, else the API's origin + "/_services/token" (GitHub Enterprise Server, and the
// simulator, which issues tokens the same way).
std::string DefaultActionsOidcIssuer(const std::string& api_url);
// <issuer>/.well-known/jwks
std::string JwksUrlOf(const std::string& issuer);

struct OidcVerifierOptions {
  std::string issuer;    // the exact `iss`
  std::string audience;  // the `aud` a token must carry (a string, or one of an array)
  std::chrono::seconds leeway{60};                   // clock skew allowed on exp, nbf and iat
  std::chrono::seconds jwks_ttl{3600};               // keys are fetched again after this
  std::chrono::seconds min_refetch_interval{10};     // at most one fetch this often for unknown key ids
};

// What a token must be bound to: the workflow run wavebot's dispatch created.
struct ActionsRunBinding {
  std::string repository;  // "owner/name"
  std::string workflow;    // the workflow file's path in the repository, ".github/workflows/wavebot-agent.yml"
  int64_t run_id = 0;
};

// The claims wavebot uses, from a token that verified.
struct ActionsOidcClaims {
  std::string sub, repository, workflow_ref, event_name, ref, sha, actor, runner_environment, jti;
  int64_t run_id = 0;
  int64_t run_attempt = 0;
};

class ActionsOidcVerifier {
 public:
  // `source` and `clock` are not owned and must outlive the verifier.
  ActionsOidcVerifier(OidcVerifierOptions options, JwksSource* source, Clock* clock);

  // Verifies `jwt` and its binding to `want`. Errors:
  //   kUnauthenticated  not a valid token of the issuer for the audience (format, alg, key id, signature,
  //                     iss, aud, times);
  //   kPermissionDenied a valid token of another repository, workflow, event or run;
  //   kUnavailable      the issuer's keys could not be fetched (and none are cached).
  // Thread-safe; may fetch the JWKS (blocking) outside any lock the caller holds.
  Result<ActionsOidcClaims> Verify(std::string_view jwt, const ActionsRunBinding& want);

  const OidcVerifierOptions& options() const { return options_; }

 private:
  struct Key;
  // The key `kid`, fetching the JWKS when the cache is stale or (rate-limited) lacks it.
  Result<std::shared_ptr<Key>> KeyFor(const std::string& kid);
  Status Refresh();

  OidcVerifierOptions options_;
  JwksSource* source_;
  Clock* clock_;
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<Key>> keys_;           // guarded by mu_: kid -> key
  std::chrono::system_clock::time_point fetched_{};            // guarded by mu_: last successful fetch
  std::chrono::system_clock::time_point last_kid_refetch_{};   // guarded by mu_: last fetch for an unknown kid
  bool have_keys_ = false;                                     // guarded by mu_
};

// A JWKS document holding `key`'s public half under `kid` (for the simulator and tests).
Result<std::string> JwksOf(const PrivateKey& key, const std::string& kid);

}  // namespace wavebot::github
