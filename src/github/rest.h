// The REST layer under the typed client: one call = one logical request, with authentication,
// conditional requests (ETags), rate-limit handling, retries with jittered backoff and an overall
// deadline. Every wait goes through the injected Clock, so tests assert waits without sleeping.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "common/result.h"
#include "github/client.h"
#include "github/types.h"
#include "github/write_budget.h"

namespace wavebot {
class Clock;
class StopSignal;
}

namespace wavebot::github {

class PrivateKey;

struct HttpResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // keys lower-case
  std::string body;
  std::string Header(const std::string& lower_name) const {
    auto it = headers.find(lower_name);
    return it == headers.end() ? std::string() : it->second;
  }
};

struct HttpRequest {
  std::string method = "GET";
  std::string url;  // absolute: "http://127.0.0.1:8080/repos/a/b"
  std::map<std::string, std::string> headers;
  std::string body;
  // Send on a new connection, never a kept-alive one. libcurl sends a request again when a reused
  // connection dies before any answer: right for reads, wrong for a write that is not idempotent (the
  // server may have carried it out and closed without answering).
  bool fresh_connection = false;
};

// One HTTP exchange. Implementations must be thread-safe. Redirects are NOT followed.
class Transport {
 public:
  virtual ~Transport() = default;
  // Any answer, whatever its status, is a value. No answer is an error: kUnavailable (connection or
  // transfer failed), kCancelled (the stop signal fired), kInvalidArgument (not an http(s) URL). On
  // error `*may_have_landed` (never null) says whether the request may have reached the server.
  virtual Result<HttpResponse> Send(const HttpRequest& request, bool* may_have_landed) = 0;
};

struct TransportOptions {
  std::chrono::seconds connect_timeout{10};
  std::chrono::seconds stall_timeout{60};   // less than a byte a second for this long ends a transfer
  std::chrono::seconds total_timeout{300};  // one exchange, however slow its bytes
  std::string ca_bundle;                    // PEM file of trusted CAs; empty: the system's
  const StopSignal* stop = nullptr;         // aborts transfers in flight; not owned
};

// The libcurl transport (https with certificate verification, HTTP/2 when offered, HTTPS_PROXY and
// NO_PROXY from the environment; plain http for loopback).
std::unique_ptr<Transport> NewCurlTransport(TransportOptions options);
// libcurl's version line ("libcurl/7.88.1 OpenSSL/3.0.15 zlib/... nghttp2/..."), for doctor and logs.
std::string CurlVersion();

enum class AuthMode {
  kInstallation,  // installation token of the repository's installation (or the PAT)
  kApp,           // the App's JWT
  kNone,          // no Authorization header (pre-signed URLs)
};

struct RestRequest {
  std::string method = "GET";
  std::string path;  // "/repos/o/r/issues?state=all" or an absolute URL (pagination links)
  std::string body;  // JSON, empty for none
  AuthMode auth = AuthMode::kInstallation;
  RepoRef repo;  // for kInstallation in App mode
  // A POST is taken as creating something, so its answer being lost (a 5xx, or a connection that failed
  // after the request may have left) does not make it safe to send again. Set for a POST whose repeat
  // is harmless (adding labels, minting a token).
  bool idempotent = false;
  // For a creating POST: finds out whether an attempt whose answer was lost was carried out, by looking
  // the object up (a comment by its body, a PR by head, a check run by external_id, a ref by name).
  // Returns the answer GitHub would have given (status 2xx and the object's JSON), nullopt when it did
  // not land (then the write is sent again), or an error (then the lookup is tried again later). A
  // creating POST without it is not retried after a lost answer: the call fails with kUnavailable.
  std::function<Result<std::optional<HttpResponse>>()> find_landed;
  // How a write (POST, PATCH, PUT, DELETE with an installation token or the PAT) spends the write
  // budget: urgent writes wait for a slot, deferrable ones are refused with kDeferred when the budget is
  // down to its reserve (docs/github.md, "The write budget"). Reads never take a slot.
  WritePriority priority = WritePriority::kUrgent;
};

// The last rate-limit headers seen.
struct RateLimitState {
  int64_t limit = -1;
  int64_t remaining = -1;
  int64_t reset_unix = 0;
  int64_t used = -1;
};

// What one credential (the App, an installation, a PAT) has spent: requests sent, how many of them were
// 304s (which do not count against the primary limit) and writes (content-creating or changing, which
// the secondary limits count), and the last x-ratelimit-* GitHub reported.
struct CredentialUsage {
  std::string credential;  // "app", "installation:<id>", "pat"
  int64_t requests = 0;
  int64_t not_modified = 0;
  int64_t writes = 0;
  RateLimitState rate;
};

// Thread-safe.
class RestClient {
 public:
  // `key` may be null in PAT mode. `transport` is owned.
  RestClient(const ClientOptions& options, std::shared_ptr<PrivateKey> key, std::unique_ptr<Transport> transport);
  ~RestClient();

