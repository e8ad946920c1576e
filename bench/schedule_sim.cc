// Scheduling quality of core::Decide on random DAGs: the makespan of the `wave` and `eager` strategies
// against the lower bound max(critical path, total work / max_parallel), with simulated agent
// durations (each ticket's run takes 1 to 10 time units; a merged ticket unblocks its dependents at once).
//
// Usage: schedule_sim [max_parallel=8] [seed=1]      (prints a Markdown table)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <queue>
#include <random>
#include <vector>

#include "core/decide.h"
#include "core/graph.h"

namespace {

using namespace wavebot::core;

struct Dag {
  std::vector<std::vector<int64_t>> deps;  // deps[i]: tickets i waits for (numbers are indices + 1)
  std::vector<int> duration;
  std::vector<int> wave;
  std::vector<int> height;
};

Dag RandomDag(int n, std::mt19937& rng) {
  Dag d;
  d.deps.resize(n);
  d.duration.resize(n);
  std::uniform_int_distribution<int> dur(1, 10), count(0, 3);
  DependencyGraph g;
  for (int i = 0; i < n; ++i) {
    g.AddNode(i + 1);
    d.duration[i] = dur(rng);
    if (i == 0) continue;
    std::uniform_int_distribution<int> back(1, std::min(i, 50));
    for (int k = count(rng); k > 0; --k) {
      int j = i - back(rng);
      if (std::find(d.deps[i].begin(), d.deps[i].end(), j + 1) == d.deps[i].end()) {
        d.deps[i].push_back(j + 1);
        g.AddEdge(j + 1, i + 1);
      }
    }
  }
  // Height: tickets on the longest chain from each ticket to the end (what the engine computes from the plan).
  d.height.assign(n, 1);
  for (int i = n - 1; i >= 0; --i) {
    for (int64_t dep : d.deps[i]) d.height[dep - 1] = std::max(d.height[dep - 1], d.height[i] + 1);
  }
  d.wave.resize(n);
  auto waves = *g.Waves();
  for (size_t w = 0; w < waves.size(); ++w) {
    for (int64_t t : waves[w]) d.wave[t - 1] = static_cast<int>(w) + 1;
  }
  return d;
}

int64_t LowerBound(const Dag& d, int p) {
  int n = static_cast<int>(d.deps.size());
  std::vector<int64_t> finish(n, 0);
  int64_t total = 0, cp = 0;
  for (int i = 0; i < n; ++i) {  // indices are a topological order
    int64_t start = 0;
    for (int64_t dep : d.deps[i]) start = std::max(start, finish[dep - 1]);
    finish[i] = start + d.duration[i];
    cp = std::max(cp, finish[i]);
    total += d.duration[i];
  }
  return std::max(cp, (total + p - 1) / p);
}

// Runs Decide as the engine would, with instant PRs and merges: a finished run merges at once.
int64_t Simulate(const Dag& d, int p, ScheduleStrategy strategy) {
  int n = static_cast<int>(d.deps.size());
  EpicSnapshot snap;
  snap.strategy = strategy;
  snap.max_parallel = p;
  snap.max_attempts = 4;
  snap.ticket_wall_clock = std::chrono::hours(1'000'000);
  snap.epic_branch_exists = true;
  snap.tickets.resize(n);
  for (int i = 0; i < n; ++i) {
    snap.tickets[i].number = i + 1;
    snap.tickets[i].wave = d.wave[i];
    snap.tickets[i].height = d.height[i];
    snap.tickets[i].depends_on = d.deps[i];
    snap.tickets[i].state = d.deps[i].empty() ? TicketState::kReady : TicketState::kBlocked;
  }
  using Event = std::pair<int64_t, int>;  // (finish time, ticket index)
  std::priority_queue<Event, std::vector<Event>, std::greater<>> running;
  int64_t now = 0;
  int done = 0;
  while (done < n) {
    snap.now = std::chrono::system_clock::time_point(std::chrono::hours(now));
    bool progressed = true;
    while (progressed) {
      progressed = false;
      for (const Action& a : Decide(snap)) {
        TicketSnapshot& t = snap.tickets[a.ticket - 1];
        if (a.kind == ActionKind::kUnblock) {
          t.state = TicketState::kReady;
          progressed = true;
        } else if (a.kind == ActionKind::kDispatch) {
          t.state = TicketState::kRunning;
          t.run_in_flight = true;
          running.push({now + d.duration[a.ticket - 1], static_cast<int>(a.ticket - 1)});
        }
      }
    }
    if (running.empty()) {
      std::fprintf(stderr, "scheduler stalled with %d of %d done\n", done, n);
      std::exit(1);
    }
    now = running.top().first;
    while (!running.empty() && running.top().first == now) {
      TicketSnapshot& t = snap.tickets[running.top().second];
      running.pop();
      t.run_in_flight = false;
      t.state = TicketState::kDone;
      ++done;
    }
  }
  return now;
}

}  // namespace

int main(int argc, char** argv) {
  int p = argc > 1 ? std::atoi(argv[1]) : 8;
  uint32_t seed = argc > 2 ? static_cast<uint32_t>(std::atoi(argv[2])) : 1;
  std::printf("| tickets | lower bound | wave | wave / bound | eager | eager / bound | decide calls ms |\n");
  std::printf("|---:|---:|---:|---:|---:|---:|---:|\n");
  for (int n : {100, 1000, argc > 3 ? std::atoi(argv[3]) : 10000}) {
    std::mt19937 rng(seed + n);
    Dag d = RandomDag(n, rng);
    int64_t bound = LowerBound(d, p);
    auto t0 = std::chrono::steady_clock::now();
    int64_t wave = Simulate(d, p, ScheduleStrategy::kWave);
    int64_t eager = Simulate(d, p, ScheduleStrategy::kEager);
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
    std::printf("| %d | %lld | %lld | %.3f | %lld | %.3f | %lld |\n", n, static_cast<long long>(bound),
                static_cast<long long>(wave), double(wave) / bound, static_cast<long long>(eager), double(eager) / bound,
                static_cast<long long>(ms));
    std::fflush(stdout);
  }
  return 0;
}
