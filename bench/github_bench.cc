// The GitHub client's own overhead against the loopback simulator: a typed GetIssue through the full
// REST layer (auth header, ETag cache, rate-limit bookkeeping, JSON parse) versus the baseline of a
// bare cpp-httplib GET of the same URL with the same token. Also the 304 path and a 250-issue listing.
#include <benchmark/benchmark.h>
#include <httplib.h>
#include <stdlib.h>

#include <filesystem>

#include "github/client.h"
#include "sandbox/simulator.h"

namespace {

using namespace wavebot;

struct Env {
  std::string dir;
  std::unique_ptr<sandbox::Simulator> sim;
  std::unique_ptr<github::Client> client;
  std::string token;
  int64_t issue = 0;
  Env() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "wavebot-bench-XXXXXX").string();
    dir = mkdtemp(tmpl.data());
    sandbox::SimulatorOptions so;
    so.data_dir = dir;
    so.rate_limit = 1'000'000'000;
    sim = sandbox::Simulator::Start(so).value();
    (void)sim->CreateRepo({"octo", "demo"}, {});
    for (int i = 0; i < 250; ++i) issue = *sim->CreateIssue({"octo", "demo"}, "alice", "t", "b", {"agent-ready"});
    token = *sim->CreateUserToken("alice");
    github::ClientOptions co;
    co.api_url = sim->api_url();
    co.token = token;
    client = github::NewClient(co).value();
  }
  ~Env() {
    client.reset();
    sim->Stop();
    std::filesystem::remove_all(dir);
  }
};

Env& E() {
  static Env* env = new Env();
  return *env;
}

void BM_BaselineHttplibGet(benchmark::State& state) {
  httplib::Client http(E().sim->api_url());
  http.set_keep_alive(true);
  http.set_tcp_nodelay(true);
  std::string path = "/repos/octo/demo/issues/" + std::to_string(E().issue);
  httplib::Headers h = {{"Authorization", "token " + E().token}};
  for (auto _ : state) {
    auto res = http.Get(path.c_str(), h);
    benchmark::DoNotOptimize(res->body.size());
  }
}
BENCHMARK(BM_BaselineHttplibGet)->Unit(benchmark::kMicrosecond)->UseRealTime();

void BM_ClientGetIssue304(benchmark::State& state) {
  for (auto _ : state) {
    auto issue = E().client->GetIssue({"octo", "demo"}, E().issue);
    benchmark::DoNotOptimize(issue->number);
  }
}
BENCHMARK(BM_ClientGetIssue304)->Unit(benchmark::kMicrosecond)->UseRealTime();

void BM_ClientGetIssueNoCache(benchmark::State& state) {
  github::ClientOptions co;
  co.api_url = E().sim->api_url();
  co.token = E().token;
  for (auto _ : state) {
    state.PauseTiming();
    auto client = github::NewClient(co).value();  // empty ETag cache
    state.ResumeTiming();
    auto issue = client->GetIssue({"octo", "demo"}, E().issue);
    benchmark::DoNotOptimize(issue->number);
    state.PauseTiming();
    client.reset();
    state.ResumeTiming();
  }
}
BENCHMARK(BM_ClientGetIssueNoCache)->Unit(benchmark::kMicrosecond)->UseRealTime();

void BM_ClientListIssues250(benchmark::State& state) {
  github::IssueListFilter f;
  f.state = "all";
  for (auto _ : state) {
    auto issues = E().client->ListIssues({"octo", "demo"}, f);
    benchmark::DoNotOptimize(issues->size());
  }
}
BENCHMARK(BM_ClientListIssues250)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
