#include "github/rest.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "common/clock.h"
#include "common/log.h"
#include "github/jwt.h"
#include "github/request_tally.h"

namespace wavebot::github {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using std::chrono::system_clock;
using json = nlohmann::json;

int64_t ToUnix(system_clock::time_point t) {
  return std::chrono::duration_cast<seconds>(t.time_since_epoch()).count();
}

int64_t ParseInt(const std::string& s, int64_t fallback) {
  if (s.empty()) return fallback;
  char* end = nullptr;
  long long v = std::strtoll(s.c_str(), &end, 10);
  return (end && *end == '\0') ? v : fallback;
}

std::string GitHubMessage(const std::string& body) {
  auto j = json::parse(body, nullptr, false);
  if (j.is_object() && j.contains("message") && j["message"].is_string()) {
    std::string m = j["message"].get<std::string>();
    if (j.contains("errors") && j["errors"].is_array()) {
      for (const auto& e : j["errors"]) {
        if (e.is_object() && e.contains("message") && e["message"].is_string()) {
          m += "; " + e["message"].get<std::string>();
        } else if (e.is_object() && e.contains("code") && e["code"].is_string()) {
          m += "; " + e.value("field", std::string()) + " " + e["code"].get<std::string>();
        } else if (e.is_string()) {
          m += "; " + e.get<std::string>();
        }
      }
    }
    return m;
  }
  return body.substr(0, 200);
}

bool IsRateLimited(const HttpResponse& r) {
  if (r.status != 403 && r.status != 429) return false;
  if (r.status == 429) return true;
  if (!r.Header("retry-after").empty()) return true;
  if (r.Header("x-ratelimit-remaining") == "0") return true;
  std::string m = GitHubMessage(r.body);
  std::transform(m.begin(), m.end(), m.begin(), [](unsigned char c) { return std::tolower(c); });
  return m.find("rate limit") != std::string::npos;
}

// The path part of a URL (drops scheme://host), for messages.
std::string PathOf(const std::string& url) {
  size_t p = url.find("://");
  if (p == std::string::npos) return url;
  size_t s = url.find('/', p + 3);
  return s == std::string::npos ? "/" : url.substr(s);
}

// Link: <url>; rel="next", <url>; rel="last"  ->  the next URL, or "".
std::string NextLink(const std::string& link) {
  size_t pos = 0;
  while (true) {
    size_t lt = link.find('<', pos);
    if (lt == std::string::npos) return "";
    size_t gt = link.find('>', lt);
    if (gt == std::string::npos) return "";
    size_t end = link.find('<', gt);
    std::string params = link.substr(gt + 1, end == std::string::npos ? std::string::npos : end - gt - 1);
    if (params.find("rel=\"next\"") != std::string::npos) return link.substr(lt + 1, gt - lt - 1);
    if (end == std::string::npos) return "";
    pos = end;
  }
}

}  // namespace

Error ErrorFromResponse(const std::string& method, const std::string& path, const HttpResponse& r) {
  std::string msg = GitHubMessage(r.body);
  std::string what = method + " " + PathOf(path) + ": GitHub answered " + std::to_string(r.status) + " (" + msg + ")";
  std::string lower = msg;
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  switch (r.status) {
    case 400: return Error(ErrorCode::kInvalidArgument, what);
    case 401:
      if (lower.find("expiration time") != std::string::npos || lower.find("issued at") != std::string::npos) {
        return Error(ErrorCode::kUnauthenticated,
                     what + " — the JWT's times were refused: check this machine's clock (NTP)");
      }
      return Error(ErrorCode::kUnauthenticated, what);
    case 403: return Error(IsRateLimited(r) ? ErrorCode::kRateLimited : ErrorCode::kPermissionDenied, what);
    case 404: return Error(ErrorCode::kNotFound, what);
    case 405: return Error(ErrorCode::kFailedPrecondition, what);
    case 409: return Error(ErrorCode::kConflict, what);
    case 410: return Error(ErrorCode::kNotFound, what);
    case 422:
      if (lower.find("already exists") != std::string::npos) return Error(ErrorCode::kAlreadyExists, what);
      return Error(ErrorCode::kInvalidArgument, what);
    case 429: return Error(ErrorCode::kRateLimited, what);
    default:
      if (r.status >= 500) return Error(ErrorCode::kUnavailable, what);
      return Error(ErrorCode::kInternal, what);
  }
}

