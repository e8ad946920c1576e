// The REST layer under the typed client: one call = one logical request, with authentication,
// conditional requests (ETags), rate-limit handling, retries with jittered backoff and an overall
// deadline. Every wait goes through the injected Clock, so tests assert waits without sleeping.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include "common/result.h"
#include "github/client.h"
#include "github/types.h"

namespace wavebot {
class Clock;
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

// One HTTP exchange. Implementations must be thread-safe. A connection failure is kUnavailable.
class Transport {
 public:
  virtual ~Transport() = default;
  // `url` is absolute ("http://127.0.0.1:8080/repos/a/b"). Redirects are NOT followed.
  virtual Result<HttpResponse> Send(const std::string& method, const std::string& url,
                                    const std::map<std::string, std::string>& headers, const std::string& body) = 0;
};

// cpp-httplib transport: https with certificate verification on, plain http for loopback.
std::unique_ptr<Transport> NewHttplibTransport(std::chrono::seconds io_timeout = std::chrono::seconds(30));

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
};

// The last rate-limit headers seen.
struct RateLimitState {
  int64_t limit = -1;
  int64_t remaining = -1;
  int64_t reset_unix = 0;
  int64_t used = -1;
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
  Result<std::string> AppJwt();
  RateLimitState rate_limit() const;
  const std::string& base_url() const { return base_url_; }

 private:
  struct CachedToken {
    std::string token;
    std::chrono::system_clock::time_point expires_at;
  };
  struct CachedResponse {
    std::string etag;
    HttpResponse response;
  };

  Result<HttpResponse> CallOnce(const RestRequest& req, std::chrono::system_clock::time_point deadline);
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
  RateLimitState rate_;                               // guarded by mu_
  // A secondary rate limit's Retry-After holds every call of this client, not only the refused one
  // (GitHub: keep making requests while limited and the integration may be banned). Guarded by mu_.
  std::chrono::system_clock::time_point paused_until_{};
  std::mt19937_64 rng_;                               // guarded by mu_
};

// Maps a non-2xx GitHub answer to an Error whose message carries GitHub's "message".
Error ErrorFromResponse(const std::string& method, const std::string& path, const HttpResponse& response);

}  // namespace wavebot::github
