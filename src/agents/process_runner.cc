#include "agents/process_runner.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <spdlog/spdlog.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "common/files.h"
#include "common/log.h"

namespace wavebot::agents {
namespace {

constexpr size_t kKeep = 64 * 1024;

// Writes output to the log (censored, capped) and keeps its head and tail in memory. Censoring works
// on whole lines (or 8 KiB pieces) so that a secret split across two reads is still caught.
class OutputSink {
 public:
  OutputSink(const ProcessSpec& spec, ProcessOutput* out) : spec_(spec), out_(out) {}

  Status Open() {
    if (spec_.log_path.empty()) return OkStatus();
    // Agent output can hold what the redactor does not know: owner-only whatever the umask.
    if (Status st = MakePrivateFile(spec_.log_path); !st.ok()) return st;
    file_.open(spec_.log_path, std::ios::binary | std::ios::trunc);
    if (!file_) return Error(ErrorCode::kIo, "cannot write the log " + spec_.log_path);
    return OkStatus();
  }

  void Append(const char* data, size_t n) {
    out_->output_bytes += static_cast<int64_t>(n);
    pending_.append(data, n);
    auto nl = pending_.rfind('\n');
    if (nl != std::string::npos) {
      Flush(pending_.substr(0, nl + 1));
      pending_.erase(0, nl + 1);
    } else if (pending_.size() > 8192) {
      Flush(pending_);
      pending_.clear();
    }
  }

  void Finish() {
    if (!pending_.empty()) Flush(pending_);
    pending_.clear();
    if (file_.is_open()) file_.close();
  }

 private:
  void Flush(const std::string& raw) {
    std::string text = log::Redact(raw);
    for (const auto& s : spec_.secrets) {
      if (s.size() < 4) continue;
      for (size_t pos; (pos = text.find(s)) != std::string::npos;) text.replace(pos, s.size(), "[REDACTED]");
    }
    if (out_->head.size() < kKeep) out_->head.append(text.substr(0, kKeep - out_->head.size()));
    out_->tail.append(text);
    if (out_->tail.size() > kKeep) out_->tail.erase(0, out_->tail.size() - kKeep);
    if (file_.is_open()) {
      int64_t room = spec_.max_log_bytes - written_;
      if (room >= static_cast<int64_t>(text.size())) {
        file_.write(text.data(), static_cast<std::streamsize>(text.size()));
        written_ += static_cast<int64_t>(text.size());
      } else if (!out_->log_truncated) {
        if (room > 0) file_.write(text.data(), room);
        written_ = spec_.max_log_bytes;
        file_ << "\n[wavebot: log truncated at " << spec_.max_log_bytes << " bytes]\n";
        out_->log_truncated = true;
      }
      file_.flush();
    }
  }

  const ProcessSpec& spec_;
  ProcessOutput* out_;
  std::ofstream file_;
  std::string pending_;
  int64_t written_ = 0;
};

class RealProcessRunner final : public ProcessRunner {
 public:
  explicit RealProcessRunner(Clock* clock) : clock_(clock) {}

  Result<ProcessOutput> Run(const ProcessSpec& spec) override {
    if (spec.args.empty()) return Error(ErrorCode::kInvalidArgument, "no command to run");
    ProcessOutput out;
    OutputSink sink(spec, &out);
    WAVEBOT_RETURN_IF_ERROR(sink.Open());

    int pipe_fds[2];
    if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return Error(ErrorCode::kIo, std::string("pipe: ") + std::strerror(errno));
    int read_fd = pipe_fds[0], write_fd = pipe_fds[1];

    std::vector<std::string> env_strings;
    for (const auto& [k, v] : spec.env) env_strings.push_back(k + "=" + v);
    std::vector<char*> envp, argv;
    for (auto& e : env_strings) envp.push_back(e.data());
    envp.push_back(nullptr);
    std::vector<std::string> args = spec.args;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);