RestClient::RestClient(const ClientOptions& options, std::shared_ptr<PrivateKey> key,
                       std::unique_ptr<Transport> transport)
    : options_(options),
      clock_(options.clock ? options.clock : RealClock()),
      base_url_(options.api_url),
      key_(std::move(key)),
      transport_(std::move(transport)),
      rng_(options.jitter_seed ? options.jitter_seed : std::random_device{}()),
      write_budget_(WriteBudgetLimits{options.write_budget_per_minute, options.write_budget_per_hour}) {
  while (!base_url_.empty() && base_url_.back() == '/') base_url_.pop_back();
  if (!options_.token.empty()) log::AddSecret(options_.token);
}

RestClient::~RestClient() = default;

std::string RestClient::AbsoluteUrl(const std::string& path) const {
  if (path.rfind("http://", 0) == 0 || path.rfind("https://", 0) == 0) return path;
  return base_url_ + path;
}

milliseconds RestClient::Jitter(milliseconds base) {
  std::lock_guard lock(mu_);
  std::uniform_real_distribution<double> dist(0.5, 1.5);
  return milliseconds(static_cast<int64_t>(static_cast<double>(base.count()) * dist(rng_)));
}

std::vector<CredentialUsage> RestClient::Usage() const {
  std::lock_guard lock(mu_);
  std::vector<CredentialUsage> out;
  for (const auto& [credential, u] : usage_) {
    CredentialUsage c = u;
    c.credential = credential;
    if (auto it = rates_.find(credential); it != rates_.end()) c.rate = it->second;
    out.push_back(c);
  }
  return out;
}

WriteBudgetLimits RestClient::write_budget_limits() const { return write_budget_.limits(); }

std::vector<WriteBudgetUsage> RestClient::WriteBudgetUsageNow() const {
  std::lock_guard lock(mu_);
  return write_budget_.Usage(clock_->Now());
}

RateLimitState RestClient::rate_limit() const {
  std::lock_guard lock(mu_);
  return rate_;
}

Result<std::string> RestClient::AppJwt() {
  if (!key_) return Error(ErrorCode::kFailedPrecondition, "no App private key configured (PAT mode?)");
  // Back-date iat by 60 s (MakeAppJwt) so a slightly fast GitHub clock accepts it.
  return MakeAppJwt(*key_, options_.app_id, clock_->Now());
}

Result<int64_t> RestClient::InstallationFor(const RepoRef& repo) {
  if (options_.installation_id != 0) return options_.installation_id;
  {
    std::lock_guard lock(mu_);
    auto it = installations_.find(repo.FullName());
    if (it != installations_.end()) return it->second;
  }
  RestRequest req;
  req.path = "/repos/" + repo.FullName() + "/installation";
  req.auth = AuthMode::kApp;
  auto res = Call(req);
  if (!res.ok()) return res.error().Wrap("looking up the App installation of " + repo.FullName());
  auto j = json::parse(res->body, nullptr, false);
  if (!j.is_object() || !j.contains("id") || !j["id"].is_number_integer()) {
    return Error(ErrorCode::kParse, "installation of " + repo.FullName() + ": response has no id");
  }
  int64_t id = j["id"].get<int64_t>();
  std::lock_guard lock(mu_);
  installations_[repo.FullName()] = id;
  return id;
}

