#include "http/server.h"

#include <arpa/inet.h>
#include <httplib.h>
#include <netdb.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <dirent.h>

#include "http/access.h"
#include "http/budgets.h"
#include "http/guarded_stream.h"
#include "http/task_queue.h"
#include "common/thread_name.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>

namespace wavebot::http {
namespace {

bool EqualsIgnoreCase(const std::string& a, const std::string& b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

// Why binding host:port fails, for the error message (cpp-httplib only says that it failed).
std::string BindFailureReason(const std::string& host, int port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (int rc = getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res); rc != 0) {
    return gai_strerror(rc);
  }
  std::string reason = "unknown error";
  int fd = socket(res->ai_family, res->ai_socktype, res->ai_protocol);
  if (fd >= 0) {
    int yes = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    if (bind(fd, res->ai_addr, res->ai_addrlen) != 0) reason = std::strerror(errno);
    else if (listen(fd, 1) != 0) reason = std::strerror(errno);
    close(fd);
  } else {
    reason = std::strerror(errno);
  }
  freeaddrinfo(res);
  return reason;
}

// cpp-httplib 0.11.4 listens with a backlog of 5: a burst of new connections (GitHub's, or a load
// generator's) overflows it and the dropped SYNs are retried only after a second. It does not expose
// its socket, so find the listening socket bound to `port` among our descriptors and listen() again,
// which on Linux just raises the backlog. Returns whether it was found.
bool RaiseListenBacklog(int port) {
  DIR* dir = opendir("/proc/self/fd");
  if (!dir) return false;
  bool found = false;
  while (dirent* e = readdir(dir)) {
    char* end = nullptr;
    long fd = std::strtol(e->d_name, &end, 10);
    if (*end != '\0' || fd == dirfd(dir)) continue;
    int listening = 0;
    socklen_t len = sizeof(listening);
    if (getsockopt(static_cast<int>(fd), SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0 || !listening) continue;
    sockaddr_storage addr{};
    socklen_t alen = sizeof(addr);
    if (getsockname(static_cast<int>(fd), reinterpret_cast<sockaddr*>(&addr), &alen) != 0) continue;
    int bound = addr.ss_family == AF_INET    ? ntohs(reinterpret_cast<sockaddr_in*>(&addr)->sin_port)
                : addr.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port)
                                             : -1;
    if (bound == port && ::listen(static_cast<int>(fd), SOMAXCONN) == 0) found = true;
  }
  closedir(dir);
  return found;
}

// The connection of the request this server thread is serving, so that a handler can ask for it to be
// closed after its answer (when it left the body unread).
thread_local GuardedStream* current_stream = nullptr;

void CloseAfterResponse() {
  if (current_stream) current_stream->CloseAfterResponse();
}

std::string PeerAddress(int sock) {
  sockaddr_storage addr{};
  socklen_t len = sizeof(addr);
  char host[INET6_ADDRSTRLEN] = {0};
  if (getpeername(sock, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return "";
  if (addr.ss_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(&addr)->sin_addr, host, sizeof(host));
  } else if (addr.ss_family == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(&addr)->sin6_addr, host, sizeof(host));
  }
  return host;
}

bool IsPowerOfTwo(int64_t n) { return n > 0 && (n & (n - 1)) == 0; }

// cpp-httplib's server with each connection served through a GuardedStream, behind the per-address
// cap and the queue-wait limit. process_and_close_socket is a private virtual of httplib::Server: an
// override replaces how a connection is served while the library keeps accepting, parsing and routing.
class GuardedHttplib final : public httplib::Server {
 public:
  explicit GuardedHttplib(const ServerOptions* options)
      : options_(options), limiter_(options->max_connections_per_address) {
    limits_.max_header_bytes = options->max_header_bytes;
    limits_.max_header_count = options->max_header_count;
    limits_.request_timeout = options->request_timeout;
    limits_.read_timeout = options->read_timeout;
    limits_.write_timeout = options->write_timeout;
  }

