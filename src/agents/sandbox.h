// The agent's sandbox: bubblewrap (Debian `bubblewrap`, what Flatpak uses and what Codex CLI and Claude
// Code use on Linux) around every agent process. Allow-list, not deny-list: inside are only the system
// read-only (/usr, /etc, /opt), the worktree read-write, a fresh HOME and a private /tmp, the ticket's
// git directory read-only, and whatever the operator adds. New user, PID, IPC, UTS and cgroup
// namespaces (no view of wavebot's processes, so no /proc/<pid>/environ of theirs); a new network
// namespace too unless the network policy is `host`. docs/security.md states what this keeps out and
// which test shows it.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "common/result.h"

namespace wavebot::agents {

enum class SandboxKind { kBwrap, kNone };
// kNone: loopback of its own only. kAllowlist: its own loopback, and the allowed hosts through the
// egress proxy (agents/egress_proxy.h). kHost: the host's network.
enum class NetworkPolicy { kNone, kAllowlist, kHost };

Result<SandboxKind> ParseSandboxKind(const std::string& name);  // "bwrap" | "none"
Result<NetworkPolicy> ParseNetworkPolicy(const std::string& name);  // "none" | "allowlist" | "host"

struct SandboxSpec {
  SandboxKind kind = SandboxKind::kBwrap;
  NetworkPolicy network = NetworkPolicy::kNone;
  std::string bwrap = "bwrap";          // the program (looked up on PATH)
  std::string worktree;                 // read-write; the agent's working directory
  std::string home;                     // read-write, fresh for the run; $HOME inside
  std::vector<std::string> read_only;   // further paths bound read-only at the same place (git dir, CLI)
  // Paths hidden even when a read-only path above contains them (an agent script kept beside wavebot's
  // data): wavebot's data directory, the App's key. Read-only paths inside them are bound again after.
  std::vector<std::string> hidden;
  // kAllowlist: the hosts (and host:port) the agent may reach, and the egress proxy's socket on this
  // side (bound into the sandbox; run-ticket starts the proxy). Ignored under the other policies.
  std::vector<std::string> allow_hosts;
  std::string proxy_socket;
};

// argv that runs `command` inside the sandbox (the environment is passed through: the caller gives the
// process only the run's own). kNone returns `command` unchanged. Under kAllowlist the command runs
// behind a bridge to the proxy's socket (socat, started first) with HTTPS_PROXY and HTTP_PROXY set to
// it. Errors: kInvalidArgument for a relative or missing worktree or home, or kAllowlist without a
// proxy socket.
Result<std::vector<std::string>> SandboxedCommand(const SandboxSpec& spec, const std::vector<std::string>& command);

// The paths a command needs that the system binds do not cover: the realpath of argv[0] when it is a
// file outside /usr, and PATH entries outside /usr (a node_modules/.bin entry brings its node_modules,
// whose packages its links point into).
std::vector<std::string> CommandPaths(const std::vector<std::string>& command, const std::string& path_env);

// Whether this machine can run the sandbox: bubblewrap installed and user namespaces allowed. OkStatus
// or kFailedPrecondition whose message says what is missing and how to fix it (for `doctor` and runs).
Status CheckSandbox(const std::string& bwrap = "bwrap");

}  // namespace wavebot::agents
