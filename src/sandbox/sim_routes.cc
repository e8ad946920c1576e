// The simulator's REST routes: GitHub's paths, status codes and error bodies for the subset wavebot
// uses, plus the admin API under /_sim.
#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <filesystem>
#include <thread>

#include "common/clock.h"
#include "github/jwt.h"
#include "sandbox/process.h"
#include "sandbox/sim_ctx.h"
#include "sandbox/sim_git_reads.h"
#include "sandbox/simulator_impl.h"

namespace wavebot::sandbox {

using sim::Iso;
using sim::Unix;

namespace {
constexpr const char* kDocs = "https://docs.github.com/rest";
const std::string kRepo = R"(/repos/([^/]+)/([^/]+))";

bool IsAncestorOk(int code) { return code == 0; }

// GitHub counts characters, not bytes: UTF-8 lead bytes.
size_t Chars(const std::string& s) {
  size_t n = 0;
  for (unsigned char ch : s) n += (ch & 0xC0) != 0x80 ? 1 : 0;
  return n;
}
}  // namespace

// GitHub's limits: 65,536 characters for an issue, comment or PR body, 256 for a PR title. Beyond, a
// 422 with GitHub's validation error ("body is too long (maximum is 65536 characters)").
std::optional<SimulatorImpl::Reply> SimulatorImpl::TooLong(const char* resource, const char* field, const json& body) {
  if (!body.is_object() || !body.contains(field) || !body[field].is_string()) return std::nullopt;
  const bool title = std::string(field) == "title";
  const size_t max = title ? kMaxTitleChars : kMaxBodyChars;
  if (Chars(body[field].get<std::string>()) <= max) return std::nullopt;
  Reply r = Err(422, "Validation Failed");
  const bool comment = std::string(resource) == "IssueComment";
  r.body["errors"] = json::array(
      {{{"resource", resource},
        {"code", comment ? "unprocessable" : "custom"},
        {"field", comment ? "data" : field},
        {"message", std::string(comment ? "Body" : field) + " is too long (maximum is " + std::to_string(max) +
                        " characters)"}}});
  return r;
}

SimulatorImpl::Reply SimulatorImpl::Err(int status, const std::string& message) {
  Reply r;
  r.status = status;
  r.body = {{"message", message}, {"documentation_url", kDocs}, {"status", std::to_string(status)}};
  return r;
}

static SimulatorImpl* dummy = nullptr;  // silence unused warnings in some builds

void SimulatorImpl::Add(const std::string& method, const std::string& pattern, Auth auth, Handler h) {
  bool repo_scoped = pattern.rfind(kRepo, 0) == 0;
  routes_.push_back(Route{method, std::regex(pattern), auth, repo_scoped, std::move(h)});
}

SimulatorImpl::Reply SimulatorImpl::Page(Ctx& c, const json& items, const char* wrap_key) {
  int64_t per_page = std::clamp<int64_t>(std::atoll(c.Q("per_page", "30").c_str()), 1, 100);
  int64_t page = std::max<int64_t>(1, std::atoll(c.Q("page", "1").c_str()));
  int64_t total = static_cast<int64_t>(items.size());
  int64_t last = std::max<int64_t>(1, (total + per_page - 1) / per_page);
  json slice = json::array();
  for (int64_t i = (page - 1) * per_page; i < std::min(total, page * per_page); ++i) slice.push_back(items[i]);
  Reply r;
  if (wrap_key != nullptr) {
    r.body = {{"total_count", total}, {wrap_key, slice}};
  } else {
    r.body = slice;
  }
  auto url = [&](int64_t p) {
    std::string q;
    for (const auto& [k, v] : c.req.params) {
      if (k == "page" || k == "per_page") continue;
      q += "&" + k + "=" + httplib::detail::encode_query_param(v);
    }
    return api_url() + c.path + "?per_page=" + std::to_string(per_page) + q + "&page=" + std::to_string(p);
  };
  std::string link;
  auto add = [&](int64_t p, const char* rel) {
    link += (link.empty() ? "" : ", ") + std::string("<") + url(p) + ">; rel=\"" + rel + "\"";
  };
  if (page > 1) add(page - 1, "prev");
  if (page < last) add(page + 1, "next");
  if (page < last) add(last, "last");
  if (page > 1) add(1, "first");
  if (!link.empty()) r.headers["Link"] = link;
  return r;
}

std::optional<Fault> SimulatorImpl::NextFaultLocked(const std::string& method) {
  const bool write = method == "POST" || method == "PATCH" || method == "PUT" || method == "DELETE";
  if (!scripted_faults_.empty()) {
    const Fault f = scripted_faults_.front();
    const bool lost = f == Fault::kLostAnswer502 || f == Fault::kLostAnswerDrop;
    if (!lost || write) {
      scripted_faults_.pop_front();
      return f;
    }
  }
  std::uniform_real_distribution<double> u(0, 1);
  if (faults_.server_error_fraction > 0 && u(rng_) < faults_.server_error_fraction) {
    const double kind = u(rng_);
    return kind < 1.0 / 3 ? Fault::k500 : kind < 2.0 / 3 ? Fault::k502 : Fault::k503RetryAfter;
  }
  if (faults_.secondary_limit_fraction > 0 && u(rng_) < faults_.secondary_limit_fraction) {
    return u(rng_) < 0.5 ? Fault::kSecondary403RetryAfter : Fault::kSecondary429RetryAfter;
  }
  if (write && faults_.lost_answer_fraction > 0 && u(rng_) < faults_.lost_answer_fraction) {
    return u(rng_) < 0.5 ? Fault::kLostAnswer502 : Fault::kLostAnswerDrop;
  }
  return std::nullopt;
}

// Closes the connection a request came on without answering: the worker serving it holds the socket
// (found by its two ports), so shutting it down makes httplib's write fail and the client see no answer.
static void DropConnection(int local_port, int remote_port) {
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd", ec)) {
    int fd = std::atoi(entry.path().filename().c_str());
    sockaddr_in self{}, peer{};
    socklen_t len = sizeof(self);
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&self), &len) != 0 || self.sin_family != AF_INET ||
        ntohs(self.sin_port) != local_port) {
      continue;
    }
    len = sizeof(peer);
    if (::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &len) != 0 || ntohs(peer.sin_port) != remote_port) {
      continue;
    }
    ::shutdown(fd, SHUT_RDWR);
    return;
  }
}

