#include "agents/egress_proxy.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <memory>
#include <set>

#include "agents/process_runner.h"
#include "common/files.h"

namespace wavebot::agents {
namespace {

namespace fs = std::filesystem;

// Where Debian puts the tools (PATH first, so an operator may put others ahead).
std::string FindTool(const std::string& name) {
  const char* path = std::getenv("PATH");
  return FindProgram(name, std::string(path ? path : "") + ":/usr/bin:/usr/sbin:/bin:/sbin");
}

std::string Lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// An unused loopback port (the kernel's choice; tinyproxy cannot be told to take port 0 itself).
int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
    port = ntohs(a.sin_port);
  }
  ::close(fd);
  return port;
}

bool Connects(int port, const std::string& unix_path) {
  int fd = ::socket(port ? AF_INET : AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  int rc;
  if (port) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<uint16_t>(port));
    rc = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  } else {
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::snprintf(a.sun_path, sizeof a.sun_path, "%s", unix_path.c_str());
    rc = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  }
  ::close(fd);
  return rc == 0;
}

// Starts argv with only PATH in its environment, stdin and stdout on /dev/null, stderr to `err_path`;
// killed when this thread's process dies.
pid_t Spawn(const std::vector<std::string>& argv, const std::string& err_path) {
  std::vector<std::string> args = argv;
  std::vector<char*> argp;
  for (auto& s : args) argp.push_back(s.data());
  argp.push_back(nullptr);
  char path_env[] = "PATH=/usr/bin:/bin:/usr/sbin:/sbin";
  char* envp[] = {path_env, nullptr};
  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid != 0) return pid;
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != parent) _exit(127);  // the parent died before the line above
  int in = ::open("/dev/null", O_RDWR);
  int err = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
  ::dup2(in, 0);
  ::dup2(in, 1);
  ::dup2(err >= 0 ? err : in, 2);
  ::execve(argp[0], argp.data(), envp);
  _exit(127);
}

void Stop(pid_t pid) {
  if (pid <= 0) return;
  ::kill(pid, SIGKILL);
  while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
  }
}

// Waits until `ready` or the process exits or 5 s pass (its start-up: milliseconds).
bool WaitReady(pid_t pid, const std::function<bool()>& ready) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (std::chrono::steady_clock::now() < deadline) {
    if (ready()) return true;
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) return false;
    timespec ts{0, 2'000'000};
    ::nanosleep(&ts, nullptr);
  }
  return false;
}

}  // namespace

Status CheckEgressTools() {
  std::vector<std::string> missing;
  if (FindTool("tinyproxy").empty()) missing.push_back("tinyproxy-bin");
  if (FindTool("socat").empty()) missing.push_back("socat");
  if (missing.empty()) return OkStatus();
  return Error(ErrorCode::kFailedPrecondition,
               "the agent network policy 'allowlist' needs a filtering proxy and its bridge; install them: "
               "apt-get install " + JoinList(missing, " "));
}

std::string UrlHost(const std::string& url) {
  auto scheme = url.find("://");
  if (scheme == std::string::npos) return "";
  std::string rest = url.substr(scheme + 3);
  rest = rest.substr(0, rest.find_first_of("/?#"));
  if (auto at = rest.rfind('@'); at != std::string::npos) rest = rest.substr(at + 1);
  if (!rest.empty() && rest[0] == '[') return Lower(rest.substr(1, rest.find(']') - 1));
  return Lower(rest.substr(0, rest.find(':')));
}

int UrlPort(const std::string& url) {
  auto scheme = url.find("://");
  if (scheme == std::string::npos) return 0;
  std::string rest = url.substr(scheme + 3);
  rest = rest.substr(0, rest.find_first_of("/?#"));
  if (auto at = rest.rfind('@'); at != std::string::npos) rest = rest.substr(at + 1);
  auto colon = rest.rfind(':');
  if (colon != std::string::npos && rest.find(']', colon) == std::string::npos) {
    try {
      return std::stoi(rest.substr(colon + 1));
    } catch (...) {
      return 0;
    }
  }
  return url.compare(0, 5, "https") == 0 ? 443 : url.compare(0, 4, "http") == 0 ? 80 : 0;
}

