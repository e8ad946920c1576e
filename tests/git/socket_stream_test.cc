// The connections libgit2 makes to a git server (git/socket_stream.h): no Nagle delay, timeouts.
#include "git/socket_stream.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <git2.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "git/libgit2_util.h"
#include "git/test_util.h"
#include "git/workspace.h"
#include "sandbox/git_http_server.h"
#include "support/raw_http_server.h"

namespace wavebot::git {
namespace {

using wavebot::testing::RawAnswer;
using wavebot::testing::RawHttpServer;
using wavebot::testing::RawRequest;
using wavebot::testing::RawResponse;
using wavebot::testing::RunShell;
using wavebot::testing::ShellOutput;
using wavebot::testing::TempDir;

// The TCP_NODELAY setting of every socket of this process connected to 127.0.0.1:`port` (the client
// ends of the connections to a server the test runs in this process).
std::vector<int> NoDelayOfConnectionsTo(int port) {
  std::vector<int> out;
  DIR* d = ::opendir("/proc/self/fd");
  if (d == nullptr) return out;
  while (dirent* e = ::readdir(d)) {
    int fd = std::atoi(e->d_name);
    if (fd <= 2) continue;
    sockaddr_in peer{};
    socklen_t len = sizeof(peer);
    if (::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &len) != 0 || peer.sin_family != AF_INET)
      continue;
    if (ntohs(peer.sin_port) != port) continue;
    int value = -1;
    socklen_t vlen = sizeof(value);
    if (::getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &value, &vlen) == 0) out.push_back(value);
  }
  ::closedir(d);
  return out;
}

class GitConnectionTest : public ::testing::Test {
 protected:
  void TearDown() override { RegisterSocketStream(SocketStreamOptions{}); }

  std::unique_ptr<Workspace> Open(int port, const std::string& origin = "http://127.0.0.1") {
    std::filesystem::create_directories(tmp_.Dir() / "data");
    WorkspaceOptions o;
    o.data_dir = (tmp_.Dir() / "data").string();
    o.repo_key = "octo/demo";
    o.remote_url = origin + ":" + std::to_string(port) + "/octo/demo.git";
    o.token = "ghs_testtoken_0123456789abcdef";
    auto ws = OpenWorkspace(o);
    EXPECT_TRUE(ws.ok()) << ws.error().ToString();
    return ws.ok() ? std::move(*ws) : nullptr;
  }

  TempDir tmp_;
};

// libgit2 writes a request body in pieces (a chunk's size line, its data, its CRLF); with Nagle's
// algorithm on, each piece after the first waits for the server's delayed ACK (~40 ms on Linux).
TEST_F(GitConnectionTest, ConnectionsToTheGitServerSendEachWriteAtOnce) {
  std::atomic<int> port{0};
  std::vector<int> seen;
  std::mutex mu;
  RawHttpServer server([&](const RawRequest&) {
    auto values = NoDelayOfConnectionsTo(port);
    std::lock_guard lock(mu);
    seen.insert(seen.end(), values.begin(), values.end());
    return RawAnswer{RawResponse(404, "Not Found", "no such repository\n"), RawAnswer::After::kClose};
  });
  port = server.port();
  auto ws = Open(server.port());
  ASSERT_NE(ws, nullptr);
  Status st = ws->Fetch();
  EXPECT_FALSE(st.ok());
  std::lock_guard lock(mu);
  ASSERT_FALSE(seen.empty()) << "the server saw no connection from this process";
  for (int v : seen) EXPECT_NE(v, 0) << "a connection to the git server has Nagle's algorithm on";
}

TEST_F(GitConnectionTest, AServerThatStopsAnsweringFailsTheFetchWithAClearError) {
  RawHttpServer server([](const RawRequest&) {
    RawAnswer a;
    a.hang = true;
    return a;
  });
  auto ws = Open(server.port());
  ASSERT_NE(ws, nullptr);
  SocketStreamOptions short_wait;
  short_wait.io_timeout = std::chrono::milliseconds(300);
  RegisterSocketStream(short_wait);
  Status st = ws->Fetch();
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code(), ErrorCode::kUnavailable) << st.error().ToString();
  EXPECT_NE(st.error().message().find("sent nothing for 300 ms"), std::string::npos) << st.error().ToString();
  EXPECT_NE(st.error().message().find("127.0.0.1:" + std::to_string(server.port())), std::string::npos)
      << st.error().ToString();
}