Result<std::string> RestClient::TokenForInstallation(int64_t installation_id) {
  {
    std::lock_guard lock(mu_);
    auto it = tokens_.find(installation_id);
    // Refresh five minutes before expiry so no request goes out with a token about to lapse.
    if (it != tokens_.end() && clock_->Now() + std::chrono::minutes(5) < it->second.expires_at) {
      return it->second.token;
    }
  }
  RestRequest req;
  req.method = "POST";
  req.path = "/app/installations/" + std::to_string(installation_id) + "/access_tokens";
  req.auth = AuthMode::kApp;
  req.idempotent = true;  // a second token is harmless
  auto res = Call(req);
  if (!res.ok()) return res.error().Wrap("creating an installation token");
  auto j = json::parse(res->body, nullptr, false);
  if (!j.is_object() || !j.contains("token") || !j["token"].is_string()) {
    return Error(ErrorCode::kParse, "installation token response has no token");
  }
  CachedToken t;
  t.token = j["token"].get<std::string>();
  log::AddShortLivedSecret(t.token);
  // expires_at: "2016-07-11T22:14:10Z". Parse; if absent assume one hour.
  t.expires_at = clock_->Now() + std::chrono::hours(1);
  if (j.contains("expires_at") && j["expires_at"].is_string()) {
    std::tm tm{};
    std::string s = j["expires_at"].get<std::string>();
    if (strptime(s.c_str(), "%Y-%m-%dT%H:%M:%S", &tm) != nullptr) {
      t.expires_at = system_clock::from_time_t(timegm(&tm));
    }
  }
  std::lock_guard lock(mu_);
  tokens_[installation_id] = t;
  return t.token;
}

Result<std::string> RestClient::InstallationToken(const RepoRef& repo) {
  if (!options_.token.empty()) return options_.token;
  auto id = InstallationFor(repo);
  if (!id.ok()) return id.error();
  return TokenForInstallation(*id);
}

Result<HttpResponse> RestClient::SendGit(const RepoRef& repo, HttpRequest request) {
  auto token = InstallationToken(repo);
  if (!token.ok()) return token.error();
  request.headers["Authorization"] = "Basic " + Base64Encode("x-access-token:" + *token);
  request.headers["User-Agent"] = options_.user_agent;
  bool may_have_landed = false;
  return transport_->Send(request, &may_have_landed);
}

Result<std::string> RestClient::NarrowedToken(const RepoRef& repo, const std::map<std::string, std::string>& permissions) {
  if (!options_.token.empty()) return options_.token;
  auto id = InstallationFor(repo);
  if (!id.ok()) return id.error();
  RestRequest req;
  req.method = "POST";
  req.path = "/app/installations/" + std::to_string(*id) + "/access_tokens";
  req.auth = AuthMode::kApp;
  req.idempotent = true;  // a second token is harmless (it expires in an hour)
  json perms = json::object();
  for (const auto& [k, v] : permissions) perms[k] = v;
  req.body = json{{"repositories", {repo.name}}, {"permissions", perms}}.dump();
  auto res = Call(req);
  if (!res.ok()) return res.error().Wrap("creating a token narrowed to " + repo.FullName());
  auto j = json::parse(res->body, nullptr, false);
  if (!j.is_object() || !j.contains("token") || !j["token"].is_string()) {
    return Error(ErrorCode::kParse, "installation token response has no token");
  }
  std::string token = j["token"].get<std::string>();
  log::AddShortLivedSecret(token);
  return token;
}

Result<std::string> RestClient::Authorization(const RestRequest& req) {
  switch (req.auth) {
    case AuthMode::kNone:
      return std::string();
    case AuthMode::kApp: {
      auto jwt = AppJwt();
      if (!jwt.ok()) return jwt.error();
      return "Bearer " + *jwt;
    }
    case AuthMode::kInstallation: {
      auto tok = InstallationToken(req.repo);
      if (!tok.ok()) return tok.error();
      return (options_.token.empty() ? "token " : "Bearer ") + *tok;
    }
  }
  return std::string();
}

void RestClient::InvalidateToken(const RestRequest& req) {
  if (req.auth != AuthMode::kInstallation || !options_.token.empty()) return;
  std::lock_guard lock(mu_);
  auto it = installations_.find(req.repo.FullName());
  int64_t id = options_.installation_id ? options_.installation_id : (it == installations_.end() ? 0 : it->second);
  tokens_.erase(id);
}

