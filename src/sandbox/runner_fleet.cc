#include "sandbox/runner_fleet.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

namespace wavebot::sandbox {
namespace {

namespace fs = std::filesystem;

std::map<int, std::vector<int>> ChildrenByParent() {
  std::map<int, std::vector<int>> out;
  DIR* d = ::opendir("/proc");
  if (d == nullptr) return out;
  while (dirent* e = ::readdir(d)) {
    int pid = std::atoi(e->d_name);
    if (pid <= 0) continue;
    // read(2), not a stream: a process that exits while it is read fails the read with ESRCH, which a
    // stream's buffer reports by throwing.
    std::string stat;
    int fd = ::open((std::string("/proc/") + e->d_name + "/stat").c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    char buf[512];
    ssize_t n = ::read(fd, buf, sizeof buf);
    ::close(fd);
    if (n <= 0) continue;
    stat.assign(buf, static_cast<size_t>(n));
    auto paren = stat.rfind(')');
    if (paren == std::string::npos) continue;
    std::istringstream rest(stat.substr(paren + 2));
    std::string state;
    int ppid = 0;
    rest >> state >> ppid;
    out[ppid].push_back(pid);
  }
  ::closedir(d);
  return out;
}

void KillTree(int root) {
  // Stop the tree first so nothing forks while it is being collected, then kill all of it.
  std::vector<int> seen;
  for (int round = 0; round < 3; ++round) {
    for (int pid : ProcessTree(root)) {
      if (std::find(seen.begin(), seen.end(), pid) == seen.end()) {
        ::kill(pid, SIGSTOP);
        seen.push_back(pid);
      }
    }
  }
  for (int pid : seen) ::kill(pid, SIGKILL);
}

}  // namespace

std::vector<int> ProcessTree(int root) {
  auto children = ChildrenByParent();
  std::vector<int> out = {root};
  for (size_t i = 0; i < out.size(); ++i) {
    for (int c : children[out[i]]) out.push_back(c);
  }
  return out;
}

Result<std::unique_ptr<RunnerFleet>> RunnerFleet::Start(RunnerFleetOptions options) {
  std::unique_ptr<RunnerFleet> fleet(new RunnerFleet());
  fleet->options_ = options;
  for (int i = 0; i < options.runners; ++i) {
    std::string dir = (fs::path(options.work_dir) / ("runner-" + std::to_string(i + 1))).string();
    std::error_code ec;
    fs::create_directories(fs::path(dir) / "_temp", ec);
    if (ec) return Error(ErrorCode::kIo, "cannot create " + dir + ": " + ec.message());
    std::string labels;
    for (const auto& l : options.labels) labels += (labels.empty() ? "" : ",") + l;
    std::vector<std::string> args = {options.wavebot_binary, "sim-runner",  "--simulator", options.simulator_url,
                                     "--name",               fleet->name(i), "--labels",    labels,
                                     "--work-dir",           dir};
    std::string log = (fs::path(dir) / "runner.log").string();
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    int pid = ::fork();
    if (pid < 0) return Error(ErrorCode::kIo, "fork failed");
    if (pid == 0) {
      ::setpgid(0, 0);
      int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
      if (fd >= 0) {
        ::dup2(fd, 1);
        ::dup2(fd, 2);
      }
      int null = ::open("/dev/null", O_RDONLY);
      if (null >= 0) ::dup2(null, 0);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    fleet->runners_.push_back({pid, true});
  }
  return fleet;
}

RunnerFleet::~RunnerFleet() { Stop(); }

void RunnerFleet::Stop() {
  std::lock_guard lock(mu_);
  for (auto& r : runners_) {
    if (!r.alive) continue;
    KillTree(r.pid);
    ::waitpid(r.pid, nullptr, 0);
    r.alive = false;
  }
}

Status RunnerFleet::Kill(int i) {
  std::lock_guard lock(mu_);
  if (i < 0 || i >= static_cast<int>(runners_.size())) return Error(ErrorCode::kNotFound, "no runner " + std::to_string(i));
  Runner& r = runners_[i];
  if (!r.alive) return Error(ErrorCode::kFailedPrecondition, name(i) + " is not running");
  KillTree(r.pid);
  ::waitpid(r.pid, nullptr, 0);
  r.alive = false;
  return OkStatus();
}

int RunnerFleet::RunnerOf(int pid) const {
  std::lock_guard lock(mu_);
  for (size_t i = 0; i < runners_.size(); ++i) {
    if (!runners_[i].alive) continue;
    auto tree = ProcessTree(runners_[i].pid);
    if (std::find(tree.begin(), tree.end(), pid) != tree.end()) return static_cast<int>(i);
  }
  return -1;
}

std::string RunnerFleet::dir(int i) const {
  return (fs::path(options_.work_dir) / name(i)).string();
}

}  // namespace wavebot::sandbox
