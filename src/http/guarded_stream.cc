#include "http/guarded_stream.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace wavebot::http {
namespace {

using Clock = std::chrono::steady_clock;

int PollFor(int sock, short events, std::chrono::milliseconds timeout) {
  pollfd p{sock, events, 0};
  int ms = static_cast<int>(std::max<int64_t>(timeout.count(), 0));
  for (;;) {
    int rc = ::poll(&p, 1, ms);
    if (rc < 0 && errno == EINTR) continue;
    if (rc <= 0) return rc;
    return (p.revents & events) ? 1 : (p.revents & (POLLHUP | POLLERR)) ? 1 : 0;
  }
}

bool SendAll(int sock, const std::string& data, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  size_t off = 0;
  while (off < data.size()) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0 || PollFor(sock, POLLOUT, left) <= 0) return false;
    ssize_t n = ::send(sock, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

std::string Answer(int status, const char* reason, const std::string& line, int retry_after_s) {
  const std::string body = line + "\n";
  std::string out = "HTTP/1.1 " + std::to_string(status) + " " + reason +
                    "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n";
  if (retry_after_s > 0) out += "Retry-After: " + std::to_string(retry_after_s) + "\r\n";
  out += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  return out;
}

void AddressOf(const sockaddr_storage& addr, std::string& ip, int& port) {
  char host[INET6_ADDRSTRLEN] = {0};
  if (addr.ss_family == AF_INET) {
    const auto* a = reinterpret_cast<const sockaddr_in*>(&addr);
    inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
    port = ntohs(a->sin_port);
  } else if (addr.ss_family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(&addr);
    inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
    port = ntohs(a->sin6_port);
  }
  ip = host;
}

}  // namespace

void WriteRefusal(int sock, int status, const char* reason, const std::string& line, int retry_after_s,
                  std::chrono::milliseconds timeout) {
  SendAll(sock, Answer(status, reason, line, retry_after_s), timeout);
}

GuardedStream::GuardedStream(int sock, StreamLimits limits) : sock_(sock), limits_(limits) { BeginRequest(); }

bool GuardedStream::WaitForRequest(std::chrono::milliseconds idle, const std::function<bool()>& stopping) {
  if (buf_pos_ < buf_len_) return true;  // a pipelined request is already here
  const auto until = Clock::now() + idle;
  while (!stopping()) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now());
    if (left.count() <= 0) return false;
    int rc = PollFor(sock_, POLLIN, std::min(left, std::chrono::milliseconds(100)));
    if (rc < 0) return false;
    if (rc > 0) {
      char c;
      ssize_t n = ::recv(sock_, &c, 1, MSG_PEEK);
      return n > 0;  // 0: the client closed
    }
  }
  return false;
}

void GuardedStream::BeginRequest() {
  deadline_ = Clock::now() + limits_.request_timeout;
  in_headers_ = true;
  header_bytes_ = 0;
  header_lines_ = 0;
  line_len_ = 0;
  line_is_cr_ = false;
  wrote_ = false;
  hold_next_ = false;  // a hold the last answer did not use (it wrote nothing) ends with it
}

bool GuardedStream::WaitReadable() const {
  // Rounded up, so that a wait that ends for the deadline ends after it.
  auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline_ - Clock::now());
  if (left.count() <= 0) return false;
  return PollFor(sock_, POLLIN, std::min(left, limits_.read_timeout)) > 0;
}

bool GuardedStream::is_readable() const { return buf_pos_ < buf_len_ || WaitReadable(); }

bool GuardedStream::is_writable() const {
  pollfd p{sock_, POLLOUT, 0};
  int rc = ::poll(&p, 1, static_cast<int>(limits_.write_timeout.count()));
  return rc > 0 && (p.revents & POLLOUT) && !(p.revents & (POLLHUP | POLLERR));
}

void GuardedStream::Refuse(int status, const char* reason, const std::string& line) {
  if (refused_) return;
  refused_ = true;
  if (!wrote_) SendAll(sock_, Answer(status, reason, line, 0), limits_.write_timeout);
  wrote_ = true;
}

bool GuardedStream::TrackHeaderByte(char c) {
  if (++header_bytes_ > limits_.max_header_bytes) {
    Refuse(431, "Request Header Fields Too Large",
           "request line and headers larger than " + std::to_string(limits_.max_header_bytes) + " bytes");
    return false;
  }
  if (c != '\n') {
    line_is_cr_ = line_len_ == 0 && c == '\r';
    ++line_len_;
    return true;
  }
  // The end of a line: the request line first, then headers until a line that is exactly "\r\n".
  if (header_lines_ > 0 && line_is_cr_ && line_len_ == 1) {
    in_headers_ = false;
    return true;
  }
  if (++header_lines_ > limits_.max_header_count + 1) {
    Refuse(431, "Request Header Fields Too Large",
           "more than " + std::to_string(limits_.max_header_count) + " header lines");
    return false;
  }
  line_len_ = 0;
  line_is_cr_ = false;
  return true;
}

