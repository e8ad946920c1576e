// libcurl transport for the GitHub API (docs/github.md, "The transport"): HTTP/1.1 framing as RFC 9112
// says (a 304 or 204 ends at its headers), HTTP/2 over TLS when the server offers it, certificate
// verification with the system's or the operator's CA bundle, HTTPS_PROXY/NO_PROXY from the
// environment, keep-alive connections pooled per easy handle, and transfers that end as soon as the
// StopSignal fires.
#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <mutex>
#include <vector>

#include "common/clock.h"
#include "github/rest.h"

namespace wavebot::github {
namespace {

struct CurlGlobal {
  CurlGlobal() { curl_global_init(CURL_GLOBAL_DEFAULT); }
};

void InitCurlOnce() {
  static CurlGlobal global;  // curl_global_init is not thread-safe before 7.84; run it once, first
}

struct EasyDeleter {
  void operator()(CURL* h) const { curl_easy_cleanup(h); }
};
using Easy = std::unique_ptr<CURL, EasyDeleter>;

struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
using Slist = std::unique_ptr<curl_slist, SlistDeleter>;

// What one transfer collects. Headers of interim (1xx) answers and of earlier hops are dropped: only
// the final answer's headers are kept.
struct Exchange {
  HttpResponse response;
  const StopSignal* stop = nullptr;
};

size_t OnBody(char* data, size_t size, size_t n, void* user) {
  auto* ex = static_cast<Exchange*>(user);
  ex->response.body.append(data, size * n);
  return size * n;
}

size_t OnHeader(char* data, size_t size, size_t n, void* user) {
  auto* ex = static_cast<Exchange*>(user);
  std::string line(data, size * n);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
  if (line.rfind("HTTP/", 0) == 0) {
    ex->response.headers.clear();  // a new status line: a new answer (after 100 Continue)
    return size * n;
  }
  size_t colon = line.find(':');
  if (colon == std::string::npos) return size * n;
  std::string key = line.substr(0, colon);
  std::transform(key.begin(), key.end(), key.begin(), [](unsigned char c) { return std::tolower(c); });
  size_t v = colon + 1;
  while (v < line.size() && (line[v] == ' ' || line[v] == '\t')) ++v;
  std::string value = line.substr(v);
  auto [it, inserted] = ex->response.headers.emplace(key, value);
  if (!inserted) it->second += ", " + value;  // repeated header fields join with commas (RFC 9110 §5.3)
  return size * n;
}

int OnProgress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto* ex = static_cast<Exchange*>(user);
  return ex->stop != nullptr && ex->stop->stopped() ? 1 : 0;  // non-zero aborts the transfer
}

// Whether a failed transfer may have delivered the request to the server. Only failures before any
// byte of the request left are "not sent".
bool MayHaveLanded(CURLcode code) {
  switch (code) {
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
      return false;
    default:
      return true;
  }
}

class CurlTransport final : public Transport {
 public:
  explicit CurlTransport(TransportOptions options) : options_(std::move(options)) { InitCurlOnce(); }

