// The TCP connection libgit2 talks to a git server over (plain HTTP, and under TLS for HTTPS).
//
// libgit2's own socket stream leaves Nagle's algorithm on and has no timeouts. Its HTTP client writes
// a chunked body as three writes per chunk (size line, data, CRLF), so every push and fetch body
// waited for the server's delayed ACK (~40 ms on Linux) before its second write left; and a server
// that stops answering held the run forever. This stream sets TCP_NODELAY, gives up on a connect
// after `connect_timeout` and on a connection that moves no byte either way for `io_timeout`.
#pragma once

#include <chrono>

namespace wavebot::git {

struct SocketStreamOptions {
  std::chrono::milliseconds connect_timeout{30'000};
  // No byte read or written for this long: the server is taken for gone. Generous, because a server
  // may think for a while before answering a large push or fetch.
  std::chrono::milliseconds io_timeout{300'000};
};

// Registers the stream with libgit2 for every connection made from now on (plain and, beneath TLS,
// encrypted). Called by EnsureLibgit2 with the defaults; a later call changes the timeouts.
void RegisterSocketStream(const SocketStreamOptions& options);

}  // namespace wavebot::git
