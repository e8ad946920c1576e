// GuardedStream's held headers: an answer with a body goes out in one send (one segment, one wake-up of
// the client), and nothing held is ever left behind (HEAD, an unused hold).
#include "http/guarded_stream.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "http/raw_socket.h"
#include "http/server.h"

namespace wavebot::http {
namespace {

// Two connected sockets, made before the stream that writes to the first.
struct SocketPair {
  SocketPair() { EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0); }
  ~SocketPair() {
    ::close(fds[0]);
    ::close(fds[1]);
  }
  int fds[2] = {-1, -1};
};

class HeldWriteTest : public ::testing::Test {
 protected:
  // What the peer can read right now, without waiting.
  std::string Arrived() {
    std::string out;
    char buf[4096];
    for (;;) {
      pollfd p{fds_[1], POLLIN, 0};
      if (::poll(&p, 1, 0) <= 0) return out;
      ssize_t n = ::recv(fds_[1], buf, sizeof(buf), 0);
      if (n <= 0) return out;
      out.append(buf, static_cast<size_t>(n));
    }
  }
  SocketPair pair_;
  const int* fds_ = pair_.fds;
  GuardedStream strm_{pair_.fds[0], StreamLimits{}};
};

TEST_F(HeldWriteTest, HeldHeadersGoOutWithTheBodyInOneSend) {
  const std::string headers = "HTTP/1.1 202 Accepted\r\nContent-Length: 4\r\n\r\n";
  strm_.HoldNextWrite();
  EXPECT_EQ(strm_.write(headers.data(), headers.size()), static_cast<ssize_t>(headers.size()));
  EXPECT_EQ(Arrived(), "") << "held";
  EXPECT_EQ(strm_.write("body", 4), 4);
  // One send: a single read of the peer's side has both (a stream socket pair keeps one send whole).
  char buf[256];
  ssize_t n = ::recv(fds_[1], buf, sizeof(buf), 0);
  ASSERT_GT(n, 0);
  EXPECT_EQ(std::string(buf, static_cast<size_t>(n)), headers + "body");
  EXPECT_TRUE(strm_.Flush());
  EXPECT_EQ(Arrived(), "");
  EXPECT_EQ(strm_.write("next", 4), 4);  // one hold per answer: the next write goes at once
  EXPECT_EQ(Arrived(), "next");
}

TEST_F(HeldWriteTest, WhatIsHeldIsSentByFlushAndAnUnusedHoldEndsWithItsRequest) {
  strm_.HoldNextWrite();
  EXPECT_EQ(strm_.write("headers", 7), 7);
  EXPECT_EQ(Arrived(), "");
  EXPECT_TRUE(strm_.Flush());
  EXPECT_EQ(Arrived(), "headers");

  strm_.HoldNextWrite();  // an answer that wrote nothing
  strm_.BeginRequest();
  EXPECT_EQ(strm_.write("streamed", 8), 8);
  EXPECT_EQ(Arrived(), "streamed");
}

// Through the server: an answer's headers and body come together, and a HEAD request, whose answer has
// headers only, gets them (flushed once the answer is written) on a connection that stays usable.
TEST(ServerHeldWriteTest, HeadAnswersAreNotHeldBack) {
  auto server = NewServer({.port = 0});
  server->Get("/ping", [](const Request&, Response* res) { res->Text(200, "pong"); });
  ASSERT_TRUE(server->Start().ok());
  wavebot::testing::RawSocket s(server->port());
  ASSERT_TRUE(s.connected());
  ASSERT_TRUE(s.Send("HEAD /ping HTTP/1.1\r\nHost: x\r\n\r\n"));
  std::string head = s.ReadUntil("\r\n\r\n", std::chrono::seconds(10));
  EXPECT_EQ(head.rfind("HTTP/1.1 200", 0), 0u) << head;
  EXPECT_EQ(head.find("pong"), std::string::npos);
  ASSERT_TRUE(s.Send("GET /ping HTTP/1.1\r\nHost: x\r\n\r\n"));
  std::string get = s.ReadUntil("pong", std::chrono::seconds(10));
  EXPECT_EQ(get.rfind("HTTP/1.1 200", 0), 0u) << get;
  EXPECT_NE(get.find("\r\n\r\npong"), std::string::npos) << get;
  server->Stop();
}

}  // namespace
}  // namespace wavebot::http