  Result<HttpResponse> Send(const HttpRequest& request, bool* may_have_landed) override {
    *may_have_landed = false;
    if (request.url.rfind("http://", 0) != 0 && request.url.rfind("https://", 0) != 0) {
      return Error(ErrorCode::kInvalidArgument, "not an http(s) URL: " + request.url);
    }
    if (options_.stop != nullptr && options_.stop->stopped()) {
      return Error(ErrorCode::kCancelled, request.method + " " + request.url + ": not sent, wavebot is stopping");
    }
    Easy easy = Take();
    if (!easy) return Error(ErrorCode::kInternal, "curl_easy_init failed");
    CURL* h = easy.get();
    curl_easy_reset(h);  // keeps the handle's connection cache, drops the previous request's options

    Exchange ex;
    ex.stop = options_.stop;
    Slist headers;
    for (const auto& [k, v] : request.headers) {
      std::string line = k + ": " + v;
      curl_slist* next = curl_slist_append(headers.get(), line.c_str());
      if (next == nullptr) return Error(ErrorCode::kInternal, "curl_slist_append failed");
      (void)headers.release();
      headers.reset(next);
    }
    // No "Expect: 100-continue" round trip for bodies (GitHub answers at once anyway), and no form
    // Content-Type that libcurl would otherwise add to a bodiless POST.
    std::vector<const char*> suppress = {"Expect:"};
    if (!request.headers.count("Content-Type")) suppress.push_back("Content-Type:");
    for (const char* line : suppress) {
      curl_slist* next = curl_slist_append(headers.get(), line);
      if (next == nullptr) return Error(ErrorCode::kInternal, "curl_slist_append failed");
      (void)headers.release();
      headers.reset(next);
    }

    curl_easy_setopt(h, CURLOPT_URL, request.url.c_str());
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers.get());
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);  // the caller decides about redirects (job logs)
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);        // threads: no SIGALRM for DNS timeouts
    curl_easy_setopt(h, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_2TLS));
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    if (!options_.ca_bundle.empty()) curl_easy_setopt(h, CURLOPT_CAINFO, options_.ca_bundle.c_str());
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(Ms(options_.connect_timeout)));
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(Ms(options_.total_timeout)));
    // A server that stops sending: less than one byte a second for `stall_timeout` ends the transfer.
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, static_cast<long>(options_.stall_timeout.count()));
    curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");  // gzip/deflate/br as libcurl was built with
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, OnBody);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &ex);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, OnHeader);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &ex);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, OnProgress);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, &ex);
    // libcurl sends a request again on a fresh connection when a reused one dies before the answer
    // began. Right for reads; for a write that is not idempotent the server may have carried it out,
    // so such writes never go out on a reused connection.
    if (request.fresh_connection) curl_easy_setopt(h, CURLOPT_FRESH_CONNECT, 1L);
    if (request.method == "GET") {
      curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    } else if (request.method == "HEAD") {
      curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else {
      curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, request.method.c_str());
      curl_easy_setopt(h, CURLOPT_POSTFIELDS, request.body.data());
      curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
    }

    CURLcode rc = curl_easy_perform(h);
    if (rc != CURLE_OK) {
      *may_have_landed = MayHaveLanded(rc);
      const std::string what = request.method + " " + request.url + ": ";
      // The connection may be half-used: drop the handle (and its cache) rather than pooling it.
      if (rc == CURLE_ABORTED_BY_CALLBACK) return Error(ErrorCode::kCancelled, what + "aborted, wavebot is stopping");
      return Error(ErrorCode::kUnavailable, what + "connection failed (" + curl_easy_strerror(rc) + ")" +
                                                (*may_have_landed ? "" : ", request not sent"));
    }
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    ex.response.status = static_cast<int>(status);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, nullptr);  // `headers` is freed below; the handle outlives it
    Give(std::move(easy));
    return std::move(ex.response);
  }

 private:
  static int64_t Ms(std::chrono::seconds s) { return std::chrono::duration_cast<std::chrono::milliseconds>(s).count(); }

  Easy Take() {
    {
      std::lock_guard lock(mu_);
      if (!pool_.empty()) {
        Easy e = std::move(pool_.back());
        pool_.pop_back();
        return e;
      }
    }
    return Easy(curl_easy_init());
  }
  void Give(Easy easy) {
    std::lock_guard lock(mu_);
    if (pool_.size() < 16) pool_.push_back(std::move(easy));
  }

  TransportOptions options_;
  std::mutex mu_;
  std::vector<Easy> pool_;  // guarded by mu_; idle handles, each with its own kept-alive connections
};

}  // namespace

std::unique_ptr<Transport> NewCurlTransport(TransportOptions options) {
  return std::make_unique<CurlTransport>(std::move(options));
}

std::string CurlVersion() {
  InitCurlOnce();
  return curl_version();
}

}  // namespace wavebot::github