std::vector<std::string> ModelHosts(const std::string& preset, const std::map<std::string, std::string>& env) {
  auto base = [&](const char* name) {
    auto it = env.find(name);
    return it == env.end() ? std::string() : it->second;
  };
  if (preset == "claude") {
    if (!base("ANTHROPIC_BASE_URL").empty()) return {base("ANTHROPIC_BASE_URL")};
    return {"api.anthropic.com"};
  }
  if (preset == "codex") {
    std::vector<std::string> out;
    if (!base("OPENAI_BASE_URL").empty()) out.push_back(base("OPENAI_BASE_URL"));
    // A model provider of the operator's config.toml (`base_url = "..."` under [model_providers.x]).
    std::string home = !base("CODEX_HOME").empty() ? base("CODEX_HOME")
                       : !base("HOME").empty()     ? base("HOME") + "/.codex"
                                                   : "";
    if (!home.empty()) {
      const std::string toml = ReadFileOrEmpty(home + "/config.toml");
      for (size_t at = toml.find("base_url"); at != std::string::npos; at = toml.find("base_url", at + 1)) {
        if (at > 0 && toml[at - 1] != '\n' && toml[at - 1] != ' ') continue;
        size_t q1 = toml.find('"', at), nl = toml.find('\n', at);
        if (q1 == std::string::npos || q1 > nl) continue;
        size_t q2 = toml.find('"', q1 + 1);
        if (q2 != std::string::npos && q2 < nl) out.push_back(toml.substr(q1 + 1, q2 - q1 - 1));
      }
    }
    if (!out.empty()) return out;
    // The API key's host, and ChatGPT sign-in's (its requests and its token refresh).
    return {"api.openai.com", "chatgpt.com", "auth.openai.com"};
  }
  return {};
}

Result<AllowedHost> ParseAllowedHost(const std::string& entry) {
  AllowedHost h;
  if (entry.find("://") != std::string::npos) {
    h.host = UrlHost(entry);
    h.port = UrlPort(entry);
  } else {
    h.host = Lower(entry);
    if (auto colon = h.host.rfind(':'); colon != std::string::npos && h.host.find(':') == colon) {
      try {
        h.port = std::stoi(h.host.substr(colon + 1));
      } catch (...) {
        h.port = -1;
      }
      h.host.resize(colon);
    }
  }
  bool ok = !h.host.empty() && h.port >= 0 && h.port <= 65535;
  for (char c : h.host) ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == ':');
  if (!ok) return Error(ErrorCode::kInvalidArgument, "not a host or host:port for the agent's allow-list: '" + entry + "'");
  return h;
}

ProxyConfig TinyproxyConfig(const std::vector<AllowedHost>& hosts, int port, const std::string& filter_path,
                            const std::string& log_path) {
  ProxyConfig c;
  std::set<int> ports = {443};
  std::set<std::string> seen;
  for (const auto& h : hosts) {
    if (h.port > 0) ports.insert(h.port);
    if (!seen.insert(h.host).second) continue;
    std::string re = "^";
    for (char ch : h.host) {
      if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '-') re += '\\';
      re += ch;
    }
    c.filter += re + "$\n";
  }
  c.config = "Port " + std::to_string(port) +
             "\n"
             "Listen 127.0.0.1\n"
             "Allow 127.0.0.1\n"
             "Timeout 600\n"
             "MaxClients 64\n"
             "DisableViaHeader Yes\n"
             "LogLevel Notice\n"
             "LogFile \"" + log_path + "\"\n"
             "FilterDefaultDeny Yes\n"
             "FilterType ere\n"
             "FilterCaseSensitive No\n"
             "FilterURLs Off\n"
             "Filter \"" + filter_path + "\"\n";
  for (int p : ports) c.config += "ConnectPort " + std::to_string(p) + "\n";
  return c;
}

