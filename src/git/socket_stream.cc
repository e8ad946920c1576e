#include "git/socket_stream.h"

#include <fcntl.h>
#include <git2.h>
#include <git2/sys/stream.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <string>
#include <type_traits>

namespace wavebot::git {

namespace {

std::atomic<long long> g_connect_ms{30'000};
std::atomic<long long> g_io_ms{300'000};

struct Conn {
  std::string host, port;
  int fd = -1;
  int connect_ms = 0, io_ms = 0;
};

// Standard layout, the git_stream first: libgit2 hands back a git_stream* that is this object.
struct Stream {
  git_stream parent;
  Conn* conn;
};
static_assert(std::is_standard_layout_v<Stream>);

Conn* Self(git_stream* s) { return reinterpret_cast<Stream*>(s)->conn; }

int Fail(const std::string& message) {
  git_error_set_str(GIT_ERROR_NET, message.c_str());
  return -1;
}

std::string Where(const Conn& s) { return s.host + ":" + s.port; }

std::string Span(int ms) {
  return ms % 1000 == 0 ? std::to_string(ms / 1000) + " s" : std::to_string(ms) + " ms";
}

// Waits until `fd` is ready for `events`; false (errno ETIMEDOUT) when `ms` passed without it.
bool WaitFor(int fd, short events, int ms) {
  pollfd p{fd, events, 0};
  for (;;) {
    int rc = ::poll(&p, 1, ms);
    if (rc > 0) return true;
    if (rc == 0) {
      errno = ETIMEDOUT;
      return false;
    }
    if (errno != EINTR) return false;
  }
}

// One address: a non-blocking connect bounded by the connect timeout.
int ConnectOne(const addrinfo* ai, int ms) {
  int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
  if (fd < 0) return -1;
  if (::connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
    if (errno != EINPROGRESS || !WaitFor(fd, POLLOUT, ms)) {
      int saved = errno;
      ::close(fd);
      errno = saved;
      return -1;
    }
    int err = 0;
    socklen_t len = sizeof(err);
    if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
      ::close(fd);
      errno = err != 0 ? err : errno;
      return -1;
    }
  }
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return fd;
}

int Connect(git_stream* gs) {
  Conn* s = Self(gs);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* list = nullptr;
  if (int rc = ::getaddrinfo(s->host.c_str(), s->port.c_str(), &hints, &list); rc != 0) {
    return Fail("cannot resolve " + s->host + ": " + ::gai_strerror(rc));
  }
  int err = 0;
  for (addrinfo* ai = list; ai != nullptr && s->fd < 0; ai = ai->ai_next) {
    s->fd = ConnectOne(ai, s->connect_ms);
    if (s->fd < 0) err = errno;
  }
  ::freeaddrinfo(list);
  if (s->fd >= 0) return 0;
  if (err == ETIMEDOUT) {
    return Fail("cannot connect to " + Where(*s) + ": no answer within " + Span(s->connect_ms));
  }
  return Fail("cannot connect to " + Where(*s) + ": " + std::strerror(err));
}

// Waits until the connection can be read (POLLIN) or written (POLLOUT); -1, with libgit2's error set,
// when it could not within the idle timeout.
int Await(const Conn& s, short events) {
  if (WaitFor(s.fd, events, s.io_ms)) return 0;
  const bool reading = events == POLLIN;
  if (errno == ETIMEDOUT) {
    return Fail("the git server " + Where(s) + (reading ? " sent nothing for " : " took nothing for ") +
                Span(s.io_ms) + "; giving up on the connection");
  }
  return Fail(std::string(reading ? "reading from " : "writing to ") + Where(s) + ": " +
              std::strerror(errno));
}

ssize_t Read(git_stream* gs, void* data, size_t len) {
  Conn* s = Self(gs);
  for (;;) {
    ssize_t n = ::recv(s->fd, data, len, 0);
    if (n >= 0) return n;
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK)
      return Fail("reading from " + Where(*s) + ": " + std::strerror(errno));
    if (Await(*s, POLLIN) != 0) return -1;
  }
}

// Writes all of `data` (libgit2's callers expect a short write only on error).
ssize_t Write(git_stream* gs, const char* data, size_t len, int) {
  Conn* s = Self(gs);
  size_t done = 0;
  while (done < len) {
    ssize_t n = ::send(s->fd, data + done, len - done, MSG_NOSIGNAL);
    if (n > 0) {
      done += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
      return Fail("writing to " + Where(*s) + ": " + std::strerror(errno));
    }
    if (Await(*s, POLLOUT) != 0) return -1;
  }
  return static_cast<ssize_t>(done);
}

int Close(git_stream* gs) {
  Conn* s = Self(gs);
  if (s->fd >= 0) {
    ::close(s->fd);
    s->fd = -1;
  }
  return 0;
}

void Free(git_stream* gs) {
  Close(gs);
  delete Self(gs);
  delete reinterpret_cast<Stream*>(gs);
}

int Init(git_stream** out, const char* host, const char* port) {
  auto* s = new Stream{};
  s->parent.version = GIT_STREAM_VERSION;
  s->parent.connect = Connect;
  s->parent.read = Read;
  s->parent.write = Write;
  s->parent.close = Close;
  s->parent.free = Free;
  s->conn = new Conn{host, port, -1, static_cast<int>(g_connect_ms.load()), static_cast<int>(g_io_ms.load())};
  *out = &s->parent;
  return 0;
}

}  // namespace

void RegisterSocketStream(const SocketStreamOptions& options) {
  g_connect_ms = options.connect_timeout.count();
  g_io_ms = options.io_timeout.count();
  git_stream_registration reg{};
  reg.version = GIT_STREAM_VERSION;
  reg.init = Init;
  git_stream_register(GIT_STREAM_STANDARD, &reg);
}

}  // namespace wavebot::git
