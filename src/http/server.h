// An HTTP listener of wavebot: the public one (webhook ingress, health, the runners' API) or the
// private one (dashboard, JSON API, metrics). A narrow wrapper over cpp-httplib so that callers never
// include httplib.h, and so that every route gets the same protections (docs/reliability.md, "Budgets
// of the listeners"):
//   - the request line and headers are bounded in size and count (431), and each request has a total
//     deadline from its first byte until its body is read (408), not only a timeout per read;
//   - request bodies are bounded before they are read: a Content-Length over the limit is refused with
//     413 before any byte is read, and chunked or length-less bodies are read through a content reader
//     that stops at the limit (cpp-httplib 0.11.4 itself only caps bodies with Content-Length); only
//     POST routes take a body;
//   - the bodies held in memory across all connections are within a budget: a request that would
//     exceed it is answered 503 with Retry-After before its body is read (GitHub redelivers);
//   - a compressed request body (any Content-Encoding but identity) is refused with 415 before it is
//     read, so no decompression bomb is ever inflated;
//   - connections per client address are capped (503 with Retry-After beyond), and a connection that
//     waited too long for a worker is answered 503 at once;
//   - TCP_NODELAY, and a thread pool that grows with the number of open connections (up to a cap), so
//     idle keep-alive connections cannot starve new ones;
//   - optionally, every request needs a token (Authorization: Bearer, or Basic with the token as the
//     password): 401 without one, 403 with a wrong one.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/result.h"

namespace wavebot::http {

struct Request {
  std::string method;
  std::string path;
  std::string body;  // complete, at most max_body_bytes
  std::string remote_addr;
  // Header names as sent; use Header() for a case-insensitive lookup.
  std::vector<std::pair<std::string, std::string>> headers;
  std::multimap<std::string, std::string> params;  // query string

  // The first value of header `name` (case-insensitive), "" when absent.
  std::string Header(const std::string& name) const;
  bool HasHeader(const std::string& name) const;
  // The first value of query parameter `name`, "" when absent.
  std::string Param(const std::string& name) const;
  bool HasParam(const std::string& name) const;
};

struct Response {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;

  // Sets status and a one-line text body (a newline is appended).
  void Text(int code, const std::string& line);
  void Json(int code, std::string json_text);
};

// Handlers run on server threads, concurrently; they must be thread-safe.
using Handler = std::function<void(const Request&, Response*)>;
// Returns true to go on, or fills the response and returns false.
using Precheck = std::function<bool(const Request&, Response*)>;

// Where a streaming handler writes its body (Server-Sent Events and the like). Used only on the thread
// that runs the stream.
class StreamWriter {
 public:
  virtual ~StreamWriter() = default;
  // Sends `data` to the client at once. False when the client has gone, the server is stopping or the
  // stream has outlived its time limit: the stream function should then return.
  virtual bool Write(const std::string& data) = 0;
  // Waits up to `d`; returns early, with false, when the server is stopping or the time limit is reached.
  virtual bool Wait(std::chrono::milliseconds d) = 0;
};
using StreamFn = std::function<void(StreamWriter*)>;
// A streaming route: the handler fills `response` (status, content type, headers; a body only when it
// does not stream) and sets `*stream` to stream instead. The stream function runs on the server thread
// until it returns, which it must do once Write or Wait returns false; the body then ends.
using StreamHandler = std::function<void(const Request&, Response* response, StreamFn* stream)>;

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;                            // 0: any free port (see Server::port())
  int64_t max_body_bytes = 25 * 1024 * 1024;  // GitHub caps webhook payloads at 25 MiB
  int min_threads = 8;                        // always-running workers
  int max_threads = 1024;                     // at most this many connections are served at once
  std::chrono::seconds keep_alive_timeout{5};
  int keep_alive_max_requests = 10000;
  std::chrono::seconds read_timeout{10};
  std::chrono::seconds write_timeout{10};
  std::chrono::seconds max_stream_duration{600};  // a stream is ended after this (clients reconnect)
  // Budgets (see the top of this file).
  std::string name = "http";                      // in logs: "public", "dashboard"
  int64_t max_header_bytes = 16 * 1024;           // request line + headers
  int max_header_count = 100;
  std::chrono::seconds request_timeout{30};       // first byte of a request until its body is read
  int64_t max_body_bytes_in_flight = 64 * 1024 * 1024;  // <= 0: unlimited
  int max_connections_per_address = 64;           // <= 0: unlimited
  std::chrono::seconds max_queue_wait{5};         // a connection waiting longer for a worker gets 503
  int max_streams = 32;                           // open streams at once; more get 503
  int retry_after_seconds = 10;                   // in every 503 of these budgets
  // When set, every request must carry one of `access_tokens` (see the top of this file); with no
  // tokens every request is refused.
  bool require_token = false;
  std::vector<std::string> access_tokens{};
};

// Splits "host:port". Errors: kInvalidArgument naming the value.
Result<std::pair<std::string, int>> ParseListen(const std::string& listen);

class Server {
 public:
  virtual ~Server() = default;

  // Registers a handler for an exact path (or a std::regex pattern). Call before Start.
  virtual void Get(const std::string& pattern, Handler handler) = 0;
  // `before_body`, when set, sees the request without its body first (method, path, headers) and may
  // answer it instead (returning false), so that the body is never read; e.g. the ingress refuses an
  // unsigned POST before reading what it declares.
  virtual void Post(const std::string& pattern, Handler handler, Precheck before_body = {}) = 0;
  // A GET route whose answer may be streamed (see StreamHandler). Streams end when Stop() is called, so
  // an open stream never holds up shutdown.
  virtual void GetStream(const std::string& pattern, StreamHandler handler) = 0;

  // Binds and listens without serving yet (connections wait in the backlog), so that a process can
  // claim its port before slower start-up work. Errors: kUnavailable "cannot listen on H:P: <reason>"
  // (port in use, permission denied, bad address).
  virtual Status Bind() = 0;
  // Binds if not yet bound, then serves on a background thread. Errors: as Bind.
  virtual Status Start() = 0;
  // The bound port (useful with port 0). Valid after a successful Start.
  virtual int port() const = 0;
  // Stops accepting, ends open streams, lets in-flight requests finish, closes idle keep-alive
  // connections, and joins every server thread. Idempotent; thread-safe.
  virtual void Stop() = 0;
  // Connections being served right now (for tests and metrics).
  virtual int active_connections() const = 0;
  // Request-body bytes reserved right now, against max_body_bytes_in_flight (for tests and metrics).
  virtual int64_t body_bytes_in_flight() const = 0;
};

std::unique_ptr<Server> NewServer(ServerOptions options);

}  // namespace wavebot::http