bool RestClient::Wait(milliseconds d) { return clock_->SleepFor(d, options_.stop); }

std::string RestClient::CredentialOf(const RestRequest& req) {
  switch (req.auth) {
    case AuthMode::kNone: return "none";
    case AuthMode::kApp: return "app";
    case AuthMode::kInstallation: {
      if (!options_.token.empty()) return "pat";
      if (options_.installation_id != 0) return "installation:" + std::to_string(options_.installation_id);
      std::lock_guard lock(mu_);
      auto it = installations_.find(req.repo.FullName());
      // Not yet looked up: the lookup itself is an App call, so the App's pause is the one to honour.
      return it == installations_.end() ? "app" : "installation:" + std::to_string(it->second);
    }
  }
  return "none";
}

namespace {

Error Cancelled(const RestRequest& req) {
  return Error(ErrorCode::kCancelled, req.method + " " + PathOf(req.path) + ": wavebot is stopping");
}

// GitHub may have carried out a request it answered with one of these (a gateway or a timeout between
// its front end and the service): a creating write is then "outcome unknown", not "failed".
bool MayHaveBeenCarriedOut(int status) { return status >= 500; }

}  // namespace

Status RestClient::TakeWriteSlot(const RestRequest& req, system_clock::time_point deadline, WriteSlot* slot) {
  slot->key.clear();
  // GitHub's content-creation limits count the requests an installation makes (and a user's, for the
  // PAT). The App's own JWT requests are not an installation's: minting installation tokens (POST
  // /app/installations/{id}/access_tokens) falls under the App's separate limit on token requests
  // (2,000 an hour), and redelivering a webhook creates no content on GitHub. Reads never count.
  const bool write = req.method != "GET" && req.method != "HEAD";
  if (!write || req.auth != AuthMode::kInstallation || !write_budget_.enabled()) return OkStatus();
  std::string key = "pat";
  if (options_.token.empty()) {
    auto id = InstallationFor(req.repo);
    if (!id.ok()) {
      // As CallOnce answers a failed lookup (it was retried already): not a transport error to retry.
      if (id.error().code() == ErrorCode::kUnavailable) return Error(ErrorCode::kFailedPrecondition, id.error().message());
      return id.error();
    }
    key = "installation:" + std::to_string(*id);
  }
  const auto now = clock_->Now();
  WriteBudget::Grant grant;
  bool first_wait = false;
  {
    std::lock_guard lock(mu_);
    grant = write_budget_.Take(key, now, req.priority);
    if (grant.waits) {
      first_wait = budget_waiting_.insert(key).second;
    } else if (!grant.deferred) {
      budget_waiting_.erase(key);
    }
  }
  const WriteBudgetLimits& limits = write_budget_.limits();
  const std::string limits_text =
      std::to_string(limits.per_minute) + "/min, " + std::to_string(limits.per_hour) + "/h";
  if (grant.deferred) {
    return Error(ErrorCode::kDeferred,
                 req.method + " " + PathOf(req.path) + ": deferred: the write budget of " + key + " (" + limits_text +
                     ") is down to the reserve kept for urgent writes; send it again later");
  }
  if (!grant.waits) {
    *slot = WriteSlot{key, grant.at};
    return OkStatus();
  }
  const auto wait = std::chrono::ceil<milliseconds>(grant.at - now);
  if (grant.at > deadline || wait > options_.max_single_wait) {
    std::lock_guard lock(mu_);
    write_budget_.Release(key, grant.at, now);
    return Error(ErrorCode::kRateLimited, req.method + " " + PathOf(req.path) + ": the write budget of " + key +
                                              " (" + limits_text + ") has no slot for " +
                                              std::to_string(wait.count()) + " ms, past this call's deadline")
        .WithRetryAt(grant.at);
  }
  if (first_wait) {
    spdlog::warn("github: the write budget of {} ({}) is spent: writes wait for a slot, this one {} ms (logged "
                 "once until a write goes without waiting)",
                 key, limits_text, wait.count());
  }
  if (!Wait(wait)) {
    std::lock_guard lock(mu_);
    write_budget_.Release(key, grant.at, now);
    return Cancelled(req);
  }
  *slot = WriteSlot{key, grant.at};
  return OkStatus();
}

