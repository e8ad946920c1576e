// wavebot-sim: the GitHub simulator as a standalone process, for scripting and manual trials.
//
//   wavebot-sim --data-dir DIR [--port N] [--webhook-url URL] [--webhook-secret S] [--ci-command CMD]
//               [--key-out FILE] [--record FILE] [--seed N]
//
// Prints "api_url=http://127.0.0.1:PORT" and "app_id=N" on stdout, writes the App's private key to
// --key-out (mode 0600) when given, then serves until SIGINT or SIGTERM. Script it with the admin API
// under /_sim (docs/github.md).
#include <signal.h>
#include <sys/stat.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>

#include "sandbox/simulator.h"

namespace {

volatile sig_atomic_t g_stop = 0;
void OnSignal(int) { g_stop = 1; }

int Usage() {
  std::fprintf(stderr,
               "usage: wavebot-sim --data-dir DIR [--port N] [--webhook-url URL] [--webhook-secret S]\n"
               "                   [--ci-command CMD] [--key-out FILE] [--record FILE] [--seed N]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  wavebot::sandbox::SimulatorOptions opt;
  std::string key_out;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    const char* v = nullptr;
    if (a == "--data-dir" && (v = next())) opt.data_dir = v;
    else if (a == "--port" && (v = next())) opt.port = std::atoi(v);
    else if (a == "--webhook-url" && (v = next())) opt.webhook_url = v;
    else if (a == "--webhook-secret" && (v = next())) opt.webhook_secret = v;
    else if (a == "--ci-command" && (v = next())) opt.ci_command = v;
    else if (a == "--key-out" && (v = next())) key_out = v;
    else if (a == "--record" && (v = next())) opt.record_path = v;
    else if (a == "--seed" && (v = next())) opt.seed = std::strtoull(v, nullptr, 10);
    else return Usage();
  }
  if (opt.data_dir.empty()) return Usage();
  auto sim = wavebot::sandbox::Simulator::Start(opt);
  if (!sim.ok()) {
    std::fprintf(stderr, "wavebot-sim: %s\n", sim.error().ToString().c_str());
    return 1;
  }
  if (!key_out.empty()) {
    std::ofstream out(key_out, std::ios::trunc);
    out << (*sim)->app_private_key_pem();
    out.close();
    chmod(key_out.c_str(), 0600);
  }
  std::printf("api_url=%s\napp_id=%lld\n", (*sim)->api_url().c_str(), static_cast<long long>((*sim)->app_id()));
  std::fflush(stdout);
  signal(SIGINT, OnSignal);
  signal(SIGTERM, OnSignal);
  sigset_t none;
  sigemptyset(&none);
  while (!g_stop) sigsuspend(&none);
  (*sim)->Stop();
  return 0;
}
