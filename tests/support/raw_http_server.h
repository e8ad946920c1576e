// A scripted HTTP/1.1 server on 127.0.0.1 that writes exactly the bytes a test gives it, for the
// behaviours a well-mannered server library never shows: a 304 or 204 without Content-Length on a
// connection kept open, a connection closed without notice after an answer, a request carried out
// and then never answered. Test-only; thread-safe.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace wavebot::testing {

struct RawRequest {
  int connection = 0;  // 1-based index of the TCP connection it came on
  std::string method, path, body;
  std::map<std::string, std::string> headers;  // keys lower-case
  std::string Header(const std::string& lower) const {
    auto it = headers.find(lower);
    return it == headers.end() ? std::string() : it->second;
  }
};

struct RawAnswer {
  enum class After { kKeepOpen, kClose };
  std::string bytes;  // written verbatim: status line, headers, blank line, body
  After after = After::kKeepOpen;
  bool drop = false;  // close the connection without writing anything
  bool hang = false;  // write nothing and keep the connection open until the server stops
};

// "HTTP/1.1 <status> <reason>\r\n" + headers + "\r\n" + body. Content-Length is added only when
// `length` is true.
inline std::string RawResponse(int status, const std::string& reason, const std::string& body,
                               const std::vector<std::string>& headers = {}, bool length = true) {
  std::string out = "HTTP/1.1 " + std::to_string(status) + " " + reason + "\r\n";
  for (const auto& h : headers) out += h + "\r\n";
  if (length) out += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  return out + "\r\n" + body;
}

class RawHttpServer {
 public:
  using Handler = std::function<RawAnswer(const RawRequest&)>;

  explicit RawHttpServer(Handler handler) : handler_(std::move(handler)) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    ::listen(listen_fd_, 64);
    socklen_t len = sizeof(addr);
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    accept_thread_ = std::thread([this] { AcceptLoop(); });
  }
  ~RawHttpServer() {
    stopping_ = true;
    ::shutdown(listen_fd_, SHUT_RDWR);
    accept_thread_.join();
    {
      std::lock_guard lock(mu_);
      for (int fd : open_fds_) ::shutdown(fd, SHUT_RDWR);
    }
    for (auto& t : conn_threads_) t.join();
    ::close(listen_fd_);
  }

  int port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::vector<RawRequest> requests() const {
    std::lock_guard lock(mu_);
    return requests_;
  }
  int connections() const { return connections_.load(); }
  // Waits (bounded) until at least `n` requests arrived.
  bool WaitForRequests(size_t n, std::chrono::milliseconds timeout = std::chrono::seconds(20)) const {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return requests_.size() >= n; });
  }

 private:
  void AcceptLoop() {
    while (!stopping_) {
      int fd = ::accept(listen_fd_, nullptr, nullptr);
      if (fd < 0) return;
      int index = ++connections_;
      std::lock_guard lock(mu_);
      open_fds_.push_back(fd);
      conn_threads_.emplace_back([this, fd, index] { Serve(fd, index); });
    }
  }

  // Reads one request; false when the peer closed or the server stops.
  bool ReadRequest(int fd, std::string* buffer, RawRequest* req) {
    size_t header_end;
    while ((header_end = buffer->find("\r\n\r\n")) == std::string::npos) {
      if (!ReadSome(fd, buffer)) return false;
    }
    std::string head = buffer->substr(0, header_end);
    size_t line_end = head.find("\r\n");
    std::string first = head.substr(0, line_end);
    size_t sp1 = first.find(' ');
    size_t sp2 = first.find(' ', sp1 + 1);
    req->method = first.substr(0, sp1);
    req->path = first.substr(sp1 + 1, sp2 - sp1 - 1);
    size_t pos = line_end == std::string::npos ? head.size() : line_end + 2;
    while (pos < head.size()) {
      size_t e = head.find("\r\n", pos);
      if (e == std::string::npos) e = head.size();
      std::string line = head.substr(pos, e - pos);
      size_t colon = line.find(':');
      if (colon != std::string::npos) {
        std::string k = line.substr(0, colon);
        std::transform(k.begin(), k.end(), k.begin(), [](unsigned char c) { return std::tolower(c); });
        size_t v = colon + 1;
        while (v < line.size() && line[v] == ' ') ++v;
        req->headers[k] = line.substr(v);
      }
      pos = e + 2;
    }
    size_t length = req->headers.count("content-length") ? std::stoul(req->headers["content-length"]) : 0;
    size_t body_start = header_end + 4;
    while (buffer->size() < body_start + length) {
      if (!ReadSome(fd, buffer)) return false;
    }
    req->body = buffer->substr(body_start, length);
    buffer->erase(0, body_start + length);
    return true;
  }

  bool ReadSome(int fd, std::string* buffer) {
    char chunk[4096];
    ssize_t n = ::recv(fd, chunk, sizeof(chunk), 0);
    if (n <= 0) return false;
    buffer->append(chunk, static_cast<size_t>(n));
    return true;
  }

  void Serve(int fd, int index) {
    std::string buffer;
    while (!stopping_) {
      RawRequest req;
      req.connection = index;
      if (!ReadRequest(fd, &buffer, &req)) break;
      RawAnswer answer = handler_(req);
      {
        std::lock_guard lock(mu_);
        requests_.push_back(req);
      }
      cv_.notify_all();
      if (answer.drop) break;
      if (answer.hang) {
        while (!stopping_ && ReadSome(fd, &buffer)) {
        }
        break;
      }
      size_t sent = 0;
      while (sent < answer.bytes.size()) {
        ssize_t n = ::send(fd, answer.bytes.data() + sent, answer.bytes.size() - sent, MSG_NOSIGNAL);
        if (n <= 0) break;
        sent += static_cast<size_t>(n);
      }
      if (answer.after == RawAnswer::After::kClose) break;
    }
    ::shutdown(fd, SHUT_RDWR);
    std::lock_guard lock(mu_);
    open_fds_.erase(std::remove(open_fds_.begin(), open_fds_.end(), fd), open_fds_.end());
    ::close(fd);
  }

  Handler handler_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> connections_{0};
  std::thread accept_thread_;
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  std::vector<int> open_fds_;              // guarded by mu_
  std::vector<std::thread> conn_threads_;  // guarded by mu_ (joined after the accept thread ended)
  std::vector<RawRequest> requests_;       // guarded by mu_
};

}  // namespace wavebot::testing
