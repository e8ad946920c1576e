// The HTTP server every wavebot endpoint is registered on (webhook ingress, health, metrics, and later
// the dashboard and /api/...). A narrow wrapper over cpp-httplib so that callers never include
// httplib.h, and so that every route gets the same protections:
//   - request bodies are bounded before they are read: a Content-Length over the limit is refused with
//     413 before any byte is read, and chunked or length-less bodies are read through a content reader
//     that stops at the limit (cpp-httplib 0.11.4 itself only caps bodies with Content-Length);
//   - a compressed request body (any Content-Encoding but identity) is refused with 415 before it is
//     read, so no decompression bomb is ever inflated;
//   - TCP_NODELAY, and a thread pool that grows with the number of open connections (up to a cap), so
//     idle keep-alive connections cannot starve new ones.
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
};

// Splits "host:port". Errors: kInvalidArgument naming the value.
Result<std::pair<std::string, int>> ParseListen(const std::string& listen);

class Server {
 public:
  virtual ~Server() = default;

  // Registers a handler for an exact path (or a std::regex pattern). Call before Start.
  virtual void Get(const std::string& pattern, Handler handler) = 0;
  virtual void Post(const std::string& pattern, Handler handler) = 0;
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
};

std::unique_ptr<Server> NewServer(ServerOptions options);

}  // namespace wavebot::http
