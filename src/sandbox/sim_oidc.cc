// The simulator as GitHub's Actions OIDC issuer (docs/runners.md), laid out as on GitHub Enterprise
// Server, at the host root whatever the API's layout:
//   GET /_services/token/.well-known/openid-configuration   discovery (issuer, jwks_uri, claims)
//   GET /_services/token/.well-known/jwks                   the issuer's public key (RS256)
//   GET /_sim/actions/idtoken/{job_id}?audience=...          a running job's token, as
//       $ACTIONS_ID_TOKEN_REQUEST_URL&audience=... with `Authorization: bearer $ACTIONS_ID_TOKEN_REQUEST_TOKEN`
//       answers on a runner: {"value": "<jwt>"}
// The request token is made for one job when a runner takes it, only for workflows that grant
// `id-token: write`, and works only for that job while it runs.
#include <algorithm>
#include <cctype>

#include "github/actions_oidc.h"
#include "github/jwt.h"
#include "sandbox/sim_ctx.h"
#include "sandbox/simulator_impl.h"

namespace wavebot::sandbox {
namespace {

bool SameSecret(const std::string& a, const std::string& b) {
  if (a.size() != b.size() || a.empty()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

}  // namespace

Result<std::string> SimulatorImpl::IdTokenLocked(const sim::RepoRec& r, const sim::JobRec& j,
                                                 const std::string& audience) {
  auto run_it = r.runs.find(j.run_id);
  if (run_it == r.runs.end()) return Error(ErrorCode::kNotFound, "no run for job " + std::to_string(j.id));
  const sim::RunRec& w = run_it->second;
  int64_t now = sim::Unix(clock_->Now());
  std::string ref = "refs/heads/" + w.head_branch;
  std::string workflow_ref = r.FullName() + "/" + w.path + "@" + ref;
  // GitHub's claim set ("OIDC token claims" in GitHub's OpenID Connect reference); ids are strings.
  json claims = {{"jti", NewToken("")},
                 {"sub", "repo:" + r.FullName() + ":ref:" + ref},
                 {"aud", audience},
                 {"ref", ref},
                 {"ref_type", "branch"},
                 {"ref_protected", "false"},
                 {"sha", w.head_sha},
                 {"repository", r.FullName()},
                 {"repository_id", std::to_string(r.id)},
                 {"repository_owner", r.owner},
                 {"repository_owner_id", std::to_string(sim::Renderer::UserId(r.owner))},
                 {"repository_visibility", r.is_private ? "private" : "public"},
                 {"run_id", std::to_string(w.id)},
                 {"run_number", std::to_string(w.run_number)},
                 {"run_attempt", "1"},
                 {"actor", j.actor},
                 {"actor_id", std::to_string(sim::Renderer::UserId(j.actor))},
                 {"workflow", w.name},
                 {"workflow_ref", workflow_ref},
                 {"workflow_sha", w.head_sha},
                 {"job_workflow_ref", workflow_ref},
                 {"job_workflow_sha", w.head_sha},
                 {"event_name", w.event},
                 {"runner_environment", "self-hosted"},
                 {"iss", oidc_issuer()},
                 {"nbf", now - 300},
                 {"iat", now},
                 {"exp", now + 6 * 3600}};
  json header = {{"typ", "JWT"}, {"alg", "RS256"}, {"kid", oidc_kid_}, {"x5t", oidc_kid_}};
  return github::SignJwtRs256(*oidc_key_, header.dump(), claims.dump());
}

void SimulatorImpl::RegisterOidcRoutes() {
  Add("GET", R"(/_services/token/\.well-known/openid-configuration)", Auth::kNone, [this](Ctx&) {
    Reply reply;
    reply.body = {{"issuer", oidc_issuer()},
                  {"jwks_uri", github::JwksUrlOf(oidc_issuer())},
                  {"subject_types_supported", {"public", "pairwise"}},
                  {"response_types_supported", {"id_token"}},
                  {"claims_supported",
                   {"sub", "aud", "exp", "iat", "iss", "jti", "nbf", "ref", "sha", "repository", "repository_id",
                    "repository_owner", "repository_owner_id", "run_id", "run_number", "run_attempt", "actor",
                    "actor_id", "workflow", "workflow_ref", "workflow_sha", "job_workflow_ref", "job_workflow_sha",
                    "event_name", "ref_type", "ref_protected", "repository_visibility", "runner_environment"}},
                  {"id_token_signing_alg_values_supported", {"RS256"}},
                  {"scopes_supported", {"openid"}}};
    return reply;
  });
  Add("GET", R"(/_services/token/\.well-known/jwks)", Auth::kNone, [this](Ctx&) {
    auto jwks = github::JwksOf(*oidc_key_, oidc_kid_);
    if (!jwks.ok()) return Err(500, jwks.error().message());
    Reply reply;
    reply.body = json::parse(*jwks);
    return reply;
  });
  Add("GET", R"(/_sim/actions/idtoken/(\d+))", Auth::kNone, [this](Ctx& c) {
    std::string auth = c.req.get_header_value("Authorization");
    std::string scheme = auth.substr(0, std::min<size_t>(auth.size(), 7));
    std::transform(scheme.begin(), scheme.end(), scheme.begin(), [](unsigned char ch) { return std::tolower(ch); });
    std::string presented = scheme == "bearer " ? auth.substr(7) : "";
    int64_t id = c.N(1);
    for (auto& [name, r] : repos_) {
      auto it = r.jobs.find(id);
      if (it == r.jobs.end()) continue;
      const sim::JobRec& j = it->second;
      // Only this job's own request token, only while it runs.
      if (!j.id_token || !SameSecret(presented, j.id_token_request)) return Err(401, "Bad credentials");
      if (j.status != "in_progress") return Err(401, "the job is " + j.status + ": its token requests ended");
      std::string audience = c.Q("audience", "https://github.com/" + r.owner);
      auto token = IdTokenLocked(r, j, audience);
      if (!token.ok()) return Err(500, token.error().message());
      Reply reply;
      reply.body = {{"value", *token}};
      return reply;
    }
    return Err(401, "Bad credentials");
  });
}

}  // namespace wavebot::sandbox