Result<HttpResponse> RestClient::Call(const RestRequest& req) {
  const auto deadline = clock_->Now() + options_.call_deadline;
  const bool creating = req.method == "POST" && !req.idempotent;
  int server_errors = 0;
  int secondary_waits = 0;
  bool refreshed_token = false;
  bool check_landed = false;  // an earlier attempt's answer was lost: look before sending again
  while (true) {
    if (options_.stop != nullptr && options_.stop->stopped()) return Cancelled(req);
    const std::string credential = CredentialOf(req);
    // Another call with this credential was told to wait (Retry-After): so is this one.
    {
      std::chrono::system_clock::time_point until;
      {
        std::lock_guard lock(mu_);
        auto it = paused_until_.find(credential);
        if (it != paused_until_.end()) until = it->second;
      }
      const auto now = clock_->Now();
      if (until > now) {
        if (until > deadline) {
          return Error(ErrorCode::kRateLimited, req.method + " " + PathOf(req.path) +
                                                    ": GitHub asked to wait (Retry-After) past this call's deadline")
              .WithRetryAt(until);
        }
        if (!Wait(std::chrono::duration_cast<milliseconds>(until - now) + milliseconds(1))) return Cancelled(req);
      }
    }
    // A known exhausted primary limit: wait for the reset instead of spending a request on a 403.
    if (req.auth != AuthMode::kNone) {
      int64_t wait_s = 0;
      int64_t reset = 0;
      {
        std::lock_guard lock(mu_);
        const RateLimitState& r = rates_[credential];
        if (r.remaining == 0 && r.reset_unix > ToUnix(clock_->Now())) {
          wait_s = r.reset_unix - ToUnix(clock_->Now()) + 1;
          reset = r.reset_unix;
        }
      }
      if (wait_s > 0) {
        if (clock_->Now() + seconds(wait_s) > deadline || seconds(wait_s) > options_.max_single_wait) {
          return Error(ErrorCode::kRateLimited, req.method + " " + PathOf(req.path) +
                                                    ": primary rate limit exhausted until " + std::to_string(reset) +
                                                    " (past this call's deadline)")
              .WithRetryAt(std::chrono::system_clock::time_point(seconds(reset)));
        }
        spdlog::warn("github: primary rate limit of {} exhausted; waiting {} s for the reset", credential, wait_s);
        if (!Wait(seconds(wait_s))) return Cancelled(req);
        std::lock_guard lock(mu_);
        rates_[credential].remaining = -1;
      }
    }

    if (check_landed) {
      // The lookup is a read of its own (with its own retries); an error means "ask again later".
      auto landed = req.find_landed();
      if (landed.ok() && landed->has_value()) {
        spdlog::info("github: {} {}: the earlier attempt had landed (its answer was lost); not sending it again",
                     req.method, PathOf(req.path));
        return **landed;
      }
      if (!landed.ok()) {
        if (landed.error().code() == ErrorCode::kCancelled) return landed.error();
        ++server_errors;
        milliseconds wait = Jitter(milliseconds(std::min<int64_t>(60'000, 1000LL << std::min(server_errors - 1, 6))));
        if (clock_->Now() + wait > deadline) {
          return Error(ErrorCode::kUnavailable, req.method + " " + PathOf(req.path) +
                                                    ": its answer was lost and looking it up failed (" +
                                                    landed.error().message() + ") — giving up at this call's deadline");
        }
        if (!Wait(wait)) return Cancelled(req);
        continue;
      }
      check_landed = false;
    }

    // Every attempt of a write counts against GitHub's limits, a retried one too.
    WriteSlot slot;
    if (auto taken = TakeWriteSlot(req, deadline, &slot); !taken.ok()) return taken.error();
    bool may_have_landed = false;
    auto res = CallOnce(req, &may_have_landed);
    if (!slot.key.empty()) {
      std::lock_guard lock(mu_);
      write_budget_.Settle(slot.key, slot.at, clock_->Now());
    }
    // The first call for a repository looks its installation up: only now is its credential known.
    const std::string answered_as = CredentialOf(req);
    milliseconds wait{0};
    std::string why;
    bool lost_answer = false;
    if (!res.ok()) {
      if (res.error().code() != ErrorCode::kUnavailable) return res.error();
      // Connection error: jittered exponential backoff from 1 s, capped at a minute.
      ++server_errors;
      wait = Jitter(milliseconds(std::min<int64_t>(60'000, 1000LL << std::min(server_errors - 1, 6))));
      why = res.error().message();
      lost_answer = may_have_landed;
    } else {
      const HttpResponse& r = *res;
      if (r.status < 300 || r.status == 302 || r.status == 304) return res;
      if (r.status == 401 && req.auth == AuthMode::kInstallation && !refreshed_token && options_.token.empty()) {
        // A revoked or expired token: mint a new one once.
        refreshed_token = true;
        InvalidateToken(req);
        continue;
      }
      const int64_t retry_after = ParseInt(r.Header("retry-after"), -1);
      if (IsRateLimited(r)) {
        if (retry_after >= 0) {
          wait = seconds(std::max<int64_t>(retry_after, 1));
          why = "secondary rate limit, retry-after " + std::to_string(retry_after) + " s";
        } else if (r.Header("x-ratelimit-remaining") == "0") {
          int64_t reset = ParseInt(r.Header("x-ratelimit-reset"), 0);
          wait = seconds(std::max<int64_t>(reset - ToUnix(clock_->Now()) + 1, 1));
          why = "primary rate limit exhausted until " + std::to_string(reset);
        } else {
          // Secondary limit without retry-after: GitHub asks for at least a minute, growing.
          wait = seconds(60LL << std::min(secondary_waits, 5));
          ++secondary_waits;
          why = "secondary rate limit without retry-after";
        }
        if (wait > options_.max_single_wait) {
          return ErrorFromResponse(req.method, req.path, r).WithRetryAt(clock_->Now() + wait);
        }
      } else if (r.status >= 500) {
        ++server_errors;
        wait = Jitter(milliseconds(std::min<int64_t>(60'000, 1000LL << std::min(server_errors - 1, 6))));
        // Retry-After on any status (RFC 9110 §10.2.3): never sooner than the server asked.
        if (retry_after >= 0) wait = std::max<milliseconds>(wait, seconds(retry_after));
        why = "server error " + std::to_string(r.status) +
              (retry_after >= 0 ? ", retry-after " + std::to_string(retry_after) + " s" : std::string());
        lost_answer = MayHaveBeenCarriedOut(r.status);
      } else {
        return ErrorFromResponse(req.method, req.path, r);
      }
      if (retry_after >= 0) {
        // The credential's other calls wait as long as GitHub asked, not as long as this call's own
        // backoff (which grows with its consecutive 5xx): else one unlucky call holds them all a minute.
        std::lock_guard lock(mu_);
        auto& until = paused_until_[answered_as];
        until = std::max(until, clock_->Now() + seconds(std::max<int64_t>(retry_after, 1)));
      }
      if (clock_->Now() + wait > deadline) {
        Error e = ErrorFromResponse(req.method, req.path, r);
        if (e.code() == ErrorCode::kRateLimited) {
          return Error(ErrorCode::kRateLimited, e.message() + " — giving up: the next retry would pass this call's deadline")
              .WithRetryAt(clock_->Now() + wait);
        }
        return Error(ErrorCode::kUnavailable, e.message() + " — giving up: the next retry would pass this call's deadline");
      }
    }
    if (!res.ok() && clock_->Now() + wait > deadline) {
      return Error(ErrorCode::kUnavailable, why + " — giving up: this call's deadline passed");
    }
    if (creating && lost_answer) {
      if (!req.find_landed) {
        return Error(ErrorCode::kUnavailable, req.method + " " + PathOf(req.path) + ": " + why +
                                                  " — the request may have been carried out and cannot be looked "
                                                  "up, so it is not sent again");
      }
      check_landed = true;
      why += "; its answer was lost, so it is looked up before it is sent again";
    }
    spdlog::warn("github: {} {}: {}; retrying in {} ms", req.method, PathOf(req.path), why, wait.count());
    if (!Wait(wait)) return Cancelled(req);
  }
}

Result<HttpResponse> RestClient::CallOnce(const RestRequest& req, bool* may_have_landed) {
  auto auth = Authorization(req);
  if (!auth.ok()) {
    switch (auth.error().code()) {
      case ErrorCode::kUnavailable: return Error(ErrorCode::kFailedPrecondition, auth.error().message());
      default: return auth.error();
    }
  }
  HttpRequest http;
  http.method = req.method;
  http.url = AbsoluteUrl(req.path);
  http.body = req.body;
  http.fresh_connection = req.method == "POST" && !req.idempotent;
  http.headers = {
      {"Accept", "application/vnd.github+json"},
      {"X-GitHub-Api-Version", "2022-11-28"},
      {"User-Agent", options_.user_agent},
  };
  if (!auth->empty()) http.headers["Authorization"] = *auth;
  if (!req.body.empty()) http.headers["Content-Type"] = "application/json";
  // ETags are per URL and per identity (different installations may see different things).
  std::string cache_key = (req.auth == AuthMode::kInstallation ? req.repo.FullName() : "app") + " " + http.url;
  bool conditional = req.method == "GET" && req.auth != AuthMode::kNone;
  if (conditional) {
    std::lock_guard lock(mu_);
    auto it = etag_cache_.find(cache_key);
    if (it != etag_cache_.end()) http.headers["If-None-Match"] = it->second.etag;
  }
  const std::string credential = CredentialOf(req);
  auto res = transport_->Send(http, may_have_landed);
  if (!res.ok()) return res;
  std::lock_guard lock(mu_);
  if (req.auth != AuthMode::kNone) {
    CredentialUsage& u = usage_[credential];
    ++u.requests;
    if (res->status == 304) ++u.not_modified;
    if (req.method != "GET" && req.method != "HEAD") ++u.writes;
    RequestTally::Count(res->status, req.method != "GET" && req.method != "HEAD");
  }
  if (req.auth != AuthMode::kNone && !res->Header("x-ratelimit-remaining").empty()) {
    RateLimitState r;
    r.limit = ParseInt(res->Header("x-ratelimit-limit"), -1);
    r.remaining = ParseInt(res->Header("x-ratelimit-remaining"), -1);
    r.reset_unix = ParseInt(res->Header("x-ratelimit-reset"), 0);
    r.used = ParseInt(res->Header("x-ratelimit-used"), -1);
    rate_ = r;
    rates_[credential] = r;
  }
  if (conditional && res->status == 304) {
    auto it = etag_cache_.find(cache_key);
    if (it != etag_cache_.end()) {
      HttpResponse cached = it->second.response;
      return cached;
    }
  }
  if (conditional && res->status == 200 && !res->Header("etag").empty()) {
    if (etag_cache_.size() >= 2000) etag_cache_.clear();  // bounded; a miss only costs a full response
    etag_cache_[cache_key] = CachedResponse{res->Header("etag"), *res};
  }
  return res;
}

Result<std::vector<std::string>> RestClient::GetPages(const RestRequest& first) {
  RestRequest req = first;
  req.method = "GET";
  req.path += (req.path.find('?') == std::string::npos ? "?" : "&") + std::string("per_page=100");
  std::vector<std::string> pages;
  for (int page = 0; page < 1000; ++page) {
    auto res = Call(req);
    if (!res.ok()) return res.error();
    pages.push_back(res->body);
    std::string next = NextLink(res->Header("link"));
    if (next.empty()) return pages;
    req.path = next;
  }
  return Error(ErrorCode::kInternal, "more than 1000 pages from " + first.path);
}

}  // namespace wavebot::github
