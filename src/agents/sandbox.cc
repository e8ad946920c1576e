#include "agents/sandbox.h"

#include "agents/egress_proxy.h"
#include "common/files.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <set>

extern char** environ;

namespace wavebot::agents {
namespace {

namespace fs = std::filesystem;

bool Under(const std::string& path, const std::string& dir) {
  return path == dir || (path.size() > dir.size() && path.compare(0, dir.size(), dir) == 0 && path[dir.size()] == '/');
}

// The read-only system: what programs need to run, not where anyone keeps data (/home, /root, /var,
// /run, /srv, /mnt and /tmp stay out; /run holds sockets such as docker's, which a read-only bind would
// still let a process connect to).
const char* const kSystemDirs[] = {"/usr", "/etc", "/opt"};
const char* const kSystemLinks[] = {"/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"};

}  // namespace

Result<SandboxKind> ParseSandboxKind(const std::string& name) {
  if (name == "bwrap" || name == "bubblewrap") return SandboxKind::kBwrap;
  if (name == "none") return SandboxKind::kNone;
  return Error(ErrorCode::kInvalidArgument, "unknown agent sandbox '" + name + "' (bwrap or none)");
}

Result<NetworkPolicy> ParseNetworkPolicy(const std::string& name) {
  if (name == "none") return NetworkPolicy::kNone;
  if (name == "allowlist") return NetworkPolicy::kAllowlist;
  if (name == "host") return NetworkPolicy::kHost;
  return Error(ErrorCode::kInvalidArgument, "unknown agent network policy '" + name + "' (none, allowlist or host)");
}

Result<std::vector<std::string>> SandboxedCommand(const SandboxSpec& spec, const std::vector<std::string>& command) {
  if (spec.kind == SandboxKind::kNone) return command;
  if (command.empty()) return Error(ErrorCode::kInvalidArgument, "sandbox: no command");
  for (const auto* p : {&spec.worktree, &spec.home}) {
    if (p->empty() || !fs::path(*p).is_absolute() || !fs::is_directory(*p)) {
      return Error(ErrorCode::kInvalidArgument, "sandbox: '" + *p + "' is not an absolute directory");
    }
  }
  if (spec.network == NetworkPolicy::kAllowlist && (spec.proxy_socket.empty() || !fs::path(spec.proxy_socket).is_absolute())) {
    return Error(ErrorCode::kInvalidArgument, "sandbox: the allowlist network policy needs the egress proxy's socket");
  }
  std::vector<std::string> a = {spec.bwrap, "--unshare-all"};
  if (spec.network == NetworkPolicy::kHost) a.push_back("--share-net");
  a.insert(a.end(), {"--die-with-parent", "--new-session"});
  if (::geteuid() == 0) {
    // Not root inside (some agent CLIs refuse to run as root, and nothing inside needs it).
    a.insert(a.end(), {"--uid", "1000", "--gid", "1000"});
  }
  std::error_code ec;
  for (const char* d : kSystemDirs) {
    if (fs::is_directory(d, ec)) a.insert(a.end(), {"--ro-bind", d, d});
  }
  for (const char* l : kSystemLinks) {
    if (fs::is_symlink(l, ec)) {
      a.insert(a.end(), {"--symlink", fs::read_symlink(l, ec).string(), l});
    } else if (fs::is_directory(l, ec)) {
      a.insert(a.end(), {"--ro-bind", l, l});
    }
  }
  // /proc of the new PID namespace only; a minimal /dev; a private /tmp. Binds under /tmp come after.
  a.insert(a.end(), {"--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"});
  std::set<std::string> seen;
  auto hidden_under = [&](const std::string& p) {
    for (const auto& h : spec.hidden) {
      if (!h.empty() && Under(p, fs::path(h).lexically_normal().string())) return true;
    }
    return false;
  };
  auto is_hidden = [&](const std::string& p) {
    for (const auto& h : spec.hidden) {
      if (!h.empty() && fs::path(p).lexically_normal() == fs::path(h).lexically_normal()) return true;
    }
    return false;
  };
  std::vector<std::string> again;  // read-only paths inside a hidden one: bound after the hiding
  for (const auto& p : spec.read_only) {
    if (p.empty() || !fs::path(p).is_absolute() || !seen.insert(p).second) continue;
    bool system = false;
    for (const char* d : kSystemDirs) system = system || Under(p, d);
    if (system) continue;
    if (is_hidden(p)) continue;  // a hidden path itself (an agent kept in wavebot's data directory) stays hidden
    if (hidden_under(p)) {
      again.push_back(p);
    } else {
      a.insert(a.end(), {"--ro-bind-try", p, p});
    }
  }
  // Hidden where a read-only path above made them visible: an empty tmpfs over a directory, /dev/null
  // over a file. (Elsewhere they are not in the sandbox at all.)
  for (const auto& h : spec.hidden) {
    if (h.empty() || !fs::path(h).is_absolute()) continue;
    bool visible = false;
    for (const auto& p : spec.read_only) visible = visible || (!p.empty() && Under(h, p) && !hidden_under(p));
    if (!visible) continue;
    if (fs::is_directory(h, ec)) {
      a.insert(a.end(), {"--tmpfs", h});
    } else if (fs::exists(h, ec)) {
      a.insert(a.end(), {"--ro-bind", "/dev/null", h});
    }
  }
  for (const auto& p : again) a.insert(a.end(), {"--ro-bind-try", p, p});
  a.insert(a.end(), {"--bind", spec.home, spec.home, "--bind", spec.worktree, spec.worktree});
  if (spec.network == NetworkPolicy::kAllowlist) a.insert(a.end(), {"--ro-bind", spec.proxy_socket, kEgressSocketInside});
  // The skeleton the binds hang on (the mount points' parents) read-only too: outside /tmp, the agent
  // can write its worktree and HOME only.
  a.insert(a.end(), {"--remount-ro", "/"});
  a.insert(a.end(), {"--setenv", "HOME", spec.home, "--setenv", "TMPDIR", "/tmp", "--chdir", spec.worktree});
  if (spec.network == NetworkPolicy::kAllowlist) {
    const std::string proxy = "http://127.0.0.1:" + std::to_string(kEgressPortInside);
    for (const char* v : {"HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"}) {
      a.insert(a.end(), {"--setenv", v, proxy});
    }
    for (const char* v : {"NO_PROXY", "no_proxy"}) a.insert(a.end(), {"--unsetenv", v});
    // The bridge first, then the agent once it listens (its own network namespace: nothing else can
    // take the port). /proc/net/tcp lists the listener as 0100007F:<port in hex> in state 0A.
    char hex[8];
    std::snprintf(hex, sizeof hex, "%04X", kEgressPortInside);
    const std::string script =
        std::string("socat TCP-LISTEN:") + std::to_string(kEgressPortInside) + ",bind=127.0.0.1,fork,reuseaddr UNIX-CONNECT:" +
        kEgressSocketInside + " 2>/dev/null &\n"
        "i=0\n"
        "while ! grep -q ' 0100007F:" + hex + " 00000000:0000 0A ' /proc/net/tcp; do\n"
        "  i=$((i+1)); if [ $i -gt 2500 ]; then echo 'wavebot: the sandbox proxy bridge did not start' >&2; exit 125; fi\n"
        "  sleep 0.002\n"
        "done\n"
        "exec \"$@\"\n";
    a.insert(a.end(), {"--", "/bin/sh", "-c", script, "wavebot-egress"});
  } else {
    a.push_back("--");
  }
  a.insert(a.end(), command.begin(), command.end());
  return a;
}

std::vector<std::string> CommandPaths(const std::vector<std::string>& command, const std::string& path_env) {
  std::vector<std::string> out;
  std::error_code ec;
  auto add_dir = [&](const fs::path& dir) {
    if (dir.empty() || !dir.is_absolute() || Under(dir.string(), "/usr")) return;
    // node_modules/.bin holds links into the packages beside it.
    if (dir.filename() == ".bin" && dir.parent_path().filename() == "node_modules") {
      out.push_back(dir.parent_path().string());
    } else {
      out.push_back(dir.string());
    }
  };
  if (!command.empty() && command[0].find('/') != std::string::npos) {
    fs::path exe = fs::absolute(command[0], ec);
    add_dir(exe.parent_path());
    fs::path real = fs::canonical(exe, ec);
    if (!ec) add_dir(real.parent_path());
  }
  // A script's interpreter argument (bash /path/agent.sh) is a path too.
  for (size_t i = 1; i < command.size() && i < 3; ++i) {
    if (!command[i].empty() && command[i][0] == '/' && fs::is_regular_file(command[i], ec)) {
      add_dir(fs::path(command[i]).parent_path());
    }
  }
  for (const auto& entry : SplitList(path_env, ':')) {
    if (fs::is_directory(entry, ec)) add_dir(fs::path(entry));
  }
  return out;
}

Status CheckSandbox(const std::string& bwrap) {
  const std::string fix_install = "install it: apt-get install bubblewrap";
  int err_pipe[2];
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) return Error(ErrorCode::kIo, "sandbox check: pipe failed");
  std::vector<std::string> args = {bwrap, "--unshare-all", "--die-with-parent", "--ro-bind", "/usr", "/usr"};
  std::error_code ec;
  for (const char* l : kSystemLinks) {
    if (fs::is_symlink(l, ec)) args.insert(args.end(), {"--symlink", fs::read_symlink(l, ec).string(), l});
  }
  args.insert(args.end(), {"--proc", "/proc", "--dev", "/dev", "--", "/usr/bin/true"});
  std::vector<char*> argv;
  for (auto& s : args) argv.push_back(s.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, err_pipe[1], 2);
  pid_t pid = 0;
  int rc = ::posix_spawnp(&pid, bwrap.c_str(), &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  ::close(err_pipe[1]);
  if (rc != 0) {
    ::close(err_pipe[0]);
    return Error(ErrorCode::kFailedPrecondition, "the agent sandbox needs bubblewrap, and '" + bwrap +
                                                     "' cannot be run; " + fix_install);
  }
  std::string err;
  char buf[512];
  ssize_t n;
  while ((n = ::read(err_pipe[0], buf, sizeof buf)) > 0 && err.size() < 4096) err.append(buf, static_cast<size_t>(n));
  ::close(err_pipe[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return OkStatus();
  while (!err.empty() && (err.back() == '\n' || err.back() == ' ')) err.pop_back();
  return Error(ErrorCode::kFailedPrecondition,
               "bubblewrap cannot create the agent's namespaces (" + err +
                   "): allow unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1, and on "
                   "Ubuntu 24.04 an AppArmor profile for bwrap or kernel.apparmor_restrict_unprivileged_userns=0), "
                   "or in a container give it the privileges to create namespaces (docker: --security-opt "
                   "seccomp=unconfined --security-opt apparmor=unconfined)");
}

}  // namespace wavebot::agents