Result<std::unique_ptr<EgressProxy>> EgressProxy::Start(const std::vector<AllowedHost>& hosts, const std::string& log_path) {
  WAVEBOT_RETURN_IF_ERROR(CheckEgressTools());
  std::unique_ptr<EgressProxy> p(new EgressProxy());
  const char* tmp = std::getenv("TMPDIR");
  // Short: a Unix socket's path has at most 107 bytes.
  std::string tmpl = std::string(tmp && *tmp && std::strlen(tmp) < 60 ? tmp : "/tmp") + "/wavebot-egress-XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) return Error(ErrorCode::kIo, "cannot create the egress proxy's directory in " + tmpl);
  p->dir_ = tmpl;
  p->socket_path_ = p->dir_ + "/proxy.sock";
  p->log_path_ = log_path.empty() ? p->dir_ + "/proxy.log" : log_path;
  const std::string filter_path = p->dir_ + "/filter", config_path = p->dir_ + "/tinyproxy.conf";
  // The port is free when chosen; another process may take it before tinyproxy does, so try again then.
  for (int attempt = 0; attempt < 5 && p->proxy_pid_ == 0; ++attempt) {
    int port = FreePort();
    if (port == 0) continue;
    ProxyConfig c = TinyproxyConfig(hosts, port, filter_path, p->log_path_);
    WAVEBOT_RETURN_IF_ERROR(WriteFileAtomically(filter_path, c.filter));
    WAVEBOT_RETURN_IF_ERROR(WriteFileAtomically(config_path, c.config));
    pid_t pid = Spawn({FindTool("tinyproxy"), "-d", "-c", config_path}, p->dir_ + "/tinyproxy.err");
    if (pid > 0 && WaitReady(pid, [port] { return Connects(port, ""); })) {
      p->proxy_pid_ = pid;
      p->port_ = port;
    } else {
      Stop(pid);
    }
  }
  if (p->proxy_pid_ == 0) {
    return Error(ErrorCode::kIo, "the agent's egress proxy (tinyproxy) did not start: " +
                                     ReadFileOrEmpty(p->dir_ + "/tinyproxy.err").substr(0, 500));
  }
  pid_t bridge = Spawn({FindTool("socat"), "UNIX-LISTEN:" + p->socket_path_ + ",fork,unlink-early,mode=600",
                        "TCP:127.0.0.1:" + std::to_string(p->port_)},
                       p->dir_ + "/socat.err");
  const std::string sock = p->socket_path_;
  if (bridge <= 0 || !WaitReady(bridge, [sock] { return Connects(0, sock); })) {
    Stop(bridge);
    return Error(ErrorCode::kIo, "the agent's egress bridge (socat) did not start: " +
                                     ReadFileOrEmpty(p->dir_ + "/socat.err").substr(0, 500));
  }
  p->bridge_pid_ = bridge;
  return p;
}

EgressProxy::~EgressProxy() {
  Stop(bridge_pid_);
  Stop(proxy_pid_);
  std::error_code ec;
  if (!dir_.empty()) fs::remove_all(dir_, ec);
}

std::vector<std::string> EgressProxy::Refused() const {
  std::vector<std::string> out;
  const std::string text = ReadFileOrEmpty(log_path_);
  const std::string mark = "Proxying refused on filtered domain \"";
  for (size_t at = text.find(mark); at != std::string::npos; at = text.find(mark, at + 1)) {
    size_t start = at + mark.size(), end = text.find('"', start);
    if (end == std::string::npos) break;
    std::string host = text.substr(start, end - start);
    if (std::find(out.begin(), out.end(), host) == out.end()) out.push_back(host);
  }
  return out;
}

}  // namespace wavebot::agents
