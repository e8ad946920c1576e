// The agent sandbox's cost per run: the wall time to start a process, let it write a file in its
// worktree and exit, run bare (the baseline: what `WAVEBOT_AGENT_SANDBOX=none` does) and inside
// bubblewrap as run-ticket wraps it (network none, host, and allowlist: the egress proxy started, the
// agent run behind its bridge, the proxy stopped), interleaved round by round in the same run through
// the same ProcessRunner. Also the sandbox check run-ticket makes before each run.
// Figures: docs/benchmarks.md ("Agent sandbox").
//
//   build/bench/sandbox/sandbox_bench --rounds 200
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "agents/egress_proxy.h"
#include "agents/process_runner.h"
#include "agents/sandbox.h"

namespace fs = std::filesystem;
using namespace wavebot;

namespace {

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

double P90(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[std::min(v.size() - 1, v.size() * 9 / 10)];
}

}  // namespace

int main(int argc, char** argv) {
  int rounds = 200;
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], "--rounds") == 0) rounds = std::max(1, std::atoi(argv[i + 1]));
  }
  if (auto st = agents::CheckSandbox(); !st.ok()) {
    std::fprintf(stderr, "sandbox_bench: %s\n", st.error().message().c_str());
    return 1;
  }
  std::string tmpl = (fs::temp_directory_path() / "wavebot-sandbox-bench-XXXXXX").string();
  if (!::mkdtemp(tmpl.data())) return 1;
  const fs::path root = tmpl;
  const fs::path worktree = root / "worktree", home = root / "home";
  fs::create_directories(worktree);
  fs::create_directories(home);
  const std::vector<std::string> agent = {"/bin/sh", "-c", "echo done > out.txt"};

  auto runner = agents::NewProcessRunner(RealClock());
  auto run = [&](const std::vector<std::string>& args) {
    agents::ProcessSpec ps;
    ps.args = args;
    ps.env = {{"PATH", "/usr/bin:/bin"}, {"HOME", home.string()}};
    ps.cwd = worktree.string();
    auto t0 = std::chrono::steady_clock::now();
    auto out = runner->Run(ps);
    double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    if (!out.ok() || out->exit_code != 0) {
      std::fprintf(stderr, "sandbox_bench: a run failed\n");
      std::exit(1);
    }
    return ms;
  };
  agents::SandboxSpec none;
  none.worktree = worktree.string();
  none.home = home.string();
  none.network = agents::NetworkPolicy::kNone;
  agents::SandboxSpec host = none;
  host.network = agents::NetworkPolicy::kHost;
  auto wrapped_none = agents::SandboxedCommand(none, agent);
  auto wrapped_host = agents::SandboxedCommand(host, agent);
  if (!wrapped_none.ok() || !wrapped_host.ok()) return 1;

  if (auto st = agents::CheckEgressTools(); !st.ok()) {
    std::fprintf(stderr, "sandbox_bench: %s\n", st.error().message().c_str());
    return 1;
  }
  // As run-ticket runs a CLI preset: the proxy for its model API host, started and stopped per run.
  auto allowlisted = [&] {
    auto t0 = std::chrono::steady_clock::now();
    auto proxy = agents::EgressProxy::Start({{"api.anthropic.com", 0}});
    if (!proxy.ok()) {
      std::fprintf(stderr, "sandbox_bench: %s\n", proxy.error().ToString().c_str());
      std::exit(1);
    }
    agents::SandboxSpec spec = none;
    spec.network = agents::NetworkPolicy::kAllowlist;
    spec.proxy_socket = (*proxy)->socket_path();
    auto wrapped = agents::SandboxedCommand(spec, agent);
    if (!wrapped.ok()) std::exit(1);
    run(*wrapped);
    proxy->reset();
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  };

  std::vector<double> bare, sb_none, sb_host, sb_allow, check;
  for (int i = 0; i < 5; ++i) run(agent), run(*wrapped_none), run(*wrapped_host), allowlisted();  // warm the caches
  for (int i = 0; i < rounds; ++i) {
    bare.push_back(run(agent));
    sb_none.push_back(run(*wrapped_none));
    sb_host.push_back(run(*wrapped_host));
    sb_allow.push_back(allowlisted());
    auto t0 = std::chrono::steady_clock::now();
    (void)agents::CheckSandbox();
    check.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  const double base = Median(bare);
  std::printf("rounds %d; wall ms per run (median, p90), ratio of medians to the bare run\n", rounds);
  std::printf("bare process (baseline)      %7.2f %7.2f  1.00x\n", base, P90(bare));
  std::printf("bubblewrap, network none     %7.2f %7.2f  %.2fx (+%.2f ms)\n", Median(sb_none), P90(sb_none),
              Median(sb_none) / base, Median(sb_none) - base);
  std::printf("bubblewrap, network host     %7.2f %7.2f  %.2fx (+%.2f ms)\n", Median(sb_host), P90(sb_host),
              Median(sb_host) / base, Median(sb_host) - base);
  std::printf("bubblewrap, network allowlist %6.2f %7.2f  %.2fx (+%.2f ms; proxy started and stopped)\n",
              Median(sb_allow), P90(sb_allow), Median(sb_allow) / base, Median(sb_allow) - base);
  std::printf("sandbox check (per run)      %7.2f %7.2f\n", Median(check), P90(check));
  std::error_code ec;
  fs::remove_all(root, ec);
  return 0;
}