TEST_F(GitConnectionTest, ARefusedConnectionNamesTheServer) {
  // A port bound but not listening: connects are refused, and no one else can take it meanwhile.
  int held = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(held, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(held, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(::getsockname(held, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const int port = ntohs(addr.sin_port);
  struct Close {
    int fd;
    ~Close() { ::close(fd); }
  } close_held{held};
  auto ws = Open(port);
  ASSERT_NE(ws, nullptr);
  Status st = ws->Fetch();
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code(), ErrorCode::kUnavailable) << st.error().ToString();
  EXPECT_NE(st.error().message().find("cannot connect to 127.0.0.1:" + std::to_string(port)),
            std::string::npos)
      << st.error().ToString();
}

// Every network error names the server, port included: a port with "401" in it (34015) is no
// authentication failure (the idle-timeout test above failed so on such a port, once in 70 runs).
TEST(GitErrorTest, A401InsideAPortIsNotAnAuthenticationFailure) {
  git_libgit2_init();
  git_error_set_str(GIT_ERROR_NET, "the git server 127.0.0.1:34015 sent nothing for 300 ms; giving up");
  EXPECT_EQ(GitError(-1, "fetch").code(), ErrorCode::kUnavailable);
  git_error_set_str(GIT_ERROR_NET, "cannot connect to 127.0.0.1:40123: Connection refused");
  EXPECT_EQ(GitError(-1, "fetch").code(), ErrorCode::kUnavailable);
  git_error_set_str(GIT_ERROR_NET, "cannot connect to example.com:401: Connection refused");
  EXPECT_EQ(GitError(-1, "fetch").code(), ErrorCode::kUnavailable);
  git_error_set_str(GIT_ERROR_HTTP, "unexpected http status code: 401");
  EXPECT_EQ(GitError(-1, "fetch").code(), ErrorCode::kUnauthenticated);
  git_error_set_str(GIT_ERROR_NET, "authentication required but no callback set");
  EXPECT_EQ(GitError(-1, "fetch").code(), ErrorCode::kUnauthenticated);
}

// GitHub is HTTPS: libgit2's TLS stream runs over the registered one. A real git http-backend behind a
// TLS server on loopback (a certificate made for the test and trusted by libgit2); "localhost" may
// resolve to ::1 first, where nothing listens, and the stream tries the next address.
TEST_F(GitConnectionTest, AFetchAndAPushOverHttpsGoThroughTheStream) {
  const std::filesystem::path dir = tmp_.path();
  ASSERT_EQ(RunShell("openssl req -x509 -newkey rsa:2048 -nodes -keyout " + (dir / "key.pem").string() +
                     " -out " + (dir / "cert.pem").string() +
                     " -days 1 -subj /CN=localhost -addext subjectAltName=DNS:localhost 2>/dev/null"),
            0);
  git_libgit2_init();  // the options need it; ctest runs this test alone in its process
  ASSERT_EQ(git_libgit2_opts(GIT_OPT_SET_SSL_CERT_LOCATIONS, (dir / "cert.pem").c_str(), nullptr), 0);
  std::filesystem::create_directories(dir / "server/octo");
  ASSERT_EQ(
      RunShell(
          "git init -q --bare -b main " + (dir / "server/octo/demo.git").string() +
          " && git init -q -b main " + (dir / "seed").string() + " && cd " + (dir / "seed").string() +
          " && echo one > README.md && git add -A && git -c user.name=t -c user.email=t@e commit -qm seed"
          " && git push -q " +
          (dir / "server/octo/demo.git").string() + " main"),
      0);
  std::atomic<int> port{0};
  std::vector<int> nodelay;
  std::mutex mu;
  sandbox::GitHttpOptions opt;
  opt.root = (dir / "server").string();
  opt.authorize = [&](const std::string& user, const std::string& password, const std::string&, bool) {
    auto values = NoDelayOfConnectionsTo(port);  // called while the request's connection is open
    std::lock_guard lock(mu);
    nodelay.insert(nodelay.end(), values.begin(), values.end());
    return user == "x-access-token" && password == "ghs_testtoken_0123456789abcdef";
  };
  httplib::SSLServer server((dir / "cert.pem").c_str(), (dir / "key.pem").c_str());
  ASSERT_TRUE(server.is_valid());
  sandbox::MountGitHttp(&server, "", opt);
  port = server.bind_to_any_port("127.0.0.1");
  ASSERT_GT(port.load(), 0);
  std::thread serving([&] { server.listen_after_bind(); });
  struct Stop {
    httplib::SSLServer& s;
    std::thread& t;
    ~Stop() {
      s.stop();
      t.join();
    }
  } stop{server, serving};

  auto ws = Open(port, "https://localhost");
  ASSERT_NE(ws, nullptr);
  TicketSpec spec;
  spec.ticket = 5;
  spec.branch = "wave/1-epic/5-ticket";
  spec.base_branch = "main";
  auto wt = ws->Acquire(spec);
  ASSERT_TRUE(wt.ok()) << wt.error().ToString();
  std::ofstream(std::filesystem::path((*wt)->path()) / "feature.txt") << "feature\n";
  auto head = (*wt)->CommitAll("Ticket 5");
  ASSERT_TRUE(head.ok()) << head.error().ToString();
  Status pushed = (*wt)->Push();
  ASSERT_TRUE(pushed.ok()) << pushed.error().ToString();
  EXPECT_EQ(ShellOutput("git --git-dir=" + (dir / "server/octo/demo.git").string() +
                        " rev-parse refs/heads/wave/1-epic/5-ticket"),
            *head);
  std::lock_guard lock(mu);
  ASSERT_FALSE(nodelay.empty()) << "no request of the fetch or push was seen from this process";
  for (int v : nodelay) EXPECT_NE(v, 0) << "a TLS connection to the git server has Nagle's algorithm on";
}

}  // namespace
}  // namespace wavebot::git
