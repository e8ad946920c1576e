#include "sandbox/process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

extern char** environ;

namespace wavebot::sandbox {

int SpawnChild(char* const argv[], char* const envp[], const int stdio[3], const std::string& cwd,
               bool own_group, pid_t* pid) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  for (int fd = 0; fd < 3; ++fd) posix_spawn_file_actions_adddup2(&fa, stdio[fd], fd);
  if (!cwd.empty()) posix_spawn_file_actions_addchdir_np(&fa, cwd.c_str());
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t def;
  sigemptyset(&def);
  sigaddset(&def, SIGPIPE);  // the simulator ignores SIGPIPE; its children get the default
  posix_spawnattr_setsigdefault(&attr, &def);
  short flags = POSIX_SPAWN_SETSIGDEF;
  if (own_group) {
    posix_spawnattr_setpgroup(&attr, 0);  // a group of its own, killed whole on timeout
    flags |= POSIX_SPAWN_SETPGROUP;
  }
  posix_spawnattr_setflags(&attr, flags);
  const int rc = posix_spawnp(pid, argv[0], &fa, &attr, argv, envp);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  return rc;
}

Result<ProcessResult> RunProcess(const std::vector<std::string>& argv, const ProcessOptions& options) {
  if (argv.empty()) return Error(ErrorCode::kInvalidArgument, "RunProcess: empty argv");
  int out_pipe[2];
  int in_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0 || pipe2(in_pipe, O_CLOEXEC) != 0) {
    return Error(ErrorCode::kIo, std::string("pipe: ") + std::strerror(errno));
  }
  // Everything the child needs, built before it starts.
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string kv = *e;
    std::string key = kv.substr(0, kv.find('='));
    if (options.env.count(key) == 0) env_strings.push_back(kv);
  }
  for (const auto& [k, v] : options.env) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> args = argv;
  std::vector<char*> argp;
  for (auto& s : args) argp.push_back(s.data());
  argp.push_back(nullptr);
  pid_t pid = 0;
  const int stdio[3] = {in_pipe[0], out_pipe[1], out_pipe[1]};
  const int spawn_rc = SpawnChild(argp.data(), envp.data(), stdio, options.cwd, true, &pid);
  if (spawn_rc != 0) {
    for (int fd : {out_pipe[0], out_pipe[1], in_pipe[0], in_pipe[1]}) close(fd);
    return Error(ErrorCode::kIo, "cannot run " + argv[0] + ": " + std::strerror(spawn_rc));
  }
  close(out_pipe[1]);
  close(in_pipe[0]);
  // Feed stdin (small inputs: git plumbing) then close it.
  size_t written = 0;
  signal(SIGPIPE, SIG_IGN);
  while (written < options.stdin_data.size()) {
    ssize_t n = write(in_pipe[1], options.stdin_data.data() + written, options.stdin_data.size() - written);
    if (n <= 0) break;
    written += static_cast<size_t>(n);
  }
  close(in_pipe[1]);

  ProcessResult result;
  auto deadline = std::chrono::steady_clock::now() + options.timeout;
  char buf[8192];
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      result.timed_out = true;
      kill(-pid, SIGKILL);
      break;
    }
    pollfd pfd{out_pipe[0], POLLIN, 0};
    int pr = poll(&pfd, 1, static_cast<int>(std::min<int64_t>(left.count(), 1000)));
    if (pr < 0 && errno == EINTR) continue;
    if (pr == 0) continue;
    ssize_t n = read(out_pipe[0], buf, sizeof(buf));
    if (n <= 0) break;
    result.output.append(buf, static_cast<size_t>(n));
  }
  close(out_pipe[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!result.timed_out && WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  if (result.exit_code == 127 && result.output.empty()) {
    return Error(ErrorCode::kIo, "cannot run " + argv[0]);
  }
  return result;
}

}  // namespace wavebot::sandbox