void SimulatorImpl::Dispatch(const httplib::Request& req, httplib::Response& res) {
  // The API's path: in the GHES layout the REST API lives under /api/v3.
  std::string path = req.path;
  bool outside_api = false;
  if (opt_.ghes_layout) {
    const std::string prefix = kGhesApiPrefix;
    if (path.rfind(prefix + "/", 0) == 0) {
      path = path.substr(prefix.size());
    } else if (path.rfind("/_sim/", 0) != 0 && path.rfind("/_services/", 0) != 0) {
      outside_api = true;
    }
  }
  // The simulator's own endpoints and the OIDC issuer's (at the host root, as on GHES) are not the REST
  // API: no faults, no contract record.
  bool admin = path.rfind("/_sim/", 0) == 0 || path.rfind("/_services/", 0) == 0;
  std::chrono::milliseconds latency{0};
  std::optional<Fault> fault;
  int retry_after = 1;
  const std::string auth = req.get_header_value("Authorization");
  // GitHub's secondary limit on concurrent requests, per credential's subject (an installation's tokens
  // share it; the App's JWT is its own): counted from arrival to answer.
  std::string flight_key;
  bool too_many_in_flight = false;
  struct InFlight {
    SimulatorImpl* sim;
    const std::string* key;
    ~InFlight() {
      if (key->empty()) return;
      std::lock_guard lock(sim->mu_);
      if (--sim->in_flight_[*key] <= 0) sim->in_flight_.erase(*key);
      --sim->in_flight_total_;
    }
  } in_flight{this, &flight_key};
  uint64_t faults_generation = 0;
  {
    std::lock_guard lock(mu_);
    if (!admin) {
      std::string tok = auth.rfind("token ", 0) == 0    ? auth.substr(6)
                        : auth.rfind("Bearer ", 0) == 0 ? auth.substr(7)
                                                        : "";
      if (auto t = tokens_.find(tok); t != tokens_.end()) {
        flight_key = t->second.Subject();
      } else {
        flight_key = tok.empty() ? "anonymous" : "app";
      }
      ++in_flight_total_;
      too_many_in_flight = ++in_flight_[flight_key] > opt_.secondary_concurrent_requests &&
                           opt_.secondary_concurrent_requests > 0 && flight_key != "anonymous";
      faults_generation = faults_generation_;
      fault = NextFaultLocked(req.method);
      latency = faults_.latency;
      retry_after = faults_.retry_after_seconds;
      // Did this credential ignore a Retry-After it was given?
      const auto now = std::chrono::steady_clock::now();
      if (auto w = wait_orders_.find(auth); !auth.empty() && w != wait_orders_.end()) {
        if (now >= w->second.until) {
          wait_orders_.erase(w);
        } else if (now - w->second.told > std::chrono::milliseconds(250)) {
          retry_after_violations_.push_back(
              req.method + " " + path + ", " +
              std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(w->second.until - now).count()) +
              " ms early");
        }
      }
      if (fault && (*fault == Fault::kSecondary403RetryAfter || *fault == Fault::kSecondary429RetryAfter ||
                    *fault == Fault::k503RetryAfter)) {
        ++retry_after_answers_;
        if (!auth.empty()) {
          WaitOrder& order = wait_orders_[auth];
          order.told = now;
          order.until = std::max(order.until, now + std::chrono::seconds(retry_after));
        }
      }
    }
  }
  if (latency.count() > 0 && !too_many_in_flight) {
    // The simulated network delay, by configuration; a new fault configuration (a test lifting it) ends it.
    std::unique_lock lock(mu_);
    cv_.wait_until(lock, std::chrono::steady_clock::now() + latency,
                   [&] { return stopping_ || faults_generation_ != faults_generation; });
  }
  Reply reply;
  bool record = !admin;
  const std::string& auth_header = auth;
  json recorded_body = nullptr;
  if (!req.body.empty()) {
    recorded_body = json::parse(req.body, nullptr, false);
    if (recorded_body.is_discarded()) recorded_body = req.body;
  }
  sim::TokenRec* token = nullptr;
  sim::RateLimits::PrimaryWindow* primary = nullptr;  // the token's subject's, when token is set
  // A lost answer: the request is carried out as usual, and only its answer goes missing.
  std::optional<Fault> lost;
  if (fault && (*fault == Fault::kLostAnswer502 || *fault == Fault::kLostAnswerDrop)) {
    lost = fault;
    fault.reset();
  }
  if (fault) {
    switch (*fault) {
      case Fault::k500: reply = Err(500, "Server Error"); break;
      case Fault::k502: reply = Err(502, "Bad Gateway"); break;
      case Fault::k503RetryAfter:
        reply = Err(503, "Service Unavailable");
        reply.headers["Retry-After"] = std::to_string(retry_after);
        break;
      case Fault::kSecondary403RetryAfter:
        reply = Err(403, "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.");
        reply.headers["Retry-After"] = std::to_string(retry_after);
        break;
      case Fault::kSecondary429RetryAfter:
        reply = Err(429, "You have exceeded a secondary rate limit.");
        reply.headers["Retry-After"] = std::to_string(retry_after);
        break;
      case Fault::kSecondary403NoRetryAfter:
        reply = Err(403, "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.");
        break;
      case Fault::kLostAnswer502:
      case Fault::kLostAnswerDrop:
        break;  // handled as `lost`
    }
  } else {
    const Route* route = nullptr;
    std::smatch m;
    bool path_matched = false;
    for (const auto& r : routes_) {
      if (outside_api) break;  // GHES: nothing of the API outside /api/v3
      if (std::regex_match(path, m, r.re)) {
        path_matched = true;
        if (r.method == req.method) {
          route = &r;
          break;
        }
      }
    }
    std::unique_lock lock(mu_);
    Ctx c{req, m, json(), "", 0, nullptr, path};
    if (route == nullptr) {
      reply = Err(path_matched ? 405 : 404, path_matched ? "Method Not Allowed" : "Not Found");
    } else if (route->auth == Auth::kJwt) {
      std::string jwt = auth_header.rfind("Bearer ", 0) == 0 ? auth_header.substr(7) : "";
      auto claims = jwt.empty() ? Result<github::JwtClaims>(Error(ErrorCode::kUnauthenticated, "no JWT"))
                                : github::VerifyAppJwt(*key_, jwt);
      int64_t now = Unix(clock_->Now());
      if (!claims.ok()) {
        reply = Err(401, "A JSON web token could not be decoded");
      } else if (claims->iss != std::to_string(opt_.app_id)) {
        reply = Err(401, "'Issuer' claim ('iss') must be an Integer");
      } else if (claims->exp <= now || claims->exp > now + 600 + 30) {
        reply = Err(401, "'Expiration time' claim ('exp') must be a numeric value representing the future time at "
                         "which the assertion expires");
      } else if (claims->iat > now + 30) {
        reply = Err(401, "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was "
                         "issued");
      } else {
        route = route;
      }
      if (claims.ok() && reply.status == 200) reply.status = 0;  // proceed
    } else if (route->auth == Auth::kToken) {
      std::string tok;
      if (auth_header.rfind("token ", 0) == 0) tok = auth_header.substr(6);
      if (auth_header.rfind("Bearer ", 0) == 0) tok = auth_header.substr(7);
      auto it = tokens_.find(tok);
      if (tok.empty()) {
        reply = Err(401, "Requires authentication");
      } else if (it == tokens_.end() || it->second.expires <= clock_->Now()) {
        reply = Err(401, "Bad credentials");
      } else {
        token = &it->second;
        primary = &limits_.Primary(token->Subject(), clock_->Now());
        if (limits_.PrimaryExhausted(*primary)) {
          reply = Err(403, token->installation_id
                               ? "API rate limit exceeded for installation ID " + std::to_string(token->installation_id) + "."
                               : "API rate limit exceeded for user ID " +
                                     std::to_string(sim::Renderer::UserId(token->user)) + ".");
          reply.body["documentation_url"] =
              "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits";
        } else {
          reply.status = 0;
          c.actor = token->installation_id ? BotLogin() : token->user;
          c.installation_id = token->installation_id;
        }
      }
    } else {
      reply.status = 0;
    }
    if (reply.status == 0 && route != nullptr) {
      if (route->repo_scoped) {
        sim::RepoRec* repo = FindRepoLocked(RepoRef{m[1].str(), m[2].str()});
        if (repo == nullptr ||
            (route->auth == Auth::kToken && c.installation_id != 0 && repo->installation_id != c.installation_id) ||
            (route->auth == Auth::kToken && token != nullptr && !token->repos.empty() && !token->repos.count(repo->name))) {
          reply = Err(404, "Not Found");
        } else if (route->auth == Auth::kToken && token != nullptr && !token->permissions.empty() &&
                   !sim::TokenMay(token->permissions, req.method, path)) {
          reply = Err(403, "Resource not accessible by integration");
        } else {
          c.repo = repo;
        }
      }
      if (reply.status == 0 && !req.body.empty()) {
        c.body = json::parse(req.body, nullptr, false);
        if (c.body.is_discarded()) reply = Err(400, "Problems parsing JSON");
      }
      // GitHub answers a secondary limit with "a 403 or 429 response": every other refusal is a 429.
      auto refuse = [&](int64_t wait_s, const char* blocked_from) {
        reply =
            secondary_limit_answers_ % 2 == 0
                ? Err(403,
                      "You have exceeded a secondary rate limit. Please wait a few minutes before you try "
                      "again.")
                : Err(429, std::string(
                               "You have exceeded a secondary rate limit and have been temporarily blocked "
                               "from ") +
                               blocked_from + ". Please retry your request again later.");
        reply.body["documentation_url"] =
            "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits";
        reply.headers["Retry-After"] = std::to_string(wait_s);
        ++secondary_limit_answers_;
      };
      const bool read = req.method == "GET" || req.method == "HEAD" || req.method == "OPTIONS";
      if (reply.status == 0 && too_many_in_flight) refuse(60, "making requests");
      // GitHub's secondary limit on content creation: an installation's writes, not the App's JWT
      // requests (token mints fall under GitHub's separate limit on token requests) nor reads.
      if (reply.status == 0 && route->auth == Auth::kToken && token->installation_id != 0 && !read) {
        if (int64_t wait_s = limits_.TakeContentSlot(token->Subject(), clock_->Now()); wait_s > 0) {
          refuse(wait_s, "content creation");
        }
      }
      // And on points: every REST request of a token, a read 1 point and a write 5.
      if (reply.status == 0 && route->auth == Auth::kToken) {
        if (int64_t wait_s = limits_.TakePoints(token->Subject(), clock_->Now(), read ? 1 : 5); wait_s > 0) {
          refuse(wait_s, "making requests");
        }
      }
      if (reply.status == 0) {
        try {
          reply = route->handler(c);
        } catch (const std::exception& e) {
          reply = Err(500, std::string("simulator bug: ") + e.what());
        }
      }
    }
    if (reply.status == 0) reply.status = 200;
    // Conditional GET: a matching ETag answers 304, which costs no rate limit.
    if (req.method == "GET" && reply.status == 200 && reply.raw.empty() && route != nullptr &&
        route->auth != Auth::kNone) {
      std::string etag = "\"" + github::Sha256Hex(reply.body.dump()) + "\"";
      reply.headers["ETag"] = etag;
      if (req.get_header_value("If-None-Match") == etag) {
        reply.status = 304;
        reply.body = nullptr;
      }
    }
    if (token != nullptr && primary != nullptr) {
      // 304s are free; so is the refusal of a request beyond the limit.
      if (reply.status != 304 && !(reply.status == 403 && limits_.PrimaryExhausted(*primary))) primary->used++;
      const int64_t limit = limits_.primary_limit();
      reply.headers["x-ratelimit-limit"] = std::to_string(limit);
      reply.headers["x-ratelimit-remaining"] = std::to_string(std::max<int64_t>(0, limit - primary->used));
      reply.headers["x-ratelimit-used"] = std::to_string(primary->used);
      reply.headers["x-ratelimit-reset"] = std::to_string(Unix(primary->start + std::chrono::hours(1)));
      reply.headers["x-ratelimit-resource"] = "core";
    }
    if (!admin) ++requests_;
    record = record && route != nullptr && path.rfind("/_sim/", 0) != 0;
  }
  int carried_out = reply.status;
  // An answer that said a rate limit was exceeded (primary or secondary), for the benchmarks' count.
  const bool rate_limited = (reply.status == 403 || reply.status == 429) && reply.body.is_object() &&
                            reply.body.value("message", std::string()).find("rate limit") != std::string::npos;
  if (lost) {
    reply = Err(502, "Bad Gateway");
    if (*lost == Fault::kLostAnswerDrop) {
      DropConnection(req.local_port, req.remote_port);
      reply.status = 0;  // no answer at all
    }
  }
  if (!admin) {
    std::lock_guard lock(mu_);
    if (request_log_.size() < 100000) {
      std::string line = req.method + " " + path + " " + std::to_string(reply.status);
      if (lost) line += " (carried out: " + std::to_string(carried_out) + ", answer lost)";
      request_log_.push_back(line);
      // Whose request: the App's JWT (a "Bearer" that is no token of ours) or an installation token,
      // rather than a user's token. Decided from the header, so a faulted request counts too.
      std::string tok = auth.rfind("token ", 0) == 0 ? auth.substr(6) : auth.rfind("Bearer ", 0) == 0 ? auth.substr(7) : "";
      auto it = tokens_.find(tok);
      request_by_app_.push_back(it == tokens_.end() ? auth.rfind("Bearer ", 0) == 0 : it->second.installation_id != 0);
      request_rate_limited_.push_back(rate_limited);
    }
    if (lost) ++lost_answers_;
  }
  res.status = reply.status == 0 ? 502 : reply.status;  // a dropped connection sends nothing anyway
  for (const auto& [k, v] : reply.headers) res.set_header(k, v);
  res.set_header("X-GitHub-Media-Type", "github.v3; format=json");
  res.set_header("X-GitHub-Request-Id", "SIM:" + std::to_string(reply.status));
  if (!reply.raw.empty()) {
    res.set_content(reply.raw, "text/plain");
  } else if (!reply.body.is_null() && reply.status != 204 && reply.status != 304) {
    res.set_content(reply.body.dump(), "application/json; charset=utf-8");
  }
  if (record) {
    json query = json::object();
    for (const auto& [k, v] : req.params) query[k] = v;
    std::string scheme = auth_header.substr(0, auth_header.find(' '));
    Record({{"method", req.method},
            {"path", path},
            {"query", query},
            {"auth", scheme},
            {"content_type", req.get_header_value("Content-Type")},
            {"api_version", req.get_header_value("X-GitHub-Api-Version")},
            {"user_agent", req.get_header_value("User-Agent")},
            {"body", recorded_body},
            {"status", reply.status},
            {"fault", fault.has_value() || lost.has_value()},
            {"response", reply.raw.empty() ? reply.body : json(nullptr)}});
  }
}