    int stdin_pipe[2] = {-1, -1};
    if (spec.stdin_path.empty() && !spec.stdin_text.empty()) {
      if (spec.stdin_text.size() > 65536 || ::pipe2(stdin_pipe, O_CLOEXEC) != 0) {
        ::close(read_fd);
        ::close(write_fd);
        return Error(ErrorCode::kIo, "cannot make the child's stdin pipe");
      }
      // Fits the pipe's buffer: written whole now, read by the child whenever it likes.
      ssize_t n = ::write(stdin_pipe[1], spec.stdin_text.data(), spec.stdin_text.size());
      ::close(stdin_pipe[1]);
      if (n != static_cast<ssize_t>(spec.stdin_text.size())) {
        ::close(stdin_pipe[0]);
        ::close(read_fd);
        ::close(write_fd);
        return Error(ErrorCode::kIo, "cannot write the child's stdin");
      }
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    if (stdin_pipe[0] >= 0) {
      posix_spawn_file_actions_adddup2(&fa, stdin_pipe[0], 0);
    } else {
      posix_spawn_file_actions_addopen(&fa, 0, spec.stdin_path.empty() ? "/dev/null" : spec.stdin_path.c_str(),
                                       O_RDONLY, 0);
    }
    // stdout and stderr share one pipe, so the log keeps their interleaving.
    posix_spawn_file_actions_adddup2(&fa, write_fd, 1);
    posix_spawn_file_actions_adddup2(&fa, write_fd, 2);
    if (!spec.cwd.empty()) posix_spawn_file_actions_addchdir_np(&fa, spec.cwd.c_str());
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    posix_spawnattr_setpgroup(&attr, 0);  // a new process group led by the child
    sigset_t all, none;
    sigfillset(&all);
    sigemptyset(&none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
    pid_t pid = -1;
    // The timeout counts from before the spawn: a child that gets going (and is observed) before this
    // thread runs again must not find its deadline moved by a clock that advanced meanwhile.
    auto start = clock_->Now();
    // PATH of the child's environment decides where args[0] is found.
    int rc;
    {
      auto it = spec.env.find("PATH");
      std::string program = spec.args[0];
      if (program.find('/') == std::string::npos && it != spec.env.end()) program = FindOnPath(program, it->second);
      rc = posix_spawnp(&pid, program.c_str(), &fa, &attr, argv.data(), envp.data());
    }
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    ::close(write_fd);
    if (stdin_pipe[0] >= 0) ::close(stdin_pipe[0]);
    if (rc != 0) {
      ::close(read_fd);
      sink.Finish();
      return Error(rc == ENOENT || rc == EACCES ? ErrorCode::kNotFound : ErrorCode::kIo,
                   "cannot run '" + spec.args[0] + "': " + std::strerror(rc));
    }
    out.pid = pid;
    if (spec.max_file_bytes > 0) {
      // posix_spawn cannot set limits; the child has only just exec'ed, long before it can fork or write much.
      const rlimit lim{static_cast<rlim_t>(spec.max_file_bytes), static_cast<rlim_t>(spec.max_file_bytes)};
      if (::prlimit(pid, RLIMIT_FSIZE, &lim, nullptr) != 0) {
        spdlog::warn("process: cannot cap file size of pid {}: {}", pid, std::strerror(errno));
      }
    }
    ::fcntl(read_fd, F_SETFL, O_NONBLOCK);
    // A pidfd becomes readable when the child exits, so the wait below wakes at once instead of at its
    // next 20 ms tick (which a run pays twice: run-ticket's agent, then run-ticket). -1 where the kernel
    // or a seccomp policy refuses it: then the ticks alone, as before.
    const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));

    auto steady_start = std::chrono::steady_clock::now();
    bool exited = false, pipe_open = true, term_sent = false, kill_sent = false;
    std::chrono::steady_clock::time_point term_at, exited_at;
    int wstatus = 0;
    char buf[65536];
    while (!exited || pipe_open) {
      pollfd fds[2];
      nfds_t nfds = 0;
      if (pipe_open) fds[nfds++] = pollfd{read_fd, POLLIN, 0};
      if (!exited && pidfd >= 0) fds[nfds++] = pollfd{pidfd, POLLIN, 0};
      int pr = ::poll(nfds > 0 ? fds : nullptr, nfds, 20);
      if (pr > 0 && pipe_open && fds[0].revents != 0) {
        ssize_t n = ::read(read_fd, buf, sizeof(buf));
        if (n > 0) {
          sink.Append(buf, static_cast<size_t>(n));
        } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
          pipe_open = false;
        }
      }
      if (!exited) {
        pid_t w = ::waitpid(pid, &wstatus, WNOHANG);
        if (w == pid) {
          exited = true;
          exited_at = std::chrono::steady_clock::now();
          ::kill(-pid, SIGKILL);  // background processes the agent left behind go with it
        }
      }
      auto now = std::chrono::steady_clock::now();
      if (exited && pipe_open && now - exited_at > std::chrono::seconds(2)) break;  // escaped holder
      if (!exited && !term_sent) {
        bool timeout = spec.timeout.count() > 0 && clock_->Now() - start >= spec.timeout;
        bool cancel = spec.cancel != nullptr && spec.cancel->load();
        if (timeout || cancel) {
          out.timed_out = timeout;
          out.cancelled = !timeout && cancel;
          ::kill(-pid, SIGTERM);
          term_sent = true;
          term_at = now;
        }
      }
      if (term_sent && !kill_sent && now - term_at >= spec.kill_grace) {
        ::kill(-pid, SIGKILL);
        kill_sent = true;
      }
    }
    if (term_sent) ::kill(-pid, SIGKILL);  // whatever survived SIGTERM in the group
    if (pidfd >= 0) ::close(pidfd);
    ::close(read_fd);
    sink.Finish();
    if (WIFEXITED(wstatus)) {
      out.exit_code = WEXITSTATUS(wstatus);
    } else if (WIFSIGNALED(wstatus)) {
      out.term_signal = WTERMSIG(wstatus);
    }
    out.duration = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - steady_start);
    return out;
  }

 private:
  static std::string FindOnPath(const std::string& program, const std::string& path) {
    size_t start = 0;
    while (start <= path.size()) {
      auto end = path.find(':', start);
      if (end == std::string::npos) end = path.size();
      std::string dir = path.substr(start, end - start);
      if (!dir.empty()) {
        std::string candidate = dir + "/" + program;
        if (::access(candidate.c_str(), X_OK) == 0) return candidate;
      }
      start = end + 1;
    }
    return program;
  }

  Clock* clock_;
};

}  // namespace

std::unique_ptr<ProcessRunner> NewProcessRunner(Clock* clock) { return std::make_unique<RealProcessRunner>(clock); }

std::string FindProgram(const std::string& name, const std::string& path_env) {
  if (name.find('/') != std::string::npos) return ::access(name.c_str(), X_OK) == 0 ? name : "";
  std::error_code ec;
  for (const auto& dir : SplitList(path_env, ':')) {
    std::string candidate = dir + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0 && !std::filesystem::is_directory(candidate, ec)) return candidate;
  }
  return "";
}

}  // namespace wavebot::agents