 private:
  bool process_and_close_socket(socket_t sock) override {
    const std::string peer = PeerAddress(sock);
    const int retry = options_->retry_after_seconds;
    if (ElasticTaskQueue::TaskWaited() > options_->max_queue_wait) {
      if (int64_t n = ++busy_refusals_; IsPowerOfTwo(n)) {
        spdlog::warn("http[{}]: every worker busy: {} connections refused with 503 after waiting over {} s",
                     options_->name, n, options_->max_queue_wait.count());
      }
      WriteRefusal(sock, 503, "Service Unavailable", "server busy; retry later", retry, limits_.write_timeout);
      GuardedStream(sock, limits_).LingeringShutdown();
      ::close(sock);
      return true;
    }
    if (!limiter_.TryAcquire(peer)) {
      if (int64_t n = ++address_refusals_; IsPowerOfTwo(n)) {
        spdlog::warn("http[{}]: {} connections refused with 503: over {} open connections from one address "
                     "(latest {})",
                     options_->name, n, options_->max_connections_per_address, peer);
      }
      WriteRefusal(sock, 503, "Service Unavailable", "too many connections from your address; retry later", retry,
                   limits_.write_timeout);
      GuardedStream(sock, limits_).LingeringShutdown();
      ::close(sock);
      return true;
    }
    {
      GuardedStream strm(sock, limits_);
      const auto idle = std::chrono::milliseconds(keep_alive_timeout_sec_ * 1000);
      for (size_t count = keep_alive_max_count_; count > 0; --count) {
        if (!strm.WaitForRequest(idle, [this] { return svr_sock_ == INVALID_SOCKET; })) break;
        strm.BeginRequest();
        bool closed = false;
        current_stream = &strm;
        bool ok = process_request(strm, count == 1, closed, nullptr);
        current_stream = nullptr;
        ok = strm.Flush() && ok;  // headers held for a body that never came (HEAD, an error)
        if (!ok || closed || strm.refused() || strm.close_after_response()) break;
      }
      if (strm.refused() || strm.close_after_response()) strm.LingeringShutdown();
    }
    limiter_.Release(peer);
    ::close(sock);
    return true;
  }

  const ServerOptions* options_;
  StreamLimits limits_;
  AddressLimiter limiter_;
  std::atomic<int64_t> busy_refusals_{0}, address_refusals_{0};
};

Request Convert(const httplib::Request& in) {
  Request r;
  r.method = in.method;
  r.path = in.path;
  r.remote_addr = in.remote_addr;
  r.headers.assign(in.headers.begin(), in.headers.end());
  r.params.insert(in.params.begin(), in.params.end());
  return r;
}

void Apply(const Response& in, httplib::Response& out) {
  out.status = in.status;
  for (const auto& [k, v] : in.headers) out.set_header(k, v);
  out.set_content(in.body, in.content_type.c_str());
  // cpp-httplib writes the headers, then the body: sent together (GuardedStream::HoldNextWrite).
  if (current_stream != nullptr && !in.body.empty()) current_stream->HoldNextWrite();
}

// The end of every open stream: Stop() sets `stopping` and wakes every waiting stream.
struct StreamControl {
  std::mutex mu;
  std::condition_variable cv;
  bool stopping = false;  // guarded by mu
};

class SinkWriter final : public StreamWriter {
 public:
  SinkWriter(httplib::DataSink* sink, StreamControl* control, std::chrono::steady_clock::time_point deadline)
      : sink_(sink), control_(control), deadline_(deadline) {}
  bool Write(const std::string& data) override {
    if (!Live()) return false;
    return sink_->write(data.data(), data.size());
  }
  bool Wait(std::chrono::milliseconds d) override {
    auto until = std::min(std::chrono::steady_clock::now() + d, deadline_);
    std::unique_lock lock(control_->mu);
    control_->cv.wait_until(lock, until, [&] { return control_->stopping; });
    return !control_->stopping && std::chrono::steady_clock::now() < deadline_;
  }

