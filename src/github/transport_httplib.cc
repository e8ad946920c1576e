// cpp-httplib transport. Clients are pooled per origin so keep-alive connections are reused.
#include <httplib.h>

#include <algorithm>
#include <cctype>
#include <mutex>

#include "github/rest.h"

namespace wavebot::github {
namespace {

struct SplitUrl {
  std::string origin;  // scheme://host:port
  std::string path;    // /x?y
};

Result<SplitUrl> Split(const std::string& url) {
  size_t scheme_end = url.find("://");
  if (scheme_end == std::string::npos) return Error(ErrorCode::kInvalidArgument, "not an absolute URL: " + url);
  std::string scheme = url.substr(0, scheme_end);
  if (scheme != "http" && scheme != "https") {
    return Error(ErrorCode::kInvalidArgument, "unsupported URL scheme: " + url);
  }
  size_t path_start = url.find('/', scheme_end + 3);
  SplitUrl out;
  out.origin = path_start == std::string::npos ? url : url.substr(0, path_start);
  out.path = path_start == std::string::npos ? "/" : url.substr(path_start);
  return out;
}

class HttplibTransport final : public Transport {
 public:
  explicit HttplibTransport(std::chrono::seconds timeout) : timeout_(timeout) {}

  Result<HttpResponse> Send(const std::string& method, const std::string& url,
                            const std::map<std::string, std::string>& headers, const std::string& body) override {
    auto split = Split(url);
    if (!split.ok()) return split.error();
    std::unique_ptr<httplib::Client> cli = Take(split->origin);
    httplib::Request req;
    req.method = method;
    req.path = split->path;
    for (const auto& [k, v] : headers) req.set_header(k, v);
    req.body = body;
    auto res = cli->send(req);
    if (!res) {
      return Error(ErrorCode::kUnavailable,
                   method + " " + url + ": connection failed (" + httplib::to_string(res.error()) + ")");
    }
    HttpResponse out;
    out.status = res->status;
    out.body = res->body;
    for (const auto& [k, v] : res->headers) {
      std::string key = k;
      std::transform(key.begin(), key.end(), key.begin(), [](unsigned char c) { return std::tolower(c); });
      out.headers[key] = v;
    }
    Give(split->origin, std::move(cli));
    return out;
  }

 private:
  std::unique_ptr<httplib::Client> Take(const std::string& origin) {
    {
      std::lock_guard lock(mu_);
      auto& pool = pool_[origin];
      if (!pool.empty()) {
        auto c = std::move(pool.back());
        pool.pop_back();
        return c;
      }
    }
    auto cli = std::make_unique<httplib::Client>(origin);
    cli->set_connection_timeout(timeout_.count(), 0);
    cli->set_read_timeout(timeout_.count(), 0);
    cli->set_write_timeout(timeout_.count(), 0);
    cli->set_keep_alive(true);
    cli->set_follow_location(false);
    cli->enable_server_certificate_verification(true);
    return cli;
  }
  void Give(const std::string& origin, std::unique_ptr<httplib::Client> cli) {
    std::lock_guard lock(mu_);
    auto& pool = pool_[origin];
    if (pool.size() < 8) pool.push_back(std::move(cli));
  }

  std::chrono::seconds timeout_;
  std::mutex mu_;
  std::map<std::string, std::vector<std::unique_ptr<httplib::Client>>> pool_;  // guarded by mu_
};

}  // namespace

std::unique_ptr<Transport> NewHttplibTransport(std::chrono::seconds io_timeout) {
  return std::make_unique<HttplibTransport>(io_timeout);
}

}  // namespace wavebot::github
