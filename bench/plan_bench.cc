// Planning a synthetic epic of N tickets with 5 dependency links each: parse every body (cmark-gfm),
// build the graph, layer it into waves and render the Mermaid graph.
//
// Baseline (same run): the naive approach — std::regex over the raw bodies (no Markdown awareness) and
// layering by relaxing every edge until nothing changes.
#include <benchmark/benchmark.h>

#include <map>
#include <random>
#include <regex>

#include "core/links.h"
#include "core/plan.h"
#include "core/plan_format.h"

namespace {

using wavebot::core::Issue;
using wavebot::core::PlanInput;

PlanInput SyntheticEpic(int n) {
  std::mt19937 rng(7);
  PlanInput in;
  in.epic = 1;
  std::string epic_body = "The epic.\n\n";
  for (int i = 0; i < n; ++i) epic_body += "- [ ] #" + std::to_string(i + 2) + "\n";
  in.issues.push_back(Issue{1, "Epic", epic_body, true, false, {"epic"}});
  for (int i = 0; i < n; ++i) {
    std::string body = "Implement part " + std::to_string(i) + " of the feature.\n\n";
    if (i > 0) {
      body += "Depends on ";
      std::uniform_int_distribution<int> back(1, std::min(i, 300));
      for (int k = 0; k < 5; ++k) body += (k ? ", #" : "#") + std::to_string(i - back(rng) + 2);
      body += "\n\n```\nDepends on #999999 (example in a code block)\n```\n";
    }
    in.issues.push_back(Issue{i + 2, "Ticket " + std::to_string(i), body, true, false, {"agent-ready"}});
  }
  return in;
}

void BM_Plan(benchmark::State& state) {
  PlanInput in = SyntheticEpic(static_cast<int>(state.range(0)));
  for (auto _ : state) {
    auto plan = wavebot::core::BuildPlan(in);
    std::string mermaid = wavebot::core::PlanToMermaid(*plan);
    benchmark::DoNotOptimize(mermaid);
  }
  state.SetComplexityN(state.range(0));
  state.counters["tickets"] = static_cast<double>(state.range(0));
}
BENCHMARK(BM_Plan)->Arg(1000)->Arg(10000)->Arg(100000)->Unit(benchmark::kMillisecond)->Complexity(benchmark::oN);

// Breakdown: the link parser alone over every body of the epic (including the epic's task list).
void BM_ParseLinksOnly(benchmark::State& state) {
  PlanInput in = SyntheticEpic(static_cast<int>(state.range(0)));
  for (auto _ : state) {
    size_t refs = 0;
    for (const auto& issue : in.issues) refs += wavebot::core::ParseLinks(issue.body).depends_on.size();
    benchmark::DoNotOptimize(refs);
  }
}
BENCHMARK(BM_ParseLinksOnly)->Arg(10000)->Unit(benchmark::kMillisecond);

// The naive baseline: regex extraction and fixed-point layering.
void BM_NaiveBaseline(benchmark::State& state) {
  PlanInput in = SyntheticEpic(static_cast<int>(state.range(0)));
  const std::regex dep(R"((?:depends on|blocked by|requires|after):?\s+((?:#\d+[,\s]*(?:and\s+)?)+))",
                       std::regex::icase);
  const std::regex num(R"(#(\d+))");
  for (auto _ : state) {
    std::vector<std::pair<int64_t, int64_t>> edges;
    for (size_t i = 1; i < in.issues.size(); ++i) {
      const auto& body = in.issues[i].body;
      for (std::sregex_iterator m(body.begin(), body.end(), dep), end; m != end; ++m) {
        std::string list = (*m)[1];
        for (std::sregex_iterator k(list.begin(), list.end(), num); k != end; ++k) {
          edges.emplace_back(std::stoll((*k)[1]), in.issues[i].number);
        }
      }
    }
    std::map<int64_t, int> level;
    for (bool changed = true; changed;) {
      changed = false;
      for (const auto& [a, b] : edges) {
        if (level[b] < level[a] + 1) {
          level[b] = level[a] + 1;
          changed = true;
        }
      }
    }
    benchmark::DoNotOptimize(level);
  }
  state.SetComplexityN(state.range(0));
}
BENCHMARK(BM_NaiveBaseline)->Arg(1000)->Arg(10000)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
