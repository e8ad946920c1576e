// The socket stream every request on a wavebot listener is read through (internal to src/http: it is
// an httplib::Stream). cpp-httplib 0.11.4 is a compiled library (libcpp-httplib.so), so its
// CPPHTTPLIB_* limits are fixed at Debian's values, and its line reader buffers a whole header line
// before any length check (a 300 MiB header line is 300 MiB of memory). It lets a subclass of
// httplib::Server serve a connection through its own Stream, though; this one enforces what the library
// cannot, below its parser:
//   - the request line and headers together at most `max_header_bytes`, at most `max_header_count`
//     header lines: over either, 431 is written and the connection closed before more is read;
//   - a total deadline per request, from its first byte until its body has been read (not only a
//     timeout per read, which a client sending a byte every few seconds never hits): over it, 408;
//   - reads and writes each wait at most the read / write timeout.
#pragma once

#include <httplib.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

namespace wavebot::http {

struct StreamLimits {
  int64_t max_header_bytes = 16 * 1024;
  int max_header_count = 100;
  std::chrono::milliseconds request_timeout{30'000};
  std::chrono::milliseconds read_timeout{10'000};
  std::chrono::milliseconds write_timeout{10'000};
};

class GuardedStream final : public httplib::Stream {
 public:
  // Does not own `sock`.
  GuardedStream(int sock, StreamLimits limits);

  // Waits up to `idle` for the next request's first byte. False when the client closed, nothing came,
  // or `stopping()` turned true (polled every 100 ms).
  bool WaitForRequest(std::chrono::milliseconds idle, const std::function<bool()>& stopping);
  // Starts a request: its header limits and its deadline count from now.
  void BeginRequest();
  // True when this stream answered the request itself (431, 408) and the connection must close.
  bool refused() const { return refused_; }
  // A handler asks that the connection be closed after its answer (its body was left unread).
  void CloseAfterResponse() { close_after_response_ = true; }
  bool close_after_response() const { return close_after_response_; }
  // Half-closes our side, then reads and drops what the client still sends for a moment (at most
  // 256 KiB or 200 ms) so that it sees our answer rather than a reset. Does not close the socket.
  void LingeringShutdown();
  // The answer being made has a body written after its headers (not a stream): the next write (its
  // headers) is held and goes out with the body's in one send, as one segment — one system call and one
  // wake-up of the client per answer, not two. Flush sends whatever is still held (call it once the
  // answer is written; LingeringShutdown does too). False when the send failed.
  void HoldNextWrite() { hold_next_ = true; }
  bool Flush();

  // httplib::Stream
  bool is_readable() const override;
  bool is_writable() const override;
  ssize_t read(char* ptr, size_t size) override;
  ssize_t write(const char* ptr, size_t size) override;
  void get_remote_ip_and_port(std::string& ip, int& port) const override;
  void get_local_ip_and_port(std::string& ip, int& port) const override;
  socket_t socket() const override { return sock_; }

 private:
  // Waits for input until the earlier of the read timeout and the request's deadline.
  bool WaitReadable() const;
  // Feeds one delivered header byte to the limits; false (after answering 431) when over one.
  bool TrackHeaderByte(char c);
  // Writes a complete answer with Connection: close, once, and marks the stream refused.
  void Refuse(int status, const char* reason, const std::string& line);

  const int sock_;
  const StreamLimits limits_;
  char buf_[16384];  // a typical delivery (headers and a ~13 KB payload) in one read
  // The connection's two ends, asked of the kernel once (getpeername, getsockname).
  struct End {
    bool known = false;
    std::string ip;
    int port = 0;
    void Get(int sock, int (*ask)(int, sockaddr*, socklen_t*), std::string& ip_out, int& port_out);
  };
  mutable End remote_, local_;
  size_t buf_pos_ = 0, buf_len_ = 0;
  // Per request.
  std::chrono::steady_clock::time_point deadline_;
  bool in_headers_ = true;
  int64_t header_bytes_ = 0;
  int header_lines_ = 0;
  int64_t line_len_ = 0;
  bool line_is_cr_ = false;  // the current line so far is exactly "\r"
  bool wrote_ = false;       // a byte of the answer has been written
  bool refused_ = false;
  bool close_after_response_ = false;
  bool hold_next_ = false;
  std::string held_;  // an answer's headers, held for its body (HoldNextWrite)
};

// Writes a whole one-line answer `status reason` with Connection: close (and Retry-After when
// `retry_after_s` > 0) directly to `sock`, waiting at most `timeout` to write. For refusals made before
// any request is read (too many connections from one address, a queue wait too long).
void WriteRefusal(int sock, int status, const char* reason, const std::string& line, int retry_after_s,
                  std::chrono::milliseconds timeout);

}  // namespace wavebot::http
