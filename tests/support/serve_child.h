// A `wavebot serve` child process for tests that need the real thing (sockets, memory, limits): its
// output goes to files in a directory; it is killed on destruction if still running. Test-only helper.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace wavebot::testing {

class ServeChild {
 public:
  // Starts WAVEBOT_BINARY serve with WAVEBOT_WEBHOOK_SECRET=`secret`, WAVEBOT_DATA_DIR=`dir`/data,
  // WAVEBOT_LISTEN=127.0.0.1:0, WAVEBOT_DASHBOARD_LISTEN=127.0.0.1:0, PATH, then `extra_env` (later
  // entries win as the environment is read).
  ServeChild(const std::string& dir, const std::string& secret, const std::vector<std::string>& extra_env = {})
      : dir_(dir) {
    std::vector<std::string> env = {"WAVEBOT_WEBHOOK_SECRET=" + secret, "WAVEBOT_DATA_DIR=" + dir + "/data",
                                     "WAVEBOT_LISTEN=127.0.0.1:0", "WAVEBOT_DASHBOARD_LISTEN=127.0.0.1:0",
                                     "PATH=/usr/bin:/bin"};
    // A name given twice: the later value replaces the earlier one.
    for (const std::string& e : extra_env) {
      const std::string name = e.substr(0, e.find('=') + 1);
      for (auto it = env.begin(); it != env.end();) it = it->rfind(name, 0) == 0 ? env.erase(it) : it + 1;
      env.push_back(e);
    }
    std::vector<char*> envp;
    for (auto& s : env) envp.push_back(s.data());
    envp.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, (dir + "/out").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_addopen(&fa, 2, (dir + "/err").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    std::string bin = WAVEBOT_BINARY;
    char serve[] = "serve";
    char* argv[] = {bin.data(), serve, nullptr};
    if (posix_spawn(&pid_, bin.c_str(), &fa, nullptr, argv, envp.data()) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&fa);
  }
  ~ServeChild() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  ServeChild(const ServeChild&) = delete;
  ServeChild& operator=(const ServeChild&) = delete;

  // The public port, from "listening on http://127.0.0.1:PORT"; 0 when it did not come up within 20 s.
  int WaitForPort() { return PortAfter("listening on http://127.0.0.1:"); }
  // The dashboard listener's port, from "dashboard, API and metrics on http://127.0.0.1:PORT"; 0 when
  // it did not come up within 20 s.
  int WaitForDashboardPort() { return PortAfter("dashboard, API and metrics on http://127.0.0.1:"); }

  // A field of /proc/PID/status in kB (VmRSS, VmHWM), -1 when absent.
  int64_t ProcKb(const std::string& field) const {
    std::ifstream in("/proc/" + std::to_string(pid_) + "/status");
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind(field + ":", 0) == 0) return std::stoll(line.substr(field.size() + 1));
    }
    return -1;
  }
  // SIGTERM, then the exit status (-1 when it did not exit within 20 s).
  int Stop() {
    kill(pid_, SIGTERM);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));  // polling a condition with a deadline
    }
    return -1;
  }
  std::string Stdout() const { return Read(dir_ + "/out"); }
  std::string Stderr() const { return Read(dir_ + "/err"); }
  pid_t pid() const { return pid_; }

 private:
  static std::string Read(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  int PortAfter(const std::string& marker) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < deadline) {
      std::string out = Read(dir_ + "/out");
      auto pos = out.find(marker);
      if (pos != std::string::npos && out.find('\n', pos) != std::string::npos) {
        return std::stoi(out.substr(pos + marker.size()));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));  // polling a condition with a deadline
    }
    return 0;
  }

  std::string dir_;
  pid_t pid_ = -1;
};

}  // namespace wavebot::testing