 private:
  bool Live() {
    std::lock_guard lock(control_->mu);
    return !control_->stopping && std::chrono::steady_clock::now() < deadline_;
  }
  httplib::DataSink* sink_;
  StreamControl* control_;
  const std::chrono::steady_clock::time_point deadline_;
};

class HttplibServer final : public Server {
 public:
  explicit HttplibServer(ServerOptions options)
      : options_(std::move(options)), svr_(&options_), budget_(options_.max_body_bytes_in_flight) {
    svr_.new_task_queue = [this] {
      return new ElasticTaskQueue(options_.min_threads, options_.max_threads, &active_);
    };
    svr_.set_tcp_nodelay(true);
    // cpp-httplib's default sets SO_REUSEPORT, which lets a second wavebot bind the same port and
    // silently share its traffic; SO_REUSEADDR alone makes "port in use" an error.
    svr_.set_socket_options([](int sock) {
      int yes = 1;
      setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    });
    svr_.set_payload_max_length(static_cast<size_t>(options_.max_body_bytes));
    svr_.set_keep_alive_timeout(options_.keep_alive_timeout.count());
    svr_.set_keep_alive_max_count(static_cast<size_t>(options_.keep_alive_max_requests));
    svr_.set_read_timeout(options_.read_timeout.count(), 0);
    svr_.set_write_timeout(options_.write_timeout.count(), 0);
    svr_.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
      return PreRoute(req, res);
    });
    svr_.set_exception_handler([](const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) {
      std::string what = "unknown exception";
      try {
        if (ep) std::rethrow_exception(ep);
      } catch (const std::exception& e) {
        what = e.what();
      } catch (...) {
      }
      spdlog::error("http: {} {} failed: {}", req.method, req.path, what);
      res.status = 500;
      res.set_content("internal error\n", "text/plain; charset=utf-8");
    });
  }
  ~HttplibServer() override { Stop(); }

  void Get(const std::string& pattern, Handler handler) override {
    svr_.Get(pattern, [handler = std::move(handler)](const httplib::Request& req, httplib::Response& res) {
      Request r = Convert(req);
      Response out;
      handler(r, &out);
      Apply(out, res);
    });
  }

  void Post(const std::string& pattern, Handler handler, Precheck before_body) override {
    svr_.Post(pattern, [this, handler = std::move(handler), before_body = std::move(before_body)](
                           const httplib::Request& req, httplib::Response& res, const httplib::ContentReader& reader) {
      Reservation reservation(&budget_);  // released after the body below is freed
      Request r = Convert(req);
      Response out;
      auto refuse = [&](int status, const std::string& line) {
        out.Text(status, line);
        out.headers.emplace_back("Connection", "close");
        if (status == 503) out.headers.emplace_back("Retry-After", std::to_string(options_.retry_after_seconds));
        CloseAfterResponse();  // the rest of the body is never read
        Apply(out, res);
      };
      if (before_body && !before_body(r, &out)) {
        out.headers.emplace_back("Connection", "close");
        CloseAfterResponse();
        Apply(out, res);
        return;
      }
      const size_t limit = static_cast<size_t>(options_.max_body_bytes);
      // The pre-routing check has validated Content-Length and its limit.
      const bool declared = req.has_header("Content-Length");
      const int64_t length = declared ? std::stoll(req.get_header_value("Content-Length")) : 0;
      if (declared && !reservation.Grow(length)) return refuse(503, BusyLine());
      if (declared) r.body.reserve(static_cast<size_t>(length));
      bool too_large = false, over_budget = false;
      bool complete = reader([&](const char* data, size_t len) {
        if (r.body.size() + len > limit) {
          too_large = true;
          return false;  // stop reading: the rest of the body is never buffered
        }
        // Chunked or length-less: reserve as it comes, 64 KiB at a time.
        const int64_t need = static_cast<int64_t>(r.body.size() + len) - reservation.bytes();
        if (need > 0 && !reservation.Grow(std::max<int64_t>(need, 64 * 1024))) {
          over_budget = true;
          return false;
        }
        r.body.append(data, len);
        return true;
      });
      if (over_budget) return refuse(503, BusyLine());
      if (too_large) return refuse(413, "request body larger than " + std::to_string(limit) + " bytes");
      if (!complete) return refuse(400, "request body could not be read");
      handler(r, &out);
      Apply(out, res);
    });
  }