ssize_t GuardedStream::read(char* ptr, size_t size) {
  if (refused_ || size == 0) return -1;
  if (buf_pos_ >= buf_len_) {
    auto timed_out = [&] {
      Refuse(408, "Request Timeout",
             "request not received within " + std::to_string(limits_.request_timeout.count() / 1000) + " s");
      return -1;
    };
    if (Clock::now() >= deadline_) return timed_out();
    // What has arrived is taken without a poll first (one system call, not two, per read); only when
    // nothing is there does the read wait, up to the read timeout and the request's deadline.
    auto take = [&] {
      ssize_t got;
      do {
        got = ::recv(sock_, buf_, sizeof(buf_), MSG_DONTWAIT);
      } while (got < 0 && errno == EINTR);
      return got;
    };
    ssize_t n = take();
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (!WaitReadable()) {
        if (Clock::now() >= deadline_) return timed_out();  // else: the read timeout, or the client went
        return -1;
      }
      n = take();
    }
    if (n <= 0) return -1;
    buf_pos_ = 0;
    buf_len_ = static_cast<size_t>(n);
  }
  size_t n = std::min(size, buf_len_ - buf_pos_);
  if (in_headers_) {
    // Hand out header bytes only up to the end of the headers, so that the body is never counted.
    size_t i = 0;
    while (i < n && in_headers_) {
      if (!TrackHeaderByte(buf_[buf_pos_ + i])) return -1;
      ++i;
    }
    n = i;
  }
  std::copy(buf_ + buf_pos_, buf_ + buf_pos_ + n, ptr);
  buf_pos_ += n;
  return static_cast<ssize_t>(n);
}

bool GuardedStream::Flush() {
  if (held_.empty()) return true;
  const bool sent = SendAll(sock_, held_, limits_.write_timeout);
  held_.clear();
  return sent;
}

ssize_t GuardedStream::write(const char* ptr, size_t size) {
  if (refused_) return -1;
  wrote_ = true;
  if (hold_next_) {
    hold_next_ = false;
    held_.assign(ptr, size);
    return static_cast<ssize_t>(size);
  }
  if (!held_.empty()) {
    // The held headers and this write in one send; what the socket did not take goes out as before.
    iovec iov[2] = {{held_.data(), held_.size()}, {const_cast<char*>(ptr), size}};
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = 2;
    ssize_t n;
    do {
      n = ::sendmsg(sock_, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    } while (n < 0 && errno == EINTR);
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) return -1;
    const size_t taken = n < 0 ? 0 : static_cast<size_t>(n), held = held_.size();
    if (taken < held) {
      held_.erase(0, taken);
      if (!Flush()) return -1;
    } else {
      held_.clear();
      if (taken > held) return static_cast<ssize_t>(taken - held);
    }
  }
  // Sent at once when the socket has room (the usual case); only a full buffer waits, up to the write
  // timeout.
  auto give = [&] {
    ssize_t sent;
    do {
      sent = ::send(sock_, ptr, size, MSG_NOSIGNAL | MSG_DONTWAIT);
    } while (sent < 0 && errno == EINTR);
    return sent;
  };
  ssize_t n = give();
  if (n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) return n;
  if (PollFor(sock_, POLLOUT, limits_.write_timeout) <= 0) return -1;
  return give();
}

void GuardedStream::LingeringShutdown() {
  (void)Flush();
  ::shutdown(sock_, SHUT_WR);
  const auto until = Clock::now() + std::chrono::milliseconds(200);
  int64_t dropped = 0;
  char drain[4096];
  while (dropped < 256 * 1024) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now());
    if (left.count() <= 0 || PollFor(sock_, POLLIN, left) <= 0) break;
    ssize_t n = ::recv(sock_, drain, sizeof(drain), 0);
    if (n <= 0) break;
    dropped += n;
  }
}

// Both ends of a connection stay what they were: asked once per connection, not once per request.
void GuardedStream::End::Get(int sock, int (*ask)(int, sockaddr*, socklen_t*), std::string& ip_out, int& port_out) {
  if (!known) {
    sockaddr_storage addr{};
    socklen_t len = sizeof(addr);
    if (ask(sock, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return;
    AddressOf(addr, ip, port);
    known = true;
  }
  ip_out = ip;
  port_out = port;
}

void GuardedStream::get_remote_ip_and_port(std::string& ip, int& port) const {
  remote_.Get(sock_, ::getpeername, ip, port);
}

void GuardedStream::get_local_ip_and_port(std::string& ip, int& port) const {
  local_.Get(sock_, ::getsockname, ip, port);
}

}  // namespace wavebot::http
