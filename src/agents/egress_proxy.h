// The agent's network under the `allowlist` policy: a filtering HTTP proxy outside the sandbox, reached
// from inside through a Unix socket. The sandbox has its own network namespace with only loopback; the
// one way out is a socket file bound into it, which leads to tinyproxy (Debian `tinyproxy-bin`), which
// forwards to the allowed hosts only (CONNECT and plain HTTP alike; any other host gets 403). The bridges
// between TCP and the socket are socat (Debian `socat`): one here, one inside the sandbox
// (SandboxedCommand starts it before the agent and sets HTTPS_PROXY and HTTP_PROXY to it).
//
//   agent --tcp--> socat (inside, 127.0.0.1:3128) --unix--> socat (here) --tcp--> tinyproxy --> allowed host
//
// docs/security.md says what this keeps out and which test shows it.
#pragma once

#include <sys/types.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/result.h"

namespace wavebot::agents {

inline constexpr const char* kEgressSocketInside = "/run/wavebot-egress.sock";
inline constexpr int kEgressPortInside = 3128;

// Whether this machine can run the allowlist policy: tinyproxy and socat installed. OkStatus or
// kFailedPrecondition naming what is missing and the command that installs it.
Status CheckEgressTools();

// The host of an http(s) URL ("https://api.example.com:8443/v1" -> "api.example.com"), "" if none.
std::string UrlHost(const std::string& url);
// The port an http(s) URL names, or its scheme's default (443, 80); 0 if none.
int UrlPort(const std::string& url);

// The model API hosts a preset's CLI must reach: its base URL when the operator set one (claude:
// ANTHROPIC_BASE_URL in `env`; codex: OPENAI_BASE_URL, and the providers' `base_url` in the config.toml
// of CODEX_HOME or HOME/.codex), else the vendor's API hosts. Empty for the script preset: its network is
// what the operator allows.
std::vector<std::string> ModelHosts(const std::string& preset, const std::map<std::string, std::string>& env);

// One entry of an allow-list: "host" or "host:port" (or a URL, whose host and port are taken).
struct AllowedHost {
  std::string host;  // lower case
  int port = 0;      // 0: only 443 for CONNECT (plain HTTP to any port of the host)
};
Result<AllowedHost> ParseAllowedHost(const std::string& entry);

// tinyproxy's configuration and its filter file for `hosts` (pure; exposed for tests). The filter holds
// one anchored, escaped extended regex per host, so "api.example.com" never admits
// "api.example.com.evil.test" or "apixexample.com".
struct ProxyConfig {
  std::string config;
  std::string filter;
};
ProxyConfig TinyproxyConfig(const std::vector<AllowedHost>& hosts, int port, const std::string& filter_path,
                            const std::string& log_path);

// A running proxy and its bridge, stopped (both killed and their files removed) when destroyed. The
// processes die with this one too (PR_SET_PDEATHSIG): a run-ticket killed -9 leaves nothing listening.
class EgressProxy {
 public:
  // Starts tinyproxy on a free loopback port and socat listening on a fresh socket in a private
  // directory (0700, under $TMPDIR or /tmp). `log_path`: where tinyproxy logs what it refused ("" for
  // inside its directory). Errors: kFailedPrecondition (tools missing), kIo (could not start in time).
  static Result<std::unique_ptr<EgressProxy>> Start(const std::vector<AllowedHost>& hosts, const std::string& log_path = "");
  ~EgressProxy();
  EgressProxy(const EgressProxy&) = delete;
  EgressProxy& operator=(const EgressProxy&) = delete;

  const std::string& socket_path() const { return socket_path_; }
  int port() const { return port_; }
  // The hosts the proxy refused so far (from its log), each once, in order.
  std::vector<std::string> Refused() const;

 private:
  EgressProxy() = default;
  std::string dir_, socket_path_, log_path_;
  int port_ = 0;
  pid_t proxy_pid_ = 0, bridge_pid_ = 0;
};

}  // namespace wavebot::agents