  // Sends `req` until it gets a final answer. Returns 2xx (and 302, which is not followed) responses;
  // a 304 to a conditional GET returns the cached 200. Other statuses become errors (see client.h).
  Result<HttpResponse> Call(const RestRequest& req);
  // GET with per_page=100 following Link rel="next"; returns each page's body.
  Result<std::vector<std::string>> GetPages(const RestRequest& first);

  // The installation token for `repo` (looked up and cached; refreshed 5 minutes before it expires).
  Result<std::string> InstallationToken(const RepoRef& repo);
  // A new installation token narrowed to `repo` and `permissions` (not cached); PAT mode: the token.
  Result<std::string> NarrowedToken(const RepoRef& repo, const std::map<std::string, std::string>& permissions);
  Result<std::string> AppJwt();
  // One request to the repository's git server (not the REST API), with the installation token (or the
  // PAT) as git's Basic credentials. Any answer is a value, as Transport::Send gives it; no rate-limit
  // accounting, since GitHub counts git traffic apart from the REST API's limits.
  Result<HttpResponse> SendGit(const RepoRef& repo, HttpRequest request);
  RateLimitState rate_limit() const;
  std::vector<CredentialUsage> Usage() const;
  // The write budget's limits and what each credential has spent of it (at the clock's now).
  WriteBudgetLimits write_budget_limits() const;
  std::vector<WriteBudgetUsage> WriteBudgetUsageNow() const;
  const std::string& base_url() const { return base_url_; }
  // Personal-access-token mode (ClientOptions::token set): every call is made with that token.
  bool token_mode() const { return !options_.token.empty(); }

 private:
  struct CachedToken {
    std::string token;
    std::chrono::system_clock::time_point expires_at;
  };
  struct CachedResponse {
    std::string etag;
    HttpResponse response;
  };

  Result<HttpResponse> CallOnce(const RestRequest& req, bool* may_have_landed);
  // Takes a slot of the write budget for one attempt of the write `req`, waiting on the clock for it
  // when it is urgent. Errors: kDeferred (a deferrable write while the budget is down to its reserve),
  // kRateLimited (the slot is later than `deadline` or max_single_wait), kCancelled, and the
  // installation lookup's own errors. A request that is not a budgeted write returns at once.
  // On success `*slot` names the slot taken (key empty when none was): the caller settles it with
  // WriteBudget::Settle once the attempt has its answer.
  struct WriteSlot {
    std::string key;
    std::chrono::system_clock::time_point at;
  };
  Status TakeWriteSlot(const RestRequest& req, std::chrono::system_clock::time_point deadline, WriteSlot* slot);
  // "app", "pat", "installation:<id>" or "none": whose rate limits and Retry-After pauses apply.
  std::string CredentialOf(const RestRequest& req);
  // Sleeps `d` unless the stop signal fires first (then false).
  bool Wait(std::chrono::milliseconds d);
  Result<std::string> Authorization(const RestRequest& req);
  Result<int64_t> InstallationFor(const RepoRef& repo);
  Result<std::string> TokenForInstallation(int64_t installation_id);
  void InvalidateToken(const RestRequest& req);
  std::chrono::milliseconds Jitter(std::chrono::milliseconds base);
  std::string AbsoluteUrl(const std::string& path) const;

  ClientOptions options_;
  Clock* clock_;
  std::string base_url_;
  std::shared_ptr<PrivateKey> key_;
  std::unique_ptr<Transport> transport_;

  mutable std::mutex mu_;
  std::map<int64_t, CachedToken> tokens_;             // guarded by mu_
  std::map<std::string, int64_t> installations_;      // guarded by mu_; repo full name -> id
  std::map<std::string, CachedResponse> etag_cache_;  // guarded by mu_; key: auth scope + url
  RateLimitState rate_;                               // guarded by mu_; the last seen, any credential
  std::map<std::string, RateLimitState> rates_;       // guarded by mu_; per credential
  std::map<std::string, CredentialUsage> usage_;      // guarded by mu_; per credential
  // A Retry-After (on any status) holds every call made with that credential, not only the refused one
  // (GitHub: keep making requests while limited and the integration may be banned). Guarded by mu_.
  std::map<std::string, std::chrono::system_clock::time_point> paused_until_;
  std::mt19937_64 rng_;                               // guarded by mu_
  WriteBudget write_budget_;                          // guarded by mu_
  // Credentials whose writes wait for the budget now: the first wait is logged, not every one.
  std::set<std::string> budget_waiting_;              // guarded by mu_
};

// Maps a non-2xx GitHub answer to an Error whose message carries GitHub's "message".
Error ErrorFromResponse(const std::string& method, const std::string& path, const HttpResponse& response);

}  // namespace wavebot::github
