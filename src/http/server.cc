#include "http/server.h"

#include <arpa/inet.h>
#include <httplib.h>
#include <netdb.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <dirent.h>

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

// A thread pool that starts a new worker whenever a task arrives and no worker is idle, up to
// `max_threads`; workers above `min_threads` exit after a minute idle. cpp-httplib runs one
// connection per task for its whole keep-alive life, so a fixed pool lets idle keep-alive
// connections starve new ones; this one does not until max_threads connections are open.
class ElasticTaskQueue final : public httplib::TaskQueue {
 public:
  ElasticTaskQueue(int min_threads, int max_threads, std::atomic<int>* active)
      : min_(min_threads), max_(max_threads), active_(active) {
    std::lock_guard lock(mu_);
    for (int i = 0; i < min_; ++i) SpawnLocked();
  }
  ~ElasticTaskQueue() override { shutdown(); }

  void enqueue(std::function<void()> fn) override {
    std::lock_guard lock(mu_);
    tasks_.push_back(std::move(fn));
    if (idle_ < static_cast<int>(tasks_.size()) && live_ < max_) SpawnLocked();
    cv_.notify_one();
  }

  // Runs the queued tasks to the end and waits until every worker has exited.
  void shutdown() override {
    std::unique_lock lock(mu_);
    stopped_ = true;
    cv_.notify_all();
    exited_cv_.wait(lock, [&] { return live_ == 0; });
  }

 private:
  // Workers are detached (a retired worker must not hold its stack until shutdown); shutdown()
  // waits for live_ to reach zero instead of joining.
  void SpawnLocked() {
    ++live_;
    std::thread([this] { Work(); }).detach();
  }
  void Work() {
    std::unique_lock lock(mu_);
    for (;;) {
      ++idle_;
      bool got = cv_.wait_for(lock, std::chrono::seconds(60), [&] { return stopped_ || !tasks_.empty(); });
      --idle_;
      if (tasks_.empty()) {
        if (stopped_ || (!got && live_ > min_)) break;  // stopping, or idle a minute above the minimum
        continue;
      }
      auto fn = std::move(tasks_.front());
      tasks_.pop_front();
      lock.unlock();
      active_->fetch_add(1);
      fn();
      active_->fetch_sub(1);
      lock.lock();
    }
    --live_;
    exited_cv_.notify_all();
  }

  const int min_, max_;
  std::atomic<int>* active_;
  std::mutex mu_;
  std::condition_variable cv_, exited_cv_;
  std::deque<std::function<void()>> tasks_;  // guarded by mu_
  int live_ = 0;                             // guarded by mu_
  int idle_ = 0;                             // guarded by mu_
  bool stopped_ = false;                     // guarded by mu_
};

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

// Stops reading from the client connection (remote_addr:remote_port -> our port) so that a refused
// body is never read: cpp-httplib 0.11.4 neither exposes the socket to handlers nor closes a
// connection whose body was left unread (it would parse the rest as the next request, buffering a
// newline-free "line" without limit). Called from the logger, which cpp-httplib runs after the
// response is written (it does not write to a socket that already reads as closed); after
// shutdown(SHUT_RD) its next read sees end of stream and it closes. Returns whether it was found.
bool StopReading(const std::string& remote_addr, int remote_port, int local_port) {
  DIR* dir = opendir("/proc/self/fd");
  if (!dir) return false;
  bool found = false;
  while (dirent* e = readdir(dir)) {
    char* end = nullptr;
    long fd = std::strtol(e->d_name, &end, 10);
    if (*end != '\0' || fd == dirfd(dir)) continue;
    sockaddr_storage peer{}, local{};
    socklen_t plen = sizeof(peer), llen = sizeof(local);
    if (getpeername(static_cast<int>(fd), reinterpret_cast<sockaddr*>(&peer), &plen) != 0) continue;
    if (getsockname(static_cast<int>(fd), reinterpret_cast<sockaddr*>(&local), &llen) != 0) continue;
    char host[INET6_ADDRSTRLEN] = {0};
    int pport = -1, lport = -1;
    if (peer.ss_family == AF_INET) {
      auto* p4 = reinterpret_cast<sockaddr_in*>(&peer);
      inet_ntop(AF_INET, &p4->sin_addr, host, sizeof(host));
      pport = ntohs(p4->sin_port);
      lport = ntohs(reinterpret_cast<sockaddr_in*>(&local)->sin_port);
    } else if (peer.ss_family == AF_INET6) {
      auto* p6 = reinterpret_cast<sockaddr_in6*>(&peer);
      inet_ntop(AF_INET6, &p6->sin6_addr, host, sizeof(host));
      pport = ntohs(p6->sin6_port);
      lport = ntohs(reinterpret_cast<sockaddr_in6*>(&local)->sin6_port);
    }
    if (pport == remote_port && lport == local_port && remote_addr == host) {
      found = shutdown(static_cast<int>(fd), SHUT_RD) == 0;
      break;
    }
  }
  closedir(dir);
  return found;
}