  void GetStream(const std::string& pattern, StreamHandler handler) override {
    svr_.Get(pattern, [this, handler = std::move(handler)](const httplib::Request& req, httplib::Response& res) {
      Request r = Convert(req);
      Response out;
      StreamFn stream;
      handler(r, &out, &stream);
      if (!stream) {
        Apply(out, res);
        return;
      }
      // Streams hold a worker each for up to max_stream_duration: at most max_streams at once.
      if (open_streams_.fetch_add(1) >= options_.max_streams) {
        open_streams_.fetch_sub(1);
        Response busy;
        busy.Text(503, "too many open streams (" + std::to_string(options_.max_streams) + "); retry later");
        busy.headers.emplace_back("Retry-After", std::to_string(options_.retry_after_seconds));
        Apply(busy, res);
        return;
      }
      res.status = out.status;
      for (const auto& [k, v] : out.headers) res.set_header(k, v);
      auto deadline = std::chrono::steady_clock::now() + options_.max_stream_duration;
      StreamControl* control = &streams_;
      res.set_chunked_content_provider(
          out.content_type,
          [stream = std::move(stream), control, deadline](size_t, httplib::DataSink& sink) {
            SinkWriter writer(&sink, control, deadline);
            stream(&writer);
            sink.done();
            return true;
          },
          [this](bool) { open_streams_.fetch_sub(1); });
    });
  }

  Status Start() override {
    if (!bound_) WAVEBOT_RETURN_IF_ERROR(Bind());
    if (!RaiseListenBacklog(port_)) spdlog::warn("http: could not raise the listen backlog of port {}", port_);
    // The socket is already listening: connections made before the loop starts wait in the backlog.
    thread_ = std::thread([this] {
      SetThreadName("wb-listen");
      svr_.listen_after_bind();
    });
    // stop() is a no-op until the loop has marked itself running (0.11.4 has no wait_until_ready), and
    // a Stop() that came first would leave the thread in accept() forever.
    while (!svr_.is_running()) std::this_thread::yield();
    return OkStatus();
  }

  Status Bind() override {
    bool bound;
    if (options_.port == 0) {
      int p = svr_.bind_to_any_port(options_.host);
      bound = p > 0;
      port_ = p;
    } else {
      bound = svr_.bind_to_port(options_.host, options_.port);
      port_ = options_.port;
    }
    if (!bound) {
      return Error(ErrorCode::kUnavailable, "cannot listen on " + options_.host + ":" +
                                                std::to_string(options_.port) + ": " +
                                                BindFailureReason(options_.host, options_.port));
    }
    bound_ = true;
    return OkStatus();
  }

  int port() const override { return port_; }

  void Stop() override {
    std::lock_guard lock(stop_mu_);
    {
      std::lock_guard streams_lock(streams_.mu);
      streams_.stopping = true;
    }
    streams_.cv.notify_all();
    if (thread_.joinable()) {
      svr_.stop();
      thread_.join();
    }
  }

  int active_connections() const override { return active_.load(); }
  int64_t body_bytes_in_flight() const override { return budget_.in_use(); }

 private:
  std::string BusyLine() const {
    return "request bodies in flight exceed " + std::to_string(options_.max_body_bytes_in_flight) +
           " bytes; retry later";
  }

