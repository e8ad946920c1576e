// The image's HEALTHCHECK, run as docker would run it, against a real `wavebot serve` configured the way
// the image configures it (environment only): healthy while it serves, unhealthy once it is gone.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <condition_variable>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>

#include "github/doctor.h"
#include "github/sim_fixture.h"
#include "support/subprocess.h"

namespace wavebot::testing {
namespace {

// A loopback port nothing listens on: bound to port 0, read back, and closed again.
int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
    port = ntohs(a.sin_port);
  }
  ::close(fd);
  return port;
}

// The HEALTHCHECK's exec-form command from docker/Dockerfile, as one shell-quoted line with the
// image's `wavebot` replaced by the binary under test.
std::string HealthcheckCommand() {
  std::ifstream f(std::string(WAVEBOT_SOURCE_DIR) + "/docker/Dockerfile");
  std::stringstream ss;
  ss << f.rdbuf();
  std::string text = std::regex_replace(ss.str(), std::regex("\\\\\n"), " ");
  std::smatch m;
  EXPECT_TRUE(std::regex_search(text, m, std::regex(R"(\nHEALTHCHECK[^\n]*CMD (\[[^\n]*\]))")))
      << "no HEALTHCHECK";
  if (m.empty()) return "false";
  auto argv = nlohmann::json::parse(m[1].str(), nullptr, false);
  EXPECT_TRUE(argv.is_array() && !argv.empty() && argv[0] == "wavebot") << m[1].str();
  if (!argv.is_array() || argv.empty()) return "false";
  std::string cmd = WAVEBOT_BINARY;
  for (size_t i = 1; i < argv.size(); i++) cmd += " '" + argv[i].get<std::string>() + "'";
  return cmd;
}

class HealthcheckTest : public SimTest {
 protected:
  void TearDown() override {
    StopServe();
    SimTest::TearDown();
  }
  void StartServe(const std::vector<std::string>& env) {
    std::vector<std::string> e = env;
    std::vector<char*> envp;
    for (auto& s : e) envp.push_back(s.data());
    envp.push_back(nullptr);
    std::vector<char*> argv = {const_cast<char*>(WAVEBOT_BINARY), const_cast<char*>("serve"), nullptr};
    std::string log = dir_.path() + "/serve.log";
    pid_ = ::fork();
    ASSERT_GE(pid_, 0);
    if (pid_ == 0) {
      if (::chdir(dir_.path().c_str()) != 0) ::_exit(126);
      int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
      if (fd >= 0) {
        ::dup2(fd, 1);
        ::dup2(fd, 2);
      }
      ::execve(argv[0], argv.data(), envp.data());
      ::_exit(127);
    }
  }
  void StopServe() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = 0;
  }
  // True when the server has exited by itself (it is then reaped).
  bool ServeExited() {
    int status = 0;
    if (pid_ > 0 && ::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = 0;
      return true;
    }
    return pid_ == 0;
  }
  // Polls `pred` with short condition-variable waits until it holds or `timeout` passes.
  template <typename Pred>
  static bool Eventually(Pred pred, std::chrono::seconds timeout = std::chrono::seconds(30)) {
    std::mutex mu;
    std::condition_variable cv;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    std::unique_lock lock(mu);
    while (!pred()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      cv.wait_for(lock, std::chrono::milliseconds(50));
    }
    return true;
  }
  std::string Log() {
    std::ifstream f(dir_.path() + "/serve.log");
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
  }
  pid_t pid_ = 0;
};

TEST_F(HealthcheckTest, DockerfileHealthcheckFollowsARealServer) {
  int port = FreePort();
  ASSERT_GT(port, 0);
  std::string key = dir_.path() + "/app.pem";
  std::ofstream(key) << sim_->app_private_key_pem();
  ::chmod(key.c_str(), 0600);
  StartServe({"PATH=/usr/bin:/bin", "HOME=" + dir_.path(), "WAVEBOT_LISTEN=127.0.0.1:" + std::to_string(port),
              "WAVEBOT_DASHBOARD_LISTEN=127.0.0.1:0",
              "WAVEBOT_DATA_DIR=" + dir_.path() + "/data", "WAVEBOT_WEBHOOK_SECRET=" + kSecret,
              "WAVEBOT_GITHUB_API=" + sim_->api_url(), "WAVEBOT_APP_ID=" + std::to_string(sim_->app_id()),
              "WAVEBOT_PRIVATE_KEY_FILE=" + key});
  // The image listens on 0.0.0.0; the health check asks loopback. Same here, without binding 0.0.0.0.
  std::string check =
      "env -i PATH=/usr/bin:/bin WAVEBOT_LISTEN=0.0.0.0:" + std::to_string(port) + " " + HealthcheckCommand();
  ASSERT_TRUE(Eventually([&] {
    return ServeExited() || github::ProbeHealthz("127.0.0.1:" + std::to_string(port), 500).value_or(0) == 200;
  })) << Log();
  ASSERT_FALSE(ServeExited()) << Log();
  auto healthy = RunShell(check);
  EXPECT_EQ(healthy.exit_code, 0) << healthy.out;
  EXPECT_NE(healthy.out.find("healthy: /healthz answered 200"), std::string::npos) << healthy.out;

  // `doctor` beside a running server: its port counts as ours.
  auto doctor = RunShell("env -i PATH=/usr/bin:/bin WAVEBOT_LISTEN=127.0.0.1:" + std::to_string(port) +
                         " WAVEBOT_DATA_DIR=" + dir_.path() + "/data " + WAVEBOT_BINARY + " doctor --local");
  EXPECT_NE(doctor.out.find("is served by wavebot (/healthz answered 200)"), std::string::npos) << doctor.out;

  StopServe();
  auto gone = RunShell(check);
  EXPECT_EQ(gone.exit_code, 1) << gone.out;
  EXPECT_NE(gone.out.find("unhealthy"), std::string::npos) << gone.out;
}

}  // namespace
}  // namespace wavebot::testing