// Set by a handler on its server thread when the request body must not be read further; consumed by
// the logger on the same thread once the answer is out.
thread_local bool stop_reading_after_response = false;

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
  explicit HttplibServer(ServerOptions options) : options_(std::move(options)) {
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
    svr_.set_logger([this](const httplib::Request& req, const httplib::Response&) {
      if (stop_reading_after_response) {
        stop_reading_after_response = false;
        StopReading(req.remote_addr, req.remote_port, port_);
      }
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

  void Post(const std::string& pattern, Handler handler) override {
    svr_.Post(pattern, [this, handler = std::move(handler)](const httplib::Request& req, httplib::Response& res,
                                                           const httplib::ContentReader& reader) {
      Request r = Convert(req);
      bool too_large = false;
      const size_t limit = static_cast<size_t>(options_.max_body_bytes);
      bool complete = reader([&](const char* data, size_t len) {
        if (r.body.size() + len > limit) {
          too_large = true;
          return false;  // stop reading: the rest of the body is never buffered
        }
        r.body.append(data, len);
        return true;
      });
      Response out;
      if (too_large || !complete) {
        if (too_large) out.Text(413, "request body larger than " + std::to_string(limit) + " bytes");
        else out.Text(400, "request body could not be read");
        out.headers.emplace_back("Connection", "close");
        stop_reading_after_response = true;
      } else {
        handler(r, &out);
      }
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
      res.status = out.status;
      for (const auto& [k, v] : out.headers) res.set_header(k, v);
      auto deadline = std::chrono::steady_clock::now() + options_.max_stream_duration;
      StreamControl* control = &streams_;
      res.set_chunked_content_provider(out.content_type,
                                       [stream = std::move(stream), control, deadline](size_t, httplib::DataSink& sink) {
                                         SinkWriter writer(&sink, control, deadline);
                                         stream(&writer);
                                         sink.done();
                                         return true;
                                       });
    });
  }

  Status Start() override {
    if (!bound_) WAVEBOT_RETURN_IF_ERROR(Bind());
    if (!RaiseListenBacklog(port_)) spdlog::warn("http: could not raise the listen backlog of port {}", port_);
    // The socket is already listening: connections made before the loop starts wait in the backlog.
    thread_ = std::thread([this] { svr_.listen_after_bind(); });
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

 private:
  httplib::Server::HandlerResponse PreRoute(const httplib::Request& req, httplib::Response& res) {
    auto reject = [&](int status, const std::string& line) {
      Response out;
      out.Text(status, line);
      out.headers.emplace_back("Connection", "close");
      stop_reading_after_response = true;  // the body is never read
      Apply(out, res);
      return httplib::Server::HandlerResponse::Handled;
    };
    std::string encoding = req.get_header_value("Content-Encoding");
    if (!encoding.empty() && !EqualsIgnoreCase(encoding, "identity")) {
      return reject(415, "compressed request bodies are not accepted (Content-Encoding: " + encoding + ")");
    }
    if (req.has_header("Content-Length")) {
      const std::string& v = req.get_header_value("Content-Length");
      char* end = nullptr;
      errno = 0;
      unsigned long long n = std::strtoull(v.c_str(), &end, 10);
      if (v.empty() || *end != '\0' || errno == ERANGE) return reject(400, "invalid Content-Length");
      if (n > static_cast<unsigned long long>(options_.max_body_bytes)) {
        return reject(413, "request body larger than " + std::to_string(options_.max_body_bytes) + " bytes");
      }
    }
    return httplib::Server::HandlerResponse::Unhandled;
  }

  const ServerOptions options_;
  httplib::Server svr_;
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