  httplib::Server::HandlerResponse PreRoute(const httplib::Request& req, httplib::Response& res) {
    const bool has_body = req.has_header("Transfer-Encoding") ||
                          (req.has_header("Content-Length") && req.get_header_value("Content-Length") != "0");
    auto reject = [&](int status, const std::string& line, const char* header = nullptr, const char* value = nullptr) {
      Response out;
      out.Text(status, line);
      if (header) out.headers.emplace_back(header, value);
      if (has_body) {
        out.headers.emplace_back("Connection", "close");
        CloseAfterResponse();  // the body is never read
      }
      Apply(out, res);
      return httplib::Server::HandlerResponse::Handled;
    };
    if (options_.require_token) {
      switch (CheckAccess(req.get_header_value("Authorization"), options_.access_tokens)) {
        case Access::kAllowed:
          break;
        case Access::kNoCredentials:
          return reject(401, "a read token is required: send 'Authorization: Bearer <token>' (WAVEBOT_READ_TOKEN)",
                        "WWW-Authenticate", "Basic realm=\"wavebot\", charset=\"UTF-8\"");
        case Access::kWrongCredentials:
          return reject(403, "the token is not a read or admin token of this wavebot");
      }
    }
    std::string encoding = req.get_header_value("Content-Encoding");
    if (!encoding.empty() && !EqualsIgnoreCase(encoding, "identity")) {
      return reject(415, "compressed request bodies are not accepted (Content-Encoding: " + encoding + ")");
    }
    if (req.has_header("Content-Length")) {
      const std::string& v = req.get_header_value("Content-Length");
      char* end = nullptr;
      errno = 0;
      unsigned long long n = std::strtoull(v.c_str(), &end, 10);
      if (v.empty() || *end != '\0' || errno == ERANGE || !std::isdigit(static_cast<unsigned char>(v[0]))) {
        return reject(400, "invalid Content-Length");
      }
      if (n > static_cast<unsigned long long>(options_.max_body_bytes)) {
        return reject(413, "request body larger than " + std::to_string(options_.max_body_bytes) + " bytes");
      }
    }
    // Only POST routes read a body (within the budget); anything else would be buffered by the library.
    if (has_body && req.method != "POST") return reject(413, req.method + " requests take no body here");
    return httplib::Server::HandlerResponse::Unhandled;
  }

  const ServerOptions options_;
  GuardedHttplib svr_;
  ByteBudget budget_;
  std::atomic<int> open_streams_{0};
  std::atomic<int> active_{0};
  int port_ = 0;
  bool bound_ = false;
  std::mutex stop_mu_;
  std::thread thread_;
  StreamControl streams_;
};

}  // namespace

std::string Request::Header(const std::string& name) const {
  for (const auto& [k, v] : headers) {
    if (EqualsIgnoreCase(k, name)) return v;
  }
  return "";
}
bool Request::HasHeader(const std::string& name) const {
  return std::any_of(headers.begin(), headers.end(), [&](const auto& kv) { return EqualsIgnoreCase(kv.first, name); });
}
std::string Request::Param(const std::string& name) const {
  auto it = params.find(name);
  return it == params.end() ? "" : it->second;
}
bool Request::HasParam(const std::string& name) const { return params.count(name) > 0; }

void Response::Text(int code, const std::string& line) {
  status = code;
  content_type = "text/plain; charset=utf-8";
  body = line + "\n";
}
void Response::Json(int code, std::string json_text) {
  status = code;
  content_type = "application/json";
  body = std::move(json_text);
}

Result<std::pair<std::string, int>> ParseListen(const std::string& listen) {
  auto colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    return Error(ErrorCode::kInvalidArgument, "listen address '" + listen + "' is not host:port");
  }
  std::string host = listen.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  const std::string port_text = listen.substr(colon + 1);
  char* end = nullptr;
  long port = std::strtol(port_text.c_str(), &end, 10);
  if (port_text.empty() || *end != '\0' || port < 0 || port > 65535) {
    return Error(ErrorCode::kInvalidArgument, "listen address '" + listen + "' has an invalid port");
  }
  return std::make_pair(host, static_cast<int>(port));
}

std::unique_ptr<Server> NewServer(ServerOptions options) {
  return std::make_unique<HttplibServer>(std::move(options));
}

}  // namespace wavebot::http