void SimulatorImpl::RegisterRoutes() {
  (void)dummy;
  RegisterAdminWrites();
  RegisterRunnerRoutes();
  RegisterOidcRoutes();
  auto dispatch = [this](const httplib::Request& req, httplib::Response& res) { Dispatch(req, res); };
  // GHES: the API and the admin paths only, registered before git takes the rest of the host.
  const std::vector<std::string> patterns =
      opt_.ghes_layout ? std::vector<std::string>{std::string(kGhesApiPrefix) + "/.*", "/_sim/.*", "/_services/.*"}
                       : std::vector<std::string>{".*"};
  for (const auto& pattern : patterns) {
    server_->Get(pattern, dispatch);
    server_->Post(pattern, dispatch);
    server_->Patch(pattern, dispatch);
    server_->Put(pattern, dispatch);
    server_->Delete(pattern, dispatch);
  }

  // ----- App (JWT) -----
  Add("POST", R"(/app/installations/(\d+)/access_tokens)", Auth::kJwt, [this](Ctx& c) {
    int64_t id = c.N(1);
    if (!installations_.count(id)) return Err(404, "Not Found");
    sim::TokenRec t;
    t.token = NewToken("ghs_");
    t.installation_id = id;
    t.expires = clock_->Now() + opt_.token_lifetime;
    json all = {{"checks", "write"}, {"contents", "write"}, {"issues", "write"},
                {"metadata", "read"}, {"pull_requests", "write"}, {"actions", "write"}};
    // Narrowing (GitHub: a subset of the installation's repositories and of the App's permissions).
    if (c.body.is_object() && c.body.contains("repositories")) {
      if (!c.body["repositories"].is_array()) return Err(422, "Invalid request.\n\nFor 'properties/repositories', it is not an array.");
      for (const auto& name : c.body["repositories"]) {
        bool found = false;
        for (const auto& [full, rec] : repos_) {
          found = found || (name.is_string() && rec.installation_id == id && rec.name == name.get<std::string>());
        }
        if (!found) {
          return Err(422, "There is at least one repository that does not exist or is not accessible to the parent installation.");
        }
        t.repos.insert(name.get<std::string>());
      }
    }
    json granted = all;
    if (c.body.is_object() && c.body.contains("permissions")) {
      if (!c.body["permissions"].is_object()) return Err(422, "Invalid request.\n\nFor 'properties/permissions', it is not an object.");
      granted = json{{"metadata", "read"}};
      for (const auto& [k, v] : c.body["permissions"].items()) {
        const std::string level = v.is_string() ? v.get<std::string>() : "";
        if (!all.contains(k) || (level != "read" && level != "write") ||
            (level == "write" && all[k] == "read")) {
          return Err(422, "The permissions requested are not granted to this installation.");
        }
        granted[k] = level;
      }
      for (const auto& [k, v] : granted.items()) t.permissions[k] = v.get<std::string>();
    }
    tokens_[t.token] = t;
    Reply r;
    r.status = 201;
    r.body = {{"token", t.token},
              {"expires_at", Iso(t.expires)},
              {"permissions", granted},
              {"repository_selection", t.repos.empty() ? "all" : "selected"}};
    return r;
  });
  Add("GET", R"(/app)", Auth::kJwt, [this](Ctx&) {
    Reply r;
    r.body = render_.App(opt_.app_slug);
    r.body["id"] = opt_.app_id;
    return r;
  });
  // Users, the App's bot account among them ("<slug>[bot]", with the brackets percent-encoded).
  // The full public user, as GET /users/{username} and GET /user answer (more than the simple user
  // embedded in other objects).
  auto full_user = [this](const std::string& login) {
    json u = render_.User(login);
    for (const char* k : {"name", "company", "blog", "location", "email", "hireable", "bio"}) u[k] = nullptr;
    u["blog"] = "";
    for (const char* k : {"public_repos", "public_gists", "followers", "following"}) u[k] = 0;
    u["created_at"] = "2020-01-01T00:00:00Z";
    u["updated_at"] = "2020-01-01T00:00:00Z";
    return u;
  };
  Add("GET", R"(/users/([^/]+))", Auth::kNone, [full_user](Ctx& c) {  // public: anonymous or any token
    Reply r;
    r.body = full_user(httplib::detail::decode_url(c.m[1].str(), false));
    return r;
  });
  Add("GET", R"(/user)", Auth::kToken, [full_user](Ctx& c) {
    // GitHub: an installation token is no user ("Resource not accessible by integration").
    if (c.installation_id != 0) return Err(403, "Resource not accessible by integration");
    Reply r;
    r.body = full_user(c.actor);
    return r;
  });
  Add("GET", R"(/app/installations)", Auth::kJwt, [this](Ctx& c) {
    json items = json::array();
    for (const auto& [id, i] : installations_) items.push_back(render_.Installation(i, opt_.app_id, opt_.app_slug));
    return Page(c, items);
  });
  Add("GET", kRepo + "/installation", Auth::kJwt, [this](Ctx& c) {
    Reply r;
    r.body = render_.Installation(installations_[c.repo->installation_id], opt_.app_id, opt_.app_slug);
    return r;
  });
  auto delivery_json = [this](const sim::DeliveryRec& d) {
    return json{{"id", d.id},
                {"guid", d.guid},
                {"delivered_at", Iso(d.delivered_at)},
                {"redelivery", d.redelivery},
                {"duration", d.duration},
                {"status", d.status},
                {"status_code", d.status_code},
                {"event", d.event},
                {"action", d.action.empty() ? json(nullptr) : json(d.action)},
                {"installation_id", d.installation_id},
                {"repository_id", d.repository_id},
                {"throttled_at", nullptr}};
  };
  Add("GET", R"(/app/hook/deliveries)", Auth::kJwt, [this, delivery_json](Ctx& c) {
    int64_t per_page = std::clamp<int64_t>(std::atoll(c.Q("per_page", "30").c_str()), 1, 100);
    int64_t cursor = std::atoll(c.Q("cursor", "0").c_str());
    json items = json::array();
    int64_t last_id = 0;
    bool more = false;
    for (auto it = deliveries_.rbegin(); it != deliveries_.rend(); ++it) {  // newest first
      if (it->status == "pending") continue;
      if (cursor != 0 && it->id >= cursor) continue;
      if (static_cast<int64_t>(items.size()) == per_page) {
        more = true;
        break;
      }
      items.push_back(delivery_json(*it));
      last_id = it->id;
    }
    Reply r;
    r.body = items;
    if (more) {
      r.headers["Link"] = "<" + api_url() + "/app/hook/deliveries?per_page=" + std::to_string(per_page) +
                          "&cursor=" + std::to_string(last_id) + ">; rel=\"next\"";
    }
    return r;
  });
  Add("GET", R"(/app/hook/deliveries/(\d+))", Auth::kJwt, [this, delivery_json](Ctx& c) {
    for (const auto& d : deliveries_) {
      if (d.id != c.N(1)) continue;
      Reply r;
      r.body = delivery_json(d);
      r.body["url"] = opt_.webhook_url;
      r.body["request"] = {{"headers", {{"X-GitHub-Event", d.event}, {"X-GitHub-Delivery", d.guid}}},
                           {"payload", json::parse(d.payload)}};
      r.body["response"] = {{"headers", json::object()}, {"payload", nullptr}};
      return r;
    }
    return Err(404, "Not Found");
  });
  Add("POST", R"(/app/hook/deliveries/(\d+)/attempts)", Auth::kJwt, [this](Ctx& c) {
    for (size_t i = 0; i < deliveries_.size(); ++i) {
      if (deliveries_[i].id != c.N(1)) continue;
      sim::DeliveryRec d = deliveries_[i];
      d.id = next_delivery_id_++;
      d.redelivery = true;
      d.status = "pending";
      d.status_code = 0;
      d.drop = false;
      deliveries_.push_back(d);
      QueueDeliveryLocked(deliveries_.size() - 1);
      Reply r;
      r.status = 202;
      r.body = json::object();
      return r;
    }
    return Err(404, "Not Found");
  });

  // ----- Repositories -----
  Add("GET", kRepo, Auth::kToken, [this](Ctx& c) {
    Reply r;
    r.body = render_.Repo(*c.repo);
    r.body["permissions"] = {{"admin", false}, {"maintain", false}, {"push", true}, {"triage", true}, {"pull", true}};
    return r;
  });
  Add("GET", kRepo + R"(/collaborators/([^/]+)/permission)", Auth::kToken, [this](Ctx& c) {
    std::string user = c.m[3];
    std::string role = user == c.repo->owner ? "admin"
                       : c.repo->collaborators.count(user) ? c.repo->collaborators[user]
                                                          : "none";
    std::string permission = role == "maintain" ? "write" : role == "triage" ? "read" : role;
    Reply r;
    r.body = {{"permission", permission}, {"role_name", role}, {"user", render_.User(user)}};
    r.body["user"]["permissions"] = {{"admin", role == "admin"},
                                     {"maintain", role == "admin" || role == "maintain"},
                                     {"push", permission == "admin" || permission == "write"},
                                     {"triage", role != "read" && role != "none"},
                                     {"pull", role != "none"}};
    r.body["user"]["role_name"] = role;
    return r;
  });

  Add("GET", kRepo + R"(/contents/(.+))", Auth::kToken, [this](Ctx& c) {
    std::string path = c.m[3];
    std::string ref = c.Q("ref", c.repo->default_branch);
    int code = 0;
    auto type = Git(*c.repo, {"cat-file", "-t", ref + ":" + path}, "", &code);
    if (code != 0 || !type.ok()) return Err(404, "Not Found");
    std::string t = *type;
    while (!t.empty() && (t.back() == '\n' || t.back() == ' ')) t.pop_back();
    if (t != "blob") {
      Reply r = Err(422, "Validation Failed");  // the simulator serves files only
      return r;
    }
    // The blob's exact bytes (Git() trims trailing newlines, which are part of a file).
    auto blob_out = RunProcess({"git", "--git-dir=" + c.repo->git_dir, "cat-file", "blob", ref + ":" + path});
    auto sha = Git(*c.repo, {"rev-parse", ref + ":" + path}, "", &code);
    if (!blob_out.ok() || blob_out->exit_code != 0 || !sha.ok()) return Err(500, "Server Error");
    const std::string* bytes = &blob_out->output;
    std::string blob = *sha;
    while (!blob.empty() && blob.back() == '\n') blob.pop_back();
    // GitHub wraps the base64 content every 60 characters.
    std::string b64 = github::Base64Encode(*bytes), wrapped;
    for (size_t i = 0; i < b64.size(); i += 60) wrapped += b64.substr(i, 60) + "\n";
    std::string name = path.substr(path.rfind('/') == std::string::npos ? 0 : path.rfind('/') + 1);
    std::string api = render_.api() + "/repos/" + c.repo->owner + "/" + c.repo->name;
    std::string html = render_.api() + "/" + c.repo->owner + "/" + c.repo->name;
    Reply r;
    r.body = {{"type", "file"},
              {"encoding", "base64"},
              {"size", bytes->size()},
              {"name", name},
              {"path", path},
              {"content", wrapped},
              {"sha", blob},
              {"url", api + "/contents/" + path + "?ref=" + ref},
              {"git_url", api + "/git/blobs/" + blob},
              {"html_url", html + "/blob/" + ref + "/" + path},
              {"download_url", html + "/raw/" + ref + "/" + path},
              {"_links", {{"self", api + "/contents/" + path + "?ref=" + ref},
                          {"git", api + "/git/blobs/" + blob},
                          {"html", html + "/blob/" + ref + "/" + path}}}};
    return r;
  });

  // ----- Issues -----
  Add("GET", kRepo + "/issues", Auth::kToken, [this](Ctx& c) {
    std::string state = c.Q("state", "open");
    if (state != "open" && state != "closed" && state != "all") {
      Reply r = Err(422, "Validation Failed");
      r.body["errors"] = json::array({{{"resource", "Issue"}, {"field", "state"}, {"code", "invalid"}}});
      return r;
    }
    std::vector<std::string> want;
    std::string labels = c.Q("labels");
    for (size_t p = 0; !labels.empty() && p != std::string::npos;) {
      size_t q = labels.find(',', p);
      want.push_back(labels.substr(p, q == std::string::npos ? q : q - p));
      p = q == std::string::npos ? q : q + 1;
    }
    json items = json::array();
    for (auto it = c.repo->issues.rbegin(); it != c.repo->issues.rend(); ++it) {
      const sim::IssueRec& i = it->second;
      if (state != "all" && i.state != state) continue;
      bool ok = true;
      for (const auto& l : want) ok = ok && std::find(i.labels.begin(), i.labels.end(), l) != i.labels.end();
      if (ok) items.push_back(render_.Issue(*c.repo, i));
    }
    return Page(c, items);
  });
  auto issue_or_404 = [](Ctx& c, int64_t n) -> sim::IssueRec* {
    auto it = c.repo->issues.find(n);
    return it == c.repo->issues.end() ? nullptr : &it->second;
  };
  Add("GET", kRepo + R"(/issues/(\d+))", Auth::kToken, [this, issue_or_404](Ctx& c) {
    sim::IssueRec* i = issue_or_404(c, c.N(3));
    if (i == nullptr) return Err(404, "Not Found");
    Reply r;
    r.body = render_.Issue(*c.repo, *i);
    return r;
  });
  Add("PATCH", kRepo + R"(/issues/(\d+))", Auth::kToken, [this, issue_or_404](Ctx& c) {
    sim::IssueRec* i = issue_or_404(c, c.N(3));
    if (i == nullptr) return Err(404, "Not Found");
    const json& b = c.body;
    if (!b.is_object()) return Err(400, "Problems parsing JSON");
    if (b.contains("state") && b["state"] != "open" && b["state"] != "closed") {
      Reply r = Err(422, "Validation Failed");
      r.body["errors"] = json::array({{{"resource", "Issue"}, {"field", "state"}, {"code", "invalid"}}});
      return r;
    }
    if (auto too_long = TooLong("Issue", "body", b)) return *too_long;
    // issues.edited when the title or the body changed, with what they were.
    json changes = json::object();
    if (b.contains("title") && b["title"].is_string() && b["title"] != i->title) {
      changes["title"] = {{"from", i->title}};
      i->title = b["title"];
    }
    if (b.contains("body") && b["body"].is_string() && b["body"] != i->body) {
      changes["body"] = {{"from", i->body}};
      i->body = b["body"];
    }
    i->updated = clock_->Now();
    if (!changes.empty()) {
      EmitLocked(*c.repo, "issues", {{"action", "edited"}, {"changes", changes}, {"issue", render_.Issue(*c.repo, *i)}},
                 c.actor);
    }
    if (b.contains("labels") && b["labels"].is_array()) {
      std::vector<std::string> now;
      for (const auto& l : b["labels"]) now.push_back(l.is_string() ? l.get<std::string>() : l.value("name", ""));
      std::vector<std::string> old = i->labels;
      for (const auto& l : old) {
        if (std::find(now.begin(), now.end(), l) == now.end()) RemoveLabelLocked(*c.repo, i->number, l, c.actor);
      }
      for (const auto& l : now) AddLabelLocked(*c.repo, i->number, l, c.actor);
    }
    if (b.contains("state")) {
      SetIssueStateLocked(*c.repo, i->number, b["state"], b.value("state_reason", ""), c.actor);
    }
    Reply r;
    r.body = render_.Issue(*c.repo, *i);
    return r;
  });
  auto labels_json = [this](Ctx& c, const sim::IssueRec& i) {
    json out = json::array();
    for (const auto& l : i.labels) out.push_back(render_.Label(*c.repo, l));
    return out;
  };
  Add("POST", kRepo + R"(/issues/(\d+)/labels)", Auth::kToken, [this, issue_or_404, labels_json](Ctx& c) {
    sim::IssueRec* i = issue_or_404(c, c.N(3));
    if (i == nullptr) return Err(404, "Not Found");
    json list = c.body.is_array() ? c.body : c.body.value("labels", json::array());
    if (!list.is_array()) return Err(422, "Invalid request.\n\nFor 'links/0/schema', nil is not an array.");
    for (const auto& l : list) {
      std::string name = l.is_string() ? l.get<std::string>() : l.value("name", "");
      if (!name.empty()) AddLabelLocked(*c.repo, i->number, name, c.actor);
    }
    Reply r;
    r.body = labels_json(c, *i);
    return r;
  });
  Add("DELETE", kRepo + R"(/issues/(\d+)/labels/([^/]+))", Auth::kToken, [this, issue_or_404, labels_json](Ctx& c) {
    sim::IssueRec* i = issue_or_404(c, c.N(3));
    if (i == nullptr) return Err(404, "Not Found");
    std::string label = httplib::detail::decode_url(c.m[4].str(), false);
    if (!RemoveLabelLocked(*c.repo, i->number, label, c.actor)) return Err(404, "Label does not exist");
    Reply r;
    r.body = labels_json(c, *i);
    return r;
  });
  Add("GET", kRepo + R"(/issues/(\d+)/comments)", Auth::kToken, [this, issue_or_404](Ctx& c) {
    if (issue_or_404(c, c.N(3)) == nullptr) return Err(404, "Not Found");
    json items = json::array();
    for (const auto& [id, cm] : c.repo->comments) {
      if (cm.issue_number == c.N(3)) items.push_back(render_.Comment(*c.repo, cm));
    }
    return Page(c, items);
  });
  Add("POST", kRepo + R"(/issues/(\d+)/comments)", Auth::kToken, [this, issue_or_404](Ctx& c) {
    if (issue_or_404(c, c.N(3)) == nullptr) return Err(404, "Not Found");
    if (!c.body.is_object() || !c.body.contains("body") || !c.body["body"].is_string()) {
      Reply r = Err(422, "Invalid request.\n\n\"body\" wasn't supplied.");
      return r;
    }
    if (auto too_long = TooLong("IssueComment", "body", c.body)) return *too_long;
    int64_t id = NewCommentLocked(*c.repo, c.N(3), c.actor, c.body["body"]);
    Reply r;
    r.status = 201;
    r.body = render_.Comment(*c.repo, c.repo->comments[id]);
    r.headers["Location"] = r.body["url"];
    return r;
  });
  Add("PATCH", kRepo + R"(/issues/comments/(\d+))", Auth::kToken, [this](Ctx& c) {
    auto it = c.repo->comments.find(c.N(3));
    if (it == c.repo->comments.end()) return Err(404, "Not Found");
    if (!c.body.is_object() || !c.body.contains("body") || !c.body["body"].is_string()) {
      return Err(422, "Invalid request.\n\n\"body\" wasn't supplied.");
    }
    if (auto too_long = TooLong("IssueComment", "body", c.body)) return *too_long;
    it->second.body = c.body["body"];
    it->second.updated = clock_->Now();
    Reply r;
    r.body = render_.Comment(*c.repo, it->second);
    return r;
  });
  auto react = [this](Ctx& c, std::vector<sim::ReactionRec>& list) {
    static const std::set<std::string> kOk = {"+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes"};
    std::string content = c.body.is_object() ? c.body.value("content", "") : "";
    if (!kOk.count(content)) {
      Reply r = Err(422, "Validation Failed");
      r.body["errors"] = json::array({{{"resource", "Reaction"}, {"field", "content"}, {"code", "invalid"}}});
      return r;
    }
    for (const auto& x : list) {
      if (x.user == c.actor && x.content == content) {
        Reply r;
        r.body = render_.Reaction(x);
        return r;  // 200: already there
      }
    }
    list.push_back(sim::ReactionRec{next_id_++, content, c.actor});
    Reply r;
    r.status = 201;
    r.body = render_.Reaction(list.back());
    return r;
  };
  Add("POST", kRepo + R"(/issues/(\d+)/reactions)", Auth::kToken, [issue_or_404, react](Ctx& c) {
    sim::IssueRec* i = issue_or_404(c, c.N(3));
    if (i == nullptr) return Err(404, "Not Found");
    return react(c, i->reactions);
  });
  Add("POST", kRepo + R"(/issues/comments/(\d+)/reactions)", Auth::kToken, [react](Ctx& c) {
    auto it = c.repo->comments.find(c.N(3));
    if (it == c.repo->comments.end()) return Err(404, "Not Found");
    return react(c, it->second.reactions);
  });
  Add("GET", kRepo + R"(/issues/(\d+)/sub_issues)", Auth::kToken, [this, issue_or_404](Ctx& c) {
    sim::IssueRec* i = issue_or_404(c, c.N(3));
    if (i == nullptr) return Err(404, "Not Found");
    json items = json::array();
    for (int64_t n : i->sub_issues) items.push_back(render_.Issue(*c.repo, c.repo->issues[n]));
    return Page(c, items);
  });
  Add("GET", kRepo + R"(/issues/(\d+)/dependencies/blocked_by)", Auth::kToken, [this, issue_or_404](Ctx& c) {
    sim::IssueRec* i = issue_or_404(c, c.N(3));
    if (i == nullptr) return Err(404, "Not Found");
    json items = json::array();
    for (int64_t n : i->blocked_by) items.push_back(render_.Issue(*c.repo, c.repo->issues[n]));
    return Page(c, items);
  });

  // ----- Git refs -----
  auto ref_json = [this](Ctx& c, const std::string& ref, const std::string& sha) {
    std::string base = api_url() + "/repos/" + c.repo->FullName();
    return json{{"ref", ref},
                {"node_id", sim::NodeId("Ref", static_cast<int64_t>(std::hash<std::string>()(ref) % 1000000))},
                {"url", base + "/git/" + ref},
                {"object", {{"type", "commit"}, {"sha", sha}, {"url", base + "/git/commits/" + sha}}}};
  };
  Add("GET", kRepo + R"(/git/ref/(.+))", Auth::kToken, [this, ref_json](Ctx& c) {
    std::string ref = "refs/" + c.m[3].str();
    auto refs = ReadRefs(*c.repo);
    auto it = refs.find(ref);
    if (it == refs.end()) return Err(404, "Not Found");
    Reply r;
    r.body = ref_json(c, ref, it->second);
    return r;
  });
  // GET /compare/{base}...{head}: GitHub's commit comparison (counts, status, the commits head has that
  // base lacks). base and head are SHAs or branch names of this repository.
  Add("GET", kRepo + R"(/compare/(.+)\.\.\.(.+))", Auth::kToken, [this](Ctx& c) {
    int code = 0;
    auto resolve = [&](const std::string& name) -> std::string {
      auto sha = Git(*c.repo, {"rev-parse", "--verify", "--quiet", name + "^{commit}"}, "", &code);
      return sha.ok() && code == 0 ? *sha : "";
    };
    const std::string base = resolve(c.m[3].str()), head = resolve(c.m[4].str());
    if (base.empty() || head.empty()) return Err(404, "Not Found");
    auto merge_base = Git(*c.repo, {"merge-base", base, head}, "", &code);
    if (!merge_base.ok() || code != 0) return Err(404, "No common ancestor between " + base + " and " + head + ".");
    auto count = [&](const std::string& range) {
      auto n = Git(*c.repo, {"rev-list", "--count", range});
      return n.ok() ? std::atoll(n->c_str()) : 0LL;
    };
    const int64_t ahead = count(base + ".." + head), behind = count(head + ".." + base);
    const std::string url = api_url() + "/repos/" + c.repo->FullName();
    const std::string html = api_url() + "/" + c.repo->FullName();  // the simulator's web pages live with its API
    auto commit_json = [&](const std::string& sha) {
      auto f = Git(*c.repo, {"show", "-s", "--format=%P%x1f%an%x1f%ae%x1f%aI%x1f%cn%x1f%ce%x1f%cI%x1f%T%x1f%B", sha});
      std::vector<std::string> parts;
      std::string text = f.ok() ? *f : "";
      for (size_t at = 0;;) {
        size_t next = text.find('\x1f', at);
        parts.push_back(text.substr(at, next == std::string::npos ? std::string::npos : next - at));
        if (next == std::string::npos) break;
        at = next + 1;
      }
      parts.resize(9);
      json parents = json::array();
      for (size_t at = 0; at < parts[0].size();) {
        size_t next = parts[0].find(' ', at);
        std::string p = parts[0].substr(at, next == std::string::npos ? std::string::npos : next - at);
        if (!p.empty()) parents.push_back({{"sha", p}, {"url", url + "/commits/" + p}, {"html_url", html + "/commit/" + p}});
        if (next == std::string::npos) break;
        at = next + 1;
      }
      return json{{"url", url + "/commits/" + sha},
                  {"sha", sha},
                  {"node_id", sim::NodeId("Commit", static_cast<int64_t>(std::hash<std::string>()(sha) % 1000000))},
                  {"html_url", html + "/commit/" + sha},
                  {"comments_url", url + "/commits/" + sha + "/comments"},
                  {"commit", {{"author", {{"name", parts[1]}, {"email", parts[2]}, {"date", parts[3]}}},
                              {"committer", {{"name", parts[4]}, {"email", parts[5]}, {"date", parts[6]}}},
                              {"message", parts[8]},
                              {"tree", {{"sha", parts[7]}, {"url", url + "/git/trees/" + parts[7]}}},
                              {"url", url + "/git/commits/" + sha},
                              {"comment_count", 0}}},
                  {"author", nullptr},  // no GitHub account is matched to the simulator's commit emails
                  {"committer", nullptr},
                  {"parents", parents}};
    };
    // The commits head has and base lacks, oldest first, paged like GitHub (per_page up to 250).
    const int64_t per_page = std::clamp<int64_t>(std::atoll(c.Q("per_page", "250").c_str()), 1, 250);
    const int64_t page = std::max<int64_t>(1, std::atoll(c.Q("page", "1").c_str()));
    json commits = json::array();
    auto list = Git(*c.repo, {"rev-list", "--reverse", base + ".." + head});
    if (list.ok()) {
      int64_t i = 0;
      for (size_t at = 0; at < list->size();) {
        size_t next = list->find('\n', at);
        std::string sha = list->substr(at, next == std::string::npos ? std::string::npos : next - at);
        if (!sha.empty() && i >= (page - 1) * per_page && i < page * per_page) commits.push_back(commit_json(sha));
        if (!sha.empty()) ++i;
        if (next == std::string::npos) break;
        at = next + 1;
      }
    }
    // The files (on the first page only, at most 300, as GitHub), from the merge base to head.
    json files = json::array();
    if (page == 1) {
      auto raw = Git(*c.repo, {"diff", "--raw", "-z", "-M", "--no-abbrev", *merge_base, head});
      auto num = Git(*c.repo, {"diff", "--numstat", "-z", "-M", *merge_base, head});
      std::vector<std::string> rf, nf;  // NUL-separated fields
      for (auto [text, out] : {std::pair{&raw, &rf}, std::pair{&num, &nf}}) {
        if (!text->ok()) continue;
        for (size_t at = 0; at < (*text)->size();) {
          size_t next = (*text)->find('\0', at);
          out->push_back((*text)->substr(at, next == std::string::npos ? std::string::npos : next - at));
          if (next == std::string::npos) break;
          at = next + 1;
        }
      }
      size_t ni = 0;
      for (size_t i = 0; i < rf.size() && files.size() < 300; ++i) {
        // ":<mode> <mode> <sha> <sha> <status>" then the path (two paths for a rename or copy).
        const std::string& meta = rf[i];
        if (meta.empty() || meta[0] != ':') continue;
        const char st = meta.back() >= 'A' && meta.back() <= 'Z' ? meta.back() : meta[meta.rfind(' ') + 1];
        const std::string blob = meta.size() > 56 ? meta.substr(meta.find(' ', meta.find(' ', meta.find(' ') + 1) + 1) + 1, 40) : "";
        std::string old_path, path = i + 1 < rf.size() ? rf[++i] : "";
        if ((st == 'R' || st == 'C') && i + 1 < rf.size()) old_path = path, path = rf[++i];
        // numstat: "<added>\t<deleted>\t<path>", or "<added>\t<deleted>\t" then both paths.
        int64_t added = 0, deleted = 0;
        if (ni < nf.size()) {
          const std::string& n = nf[ni];
          added = std::atoll(n.c_str());
          deleted = std::atoll(n.c_str() + std::min(n.size(), n.find('\t') + 1));
          ni += n.back() == '\t' ? 3 : 1;
        }
        const std::string status = st == 'A' ? "added" : st == 'D' ? "removed" : st == 'R' ? "renamed" : st == 'C' ? "copied" : "modified";
        json f = {{"sha", st == 'D' ? std::string(40, '0') : blob},
                  {"filename", path},
                  {"status", status},
                  {"additions", added},
                  {"deletions", deleted},
                  {"changes", added + deleted},
                  {"blob_url", html + "/blob/" + head + "/" + path},
                  {"raw_url", html + "/raw/" + head + "/" + path},
                  {"contents_url", url + "/contents/" + path + "?ref=" + head}};
        if (!old_path.empty()) f["previous_filename"] = old_path;
        files.push_back(std::move(f));
      }
    }
    Reply r;
    r.body = {{"url", url + "/compare/" + base + "..." + head},
              {"html_url", html + "/compare/" + base + "..." + head},
              {"permalink_url", html + "/compare/" + base.substr(0, 7) + "..." + head.substr(0, 7)},
              {"diff_url", html + "/compare/" + base + "..." + head + ".diff"},
              {"patch_url", html + "/compare/" + base + "..." + head + ".patch"},
              {"base_commit", commit_json(base)},
              {"merge_base_commit", commit_json(*merge_base)},
              {"status", ahead == 0 && behind == 0 ? "identical" : behind == 0 ? "ahead" : ahead == 0 ? "behind" : "diverged"},
              {"ahead_by", ahead},
              {"behind_by", behind},
              {"total_commits", ahead},
              {"commits", commits},
              {"files", files}};
    return r;
  });
  Add("POST", kRepo + R"(/git/refs)", Auth::kToken, [this, ref_json](Ctx& c) {
    if (!c.body.is_object() || !c.body.contains("ref") || !c.body.contains("sha")) {
      return Err(422, "Invalid request.\n\n\"ref\", \"sha\" weren't supplied.");
    }
    std::string ref = c.body["ref"];
    std::string sha = c.body["sha"];
    if (ref.rfind("refs/", 0) != 0 || std::count(ref.begin(), ref.end(), '/') < 2) {
      return Err(422, "Reference name must start with 'refs/' and have at least two slashes.");
    }
    if (!sim::HasCommit(c.repo->git_dir, sha)) return Err(422, "Object does not exist");
    if (ReadRefs(*c.repo).count(ref)) return Err(422, "Reference already exists");
    auto st = Git(*c.repo, {"update-ref", ref, sha, ""});
    if (!st.ok()) return Err(422, "Reference cannot be created");
    RefsChangedLocked(*c.repo, c.actor);
    Reply r;
    r.status = 201;
    r.body = ref_json(c, ref, sha);
    return r;
  });
  Add("PATCH", kRepo + R"(/git/refs/(.+))", Auth::kToken, [this, ref_json](Ctx& c) {
    std::string ref = "refs/" + c.m[3].str();
    if (!c.body.is_object() || !c.body.contains("sha") || !c.body["sha"].is_string()) {
      return Err(422, "Invalid request.\n\n\"sha\" wasn't supplied.");
    }
    std::string sha = c.body["sha"];
    bool force = c.body.value("force", false);
    auto refs = ReadRefs(*c.repo);
    if (!refs.count(ref)) return Err(422, "Reference does not exist");
    if (!sim::HasCommit(c.repo->git_dir, sha)) return Err(422, "Object does not exist");
    if (!force) {
      if (!IsAncestorOk(IsAncestor(*c.repo, refs[ref], sha))) return Err(422, "Update is not a fast forward");
    }
    auto st = Git(*c.repo, {"update-ref", ref, sha});
    if (!st.ok()) return Err(422, "Reference update failed");
    RefsChangedLocked(*c.repo, c.actor);
    Reply r;
    r.body = ref_json(c, ref, sha);
    return r;
  });

  // ----- Pull requests -----
  Add("POST", kRepo + R"(/pulls)", Auth::kToken, [this](Ctx& c) {
    const json& b = c.body;
    if (!b.is_object() || !b.contains("head") || !b.contains("base") || !b["head"].is_string() ||
        !b["base"].is_string()) {
      return Err(422, "Invalid request.\n\n\"head\", \"base\" weren't supplied.");
    }
    std::string head = b["head"];
    if (head.find(':') != std::string::npos) head = head.substr(head.find(':') + 1);
    std::string base = b["base"];
    auto refs = ReadRefs(*c.repo);
    auto invalid = [](const char* field) {
      Reply r = Err(422, "Validation Failed");
      r.body["errors"] = json::array({{{"resource", "PullRequest"}, {"field", field}, {"code", "invalid"}}});
      return r;
    };
    if (auto too_long = TooLong("PullRequest", "title", b)) return *too_long;
    if (auto too_long = TooLong("PullRequest", "body", b)) return *too_long;
    if (!refs.count("refs/heads/" + head)) return invalid("head");
    if (!refs.count("refs/heads/" + base)) return invalid("base");
    for (const auto& [n, p] : c.repo->pulls) {
      if (p.head_ref == head && p.base_ref == base && c.repo->issues[n].state == "open") {
        Reply r = Err(422, "Validation Failed");
        r.body["errors"] = json::array({{{"resource", "PullRequest"},
                                         {"code", "custom"},
                                         {"message", "A pull request already exists for " + c.repo->owner + ":" + head +
                                                         "."}}});
        return r;
      }
    }
    // GitHub refuses a PR whose head is already contained in its base (e.g. one merged before).
    const int contained = IsAncestor(*c.repo, refs["refs/heads/" + head], refs["refs/heads/" + base]);
    if (IsAncestorOk(contained)) {
      Reply r = Err(422, "Validation Failed");
      r.body["errors"] = json::array({{{"resource", "PullRequest"},
                                       {"code", "custom"},
                                       {"message", "No commits between " + base + " and " + head}}});
      return r;
    }
    int64_t n = NewIssueLocked(*c.repo, c.actor, b.value("title", head), b.value("body", ""), {}, true);
    sim::PullRec p;
    p.number = n;
    p.id = next_id_++;
    p.head_ref = head;
    p.head_sha = refs["refs/heads/" + head];
    p.base_ref = base;
    p.base_sha = refs["refs/heads/" + base];
    p.draft = b.value("draft", false);
    MergeabilityStaleLocked(p);
    c.repo->pulls[n] = p;
    json pr = PullJsonLocked(*c.repo, n);
    EmitLocked(*c.repo, "pull_request", {{"action", "opened"}, {"number", n}, {"pull_request", pr}}, c.actor);
    StartCiLocked(*c.repo, head, p.head_sha, {n});
    Reply r;
    r.status = 201;
    r.body = pr;
    r.headers["Location"] = pr["url"];
    return r;
  });
  Add("GET", kRepo + R"(/pulls)", Auth::kToken, [this](Ctx& c) {
    std::string state = c.Q("state", "open");
    std::string head = c.Q("head");
    std::string base = c.Q("base");
    json items = json::array();
    for (auto it = c.repo->pulls.rbegin(); it != c.repo->pulls.rend(); ++it) {
      const sim::PullRec& p = it->second;
      const sim::IssueRec& i = c.repo->issues[p.number];
      if (state != "all" && i.state != state) continue;
      if (!head.empty() && head != c.repo->owner + ":" + p.head_ref) continue;
      if (!base.empty() && base != p.base_ref) continue;
      json pr = render_.Pull(*c.repo, i, p, nullptr, "unknown");
      // The list omits the mergeability fields, as GitHub's pull-request-simple does.
      for (const char* k : {"mergeable", "rebaseable", "mergeable_state", "merged", "merged_by", "comments",
                            "review_comments", "maintainer_can_modify", "commits", "additions", "deletions",
                            "changed_files"}) {
        pr.erase(k);
      }
      items.push_back(pr);
    }
    return Page(c, items);
  });
  Add("GET", kRepo + R"(/pulls/(\d+))", Auth::kToken, [this](Ctx& c) {
    if (!c.repo->pulls.count(c.N(3))) return Err(404, "Not Found");
    Reply r;
    r.body = PullJsonLocked(*c.repo, c.N(3));
    return r;
  });
  Add("PATCH", kRepo + R"(/pulls/(\d+))", Auth::kToken, [this](Ctx& c) {
    if (!c.repo->pulls.count(c.N(3))) return Err(404, "Not Found");
    sim::IssueRec& i = c.repo->issues[c.N(3)];
    sim::PullRec& p = c.repo->pulls[c.N(3)];
    const json& b = c.body;
    if (auto too_long = TooLong("PullRequest", "title", b)) return *too_long;
    if (auto too_long = TooLong("PullRequest", "body", b)) return *too_long;
    // pull_request.edited when the title, the body or the base changed, with what they were.
    json changes = json::object();
    if (b.contains("title") && b["title"].is_string() && b["title"] != i.title) {
      changes["title"] = {{"from", i.title}};
      i.title = b["title"];
    }
    if (b.contains("body") && b["body"].is_string() && b["body"] != i.body) {
      changes["body"] = {{"from", i.body}};
      i.body = b["body"];
    }
    if (b.contains("base") && b["base"].is_string() && b["base"] != p.base_ref) {
      changes["base"] = {{"ref", {{"from", p.base_ref}}}, {"sha", {{"from", p.base_sha}}}};
    }
    if (b.contains("base") && b["base"].is_string()) {
      auto refs = ReadRefs(*c.repo);
      std::string base = b["base"];
      if (!refs.count("refs/heads/" + base)) {
        Reply r = Err(422, "Validation Failed");
        r.body["errors"] = json::array({{{"resource", "PullRequest"}, {"field", "base"}, {"code", "invalid"}}});
        return r;
      }
      if (p.base_ref != base) MergeabilityStaleLocked(p);
      p.base_ref = base;
      p.base_sha = refs["refs/heads/" + base];
    }
    i.updated = clock_->Now();
    if (!changes.empty()) {
      EmitLocked(*c.repo, "pull_request",
                 {{"action", "edited"}, {"number", i.number}, {"changes", changes},
                  {"pull_request", PullJsonLocked(*c.repo, i.number)}},
                 c.actor);
    }
    if (b.contains("state") && b["state"].is_string()) {
      SetIssueStateLocked(*c.repo, i.number, b["state"], "", c.actor);
    }
    Reply r;
    r.body = PullJsonLocked(*c.repo, c.N(3));
    return r;
  });
  Add("PUT", kRepo + R"(/pulls/(\d+)/merge)", Auth::kToken, [this](Ctx& c) {
    if (!c.repo->pulls.count(c.N(3))) return Err(404, "Not Found");
    sim::PullRec& p = c.repo->pulls[c.N(3)];
    if (p.merged || c.repo->issues[p.number].state != "open") return Err(405, "Pull Request is not mergeable");
    std::string method = c.body.is_object() ? c.body.value("merge_method", "merge") : "merge";
    if (method != "merge" && method != "squash") return Err(405, "Merge method " + method + " is not allowed");
    if (c.body.is_object() && c.body.contains("sha") && c.body["sha"] != p.head_sha) {
      return Err(409, "Head branch was modified. Review and try the merge again.");
    }
    auto sha = MergeLocked(*c.repo, p.number, c.actor, method,
                           c.body.is_object() ? c.body.value("commit_title", "") : "",
                           c.body.is_object() ? c.body.value("commit_message", "") : "");
    if (!sha.ok()) return Err(405, sha.error().message());
    Reply r;
    r.body = {{"sha", *sha}, {"merged", true}, {"message", "Pull Request successfully merged"}};
    return r;
  });

  // ----- Checks -----
  auto apply_check = [this](Ctx& c, sim::CheckRunRec& cr) -> std::optional<Reply> {
    const json& b = c.body;
    static const std::set<std::string> kStatus = {"queued", "in_progress", "completed", "waiting", "requested",
                                                  "pending"};
    static const std::set<std::string> kConclusion = {"action_required", "cancelled", "failure", "neutral",
                                                      "success", "skipped", "stale", "timed_out"};
    if (b.contains("status") && (!b["status"].is_string() || !kStatus.count(b["status"]))) {
      return Err(422, "Invalid request.\n\nFor 'properties/status', \"" + b["status"].dump() + "\" is not a member of enum.");
    }
    if (b.contains("conclusion") && (!b["conclusion"].is_string() || !kConclusion.count(b["conclusion"]))) {
      return Err(422, "Invalid request.\n\nFor 'properties/conclusion', " + b["conclusion"].dump() +
                          " is not a member of enum.");
    }
    if (b.contains("name") && b["name"].is_string()) cr.name = b["name"];
    if (b.contains("status")) cr.status = b["status"];
    if (b.contains("conclusion")) {
      cr.conclusion = b["conclusion"];
      cr.status = "completed";
    }
    if (cr.status == "completed" && cr.conclusion.empty()) {
      return Err(422, "Invalid request.\n\nNo subschema in \"anyOf\" matched.\n\"conclusion\" wasn't supplied.");
    }
    if (cr.status == "completed" && !cr.completed) cr.completed = clock_->Now();
    if (b.contains("external_id") && b["external_id"].is_string()) cr.external_id = b["external_id"];
    if (b.contains("details_url") && b["details_url"].is_string()) cr.details_url = b["details_url"];
    if (b.contains("output") && b["output"].is_object()) {
      const json& o = b["output"];
      if (!o.contains("title") || !o.contains("summary")) {
        return Err(422, "Invalid request.\n\n\"summary\", \"title\" weren't supplied.");
      }
      cr.output.title = o.value("title", "");
      cr.output.summary = o.value("summary", "");
      cr.output.text = o.value("text", "");
    }
    return std::nullopt;
  };
  Add("POST", kRepo + R"(/check-runs)", Auth::kToken, [this, apply_check](Ctx& c) {
    if (c.installation_id == 0) return Err(403, "You must authenticate via a GitHub App.");
    if (!c.body.is_object() || !c.body.contains("name") || !c.body.contains("head_sha")) {
      return Err(422, "Invalid request.\n\n\"name\", \"head_sha\" weren't supplied.");
    }
    std::string sha = c.body["head_sha"];
    if (!sim::HasCommit(c.repo->git_dir, sha)) {
      Reply r = Err(422, "No commit found for SHA: " + sha);
      return r;
    }
    sim::CheckRunRec cr;
    cr.id = next_id_++;
    cr.head_sha = sha;
    cr.app_slug = opt_.app_slug;
    cr.started = clock_->Now();
    if (auto err = apply_check(c, cr)) return *err;
    // The App's check suite for this commit.
    int64_t suite = 0;
    for (const auto& [id, s] : c.repo->suites) {
      if (s.head_sha == sha && s.app_slug == opt_.app_slug) suite = id;
    }
    if (suite == 0) {
      sim::CheckSuiteRec s;
      s.id = next_id_++;
      s.head_sha = sha;
      s.app_slug = opt_.app_slug;
      s.created = s.updated = clock_->Now();
      c.repo->suites[s.id] = s;
      suite = s.id;
    }
    cr.suite_id = suite;
    c.repo->check_runs[cr.id] = cr;
    Reply r;
    r.status = 201;
    r.body = render_.CheckRun(*c.repo, cr);
    // As on GitHub, the check run's own events go to the App too: "created", and "completed" when it
    // was created completed.
    EmitCheckRunLocked(*c.repo, cr, "created", c.actor);
    if (cr.status == "completed") EmitCheckRunLocked(*c.repo, cr, "completed", c.actor);
    return r;
  });
  Add("PATCH", kRepo + R"(/check-runs/(\d+))", Auth::kToken, [this, apply_check](Ctx& c) {
    auto it = c.repo->check_runs.find(c.N(3));
    if (it == c.repo->check_runs.end()) return Err(404, "Not Found");
    if (c.installation_id == 0) return Err(403, "You must authenticate via a GitHub App.");
    sim::CheckRunRec copy = it->second;
    if (auto err = apply_check(c, copy)) return *err;
    const bool completes = copy.status == "completed" && it->second.status != "completed";
    it->second = copy;
    Reply r;
    r.body = render_.CheckRun(*c.repo, copy);
    if (completes) EmitCheckRunLocked(*c.repo, copy, "completed", c.actor);
    return r;
  });
  Add("GET", kRepo + R"(/check-runs/(\d+)/annotations)", Auth::kToken, [this](Ctx& c) {
    auto it = c.repo->check_runs.find(c.N(3));
    if (it == c.repo->check_runs.end()) return Err(404, "Not Found");
    json items = json::array();
    const std::string blob = render_.api() + "/" + c.repo->FullName() + "/blob/" + it->second.head_sha + "/";
    for (const auto& a : it->second.output.annotations) {
      items.push_back({{"path", a.path},
                       {"start_line", a.line},
                       {"end_line", a.line},
                       {"start_column", nullptr},
                       {"end_column", nullptr},
                       {"annotation_level", a.level},
                       {"title", a.title.empty() ? json(nullptr) : json(a.title)},
                       {"message", a.message},
                       {"raw_details", nullptr},
                       {"blob_href", blob + a.path}});
    }
    return Page(c, items);
  });
  Add("GET", kRepo + R"(/commits/([^/]+)/check-runs)", Auth::kToken, [this](Ctx& c) {
    std::string ref = httplib::detail::decode_url(c.m[3].str(), false);
    auto refs = ReadRefs(*c.repo);
    std::string sha = refs.count("refs/heads/" + ref) ? refs["refs/heads/" + ref] : ref;
    std::string name = c.Q("check_name");
    json items = json::array();
    for (auto it = c.repo->check_runs.rbegin(); it != c.repo->check_runs.rend(); ++it) {
      if (it->second.head_sha != sha) continue;
      if (!name.empty() && it->second.name != name) continue;
      items.push_back(render_.CheckRun(*c.repo, it->second));
    }
    return Page(c, items, "check_runs");
  });

  // ----- Actions -----
  Add("GET", kRepo + R"(/actions/runs)", Auth::kToken, [this](Ctx& c) {
    json items = json::array();
    for (auto it = c.repo->runs.rbegin(); it != c.repo->runs.rend(); ++it) {
      const sim::RunRec& w = it->second;
      if (!c.Q("head_sha").empty() && w.head_sha != c.Q("head_sha")) continue;
      if (!c.Q("branch").empty() && w.head_branch != c.Q("branch")) continue;
      if (!c.Q("event").empty() && w.event != c.Q("event")) continue;
      std::string st = c.Q("status");
      if (!st.empty() && w.status != st && w.conclusion != st) continue;
      items.push_back(render_.Run(*c.repo, w));
    }
    return Page(c, items, "workflow_runs");
  });
  Add("GET", kRepo + R"(/actions/runs/(\d+))", Auth::kToken, [this](Ctx& c) {
    auto it = c.repo->runs.find(c.N(3));
    if (it == c.repo->runs.end()) return Err(404, "Not Found");
    Reply r;
    r.body = render_.Run(*c.repo, it->second);
    return r;
  });
  Add("GET", kRepo + R"(/actions/runs/(\d+)/jobs)", Auth::kToken, [this](Ctx& c) {
    auto it = c.repo->runs.find(c.N(3));
    if (it == c.repo->runs.end()) return Err(404, "Not Found");
    json items = json::array();
    for (int64_t jid : it->second.jobs) items.push_back(render_.Job(*c.repo, c.repo->jobs[jid]));
    return Page(c, items, "jobs");
  });
  Add("GET", kRepo + R"(/actions/jobs/(\d+)/logs)", Auth::kToken, [this](Ctx& c) {
    auto it = c.repo->jobs.find(c.N(3));
    if (it == c.repo->jobs.end()) return Err(404, "Not Found");
    if (it->second.status != "completed") return Err(404, "Not Found");
    int64_t expires = Unix(clock_->Now()) + 60;
    std::string sig = github::HubSignature256(key_->PublicPem(), std::to_string(it->first) + ":" +
                                                                     std::to_string(expires)).substr(7, 32);
    Reply r;
    r.status = 302;
    r.body = nullptr;
    r.headers["Location"] = api_url() + "/_sim/blobs/job-logs/" + c.repo->FullName() + "/" +
                            std::to_string(it->first) + "?se=" + std::to_string(expires) + "&sig=" + sig;
    return r;
  });
  Add("POST", kRepo + R"(/actions/workflows/([^/]+)/dispatches)", Auth::kToken, [this](Ctx& c) {
    return DispatchWorkflowLocked(*c.repo, c.m[3].str(), c.body, c.actor);
  });

  // ----- Pre-signed job log blobs (not part of the API: what the 302 points at) -----
  Add("GET", R"(/_sim/blobs/job-logs/([^/]+)/([^/]+)/(\d+))", Auth::kNone, [this](Ctx& c) {
    if (!c.req.get_header_value("Authorization").empty()) {
      return Err(400, "Authentication information is not given in the correct format: a pre-signed URL takes no "
                      "Authorization header");
    }
    if (std::atoll(c.Q("se", "0").c_str()) < Unix(clock_->Now())) return Err(403, "Signature expired");
    sim::RepoRec* r = FindRepoLocked(RepoRef{c.m[1].str(), c.m[2].str()});
    if (r == nullptr || !r->jobs.count(c.N(3))) return Err(404, "Not Found");
    Reply rep;
    rep.raw = r->jobs[c.N(3)].log.empty() ? std::string("\n") : r->jobs[c.N(3)].log;
    return rep;
  });

  // ----- Admin API -----
  auto unlock_call = [](auto fn) { return fn(); };
  (void)unlock_call;
  Add("GET", R"(/_sim/app)", Auth::kNone, [this](Ctx&) {
    Reply r;
    r.body = {{"app_id", opt_.app_id}, {"app_slug", opt_.app_slug}, {"private_key_pem", key_->PrivatePem()},
              {"api_url", api_url()}};
    return r;
  });
  Add("GET", R"(/_sim/deliveries)", Auth::kNone, [this](Ctx&) {
    Reply r;
    r.body = json::array();
    for (const auto& d : DeliveriesLocked()) {
      r.body.push_back({{"id", d.id}, {"guid", d.guid}, {"event", d.event}, {"action", d.action},
                        {"status_code", d.status_code}, {"status", d.status}, {"redelivery", d.redelivery}});
    }
    return r;
  });
}


// Admin writes call the public scripting methods, which take mu_ themselves, so they are plain httplib
// handlers registered before the catch-all dispatcher.
void SimulatorImpl::RegisterAdminWrites() {
  auto handle = [this](const char* path, std::function<Result<json>(const json&)> fn) {
    server_->Post(path, [fn](const httplib::Request& req, httplib::Response& res) {
      json b = json::parse(req.body, nullptr, false);
      if (b.is_discarded() || !b.is_object()) {
        res.status = 400;
        res.set_content(R"({"message":"Problems parsing JSON"})", "application/json");
        return;
      }
      Result<json> out = Error(ErrorCode::kInternal, "");
      try {
        out = fn(b);
      } catch (const std::exception& e) {
        out = Error(ErrorCode::kInvalidArgument, std::string("bad request: ") + e.what());
      }
      if (!out.ok()) {
        res.status = out.error().code() == ErrorCode::kNotFound ? 404 : 422;
        res.set_content(json{{"message", out.error().message()}}.dump(), "application/json");
        return;
      }
      res.status = 201;
      res.set_content(out->dump(), "application/json");
    });
  };
  auto repo_of = [](const json& b) { return RepoRef{b.at("owner").get<std::string>(), b.at("repo").get<std::string>()}; };
  handle("/_sim/repos", [this](const json& b) -> Result<json> {
    NewRepo spec;
    spec.default_branch = b.value("default_branch", "main");
    if (b.contains("files")) spec.files = b["files"].get<std::map<std::string, std::string>>();
    WAVEBOT_RETURN_IF_ERROR(CreateRepo(RepoRef{b.at("owner"), b.at("name")}, spec));
    return json{{"clone_url", git_url(RepoRef{b.at("owner"), b.at("name")})}};
  });
  handle("/_sim/collaborators", [this, repo_of](const json& b) -> Result<json> {
    WAVEBOT_RETURN_IF_ERROR(SetCollaborator(repo_of(b), b.at("login"), b.value("role", "write")));
    return json::object();
  });
  handle("/_sim/tokens", [this](const json& b) -> Result<json> {
    auto t = CreateUserToken(b.at("login"));
    if (!t.ok()) return t.error();
    return json{{"token", *t}};
  });
  handle("/_sim/issues", [this, repo_of](const json& b) -> Result<json> {
    auto n = CreateIssue(repo_of(b), b.at("user"), b.at("title"), b.value("body", ""),
                         b.value("labels", std::vector<std::string>{}));
    if (!n.ok()) return n.error();
    return json{{"number", *n}};
  });
  handle("/_sim/comments", [this, repo_of](const json& b) -> Result<json> {
    auto id = CreateComment(repo_of(b), b.at("number").get<int64_t>(), b.at("user"), b.at("body"));
    if (!id.ok()) return id.error();
    return json{{"id", *id}};
  });
  handle("/_sim/labels", [this, repo_of](const json& b) -> Result<json> {
    if (b.value("remove", false)) {
      WAVEBOT_RETURN_IF_ERROR(RemoveLabel(repo_of(b), b.at("number").get<int64_t>(), b.at("label"), b.at("user")));
    } else {
      WAVEBOT_RETURN_IF_ERROR(AddLabel(repo_of(b), b.at("number").get<int64_t>(), b.at("label"), b.at("user")));
    }
    return json::object();
  });
  handle("/_sim/sub_issues", [this, repo_of](const json& b) -> Result<json> {
    WAVEBOT_RETURN_IF_ERROR(AddSubIssue(repo_of(b), b.at("parent").get<int64_t>(), b.at("child").get<int64_t>()));
    return json::object();
  });
  handle("/_sim/blocked_by", [this, repo_of](const json& b) -> Result<json> {
    WAVEBOT_RETURN_IF_ERROR(AddBlockedBy(repo_of(b), b.at("blocked").get<int64_t>(), b.at("blocker").get<int64_t>()));
    return json::object();
  });
  handle("/_sim/reviews", [this, repo_of](const json& b) -> Result<json> {
    std::vector<std::pair<std::string, std::string>> comments;
    for (const auto& c : b.value("comments", json::array())) comments.emplace_back(c.at("path"), c.at("body"));
    auto id = SubmitReview(repo_of(b), b.at("number").get<int64_t>(), b.at("user"), b.at("state"),
                           b.value("body", ""), comments);
    if (!id.ok()) return id.error();
    return json{{"id", *id}};
  });
  handle("/_sim/merges", [this, repo_of](const json& b) -> Result<json> {
    auto sha = MergePull(repo_of(b), b.at("number").get<int64_t>(), b.at("user"), b.value("method", "merge"));
    if (!sha.ok()) return sha.error();
    return json{{"sha", *sha}};
  });
  handle("/_sim/commits", [this, repo_of](const json& b) -> Result<json> {
    auto sha = CommitFiles(repo_of(b), b.at("branch"), b.at("files").get<std::map<std::string, std::string>>(),
                           b.value("message", "update"), b.at("user"));
    if (!sha.ok()) return sha.error();
    return json{{"sha", *sha}};
  });
  handle("/_sim/faults", [this](const json& b) -> Result<json> {
    FaultConfig f;
    f.server_error_fraction = b.value("server_error_fraction", 0.0);
    f.secondary_limit_fraction = b.value("secondary_limit_fraction", 0.0);
    f.retry_after_seconds = b.value("retry_after_seconds", 1);
    f.latency = std::chrono::milliseconds(b.value("latency_ms", 0));
    f.drop_webhook_fraction = b.value("drop_webhook_fraction", 0.0);
    f.lost_answer_fraction = b.value("lost_answer_fraction", 0.0);
    SetFaultConfig(f);
    return json::object();
  });
}

}  // namespace wavebot::sandbox
