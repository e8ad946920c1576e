// What the end-to-end tests of the sample epic share (sandbox_test.cc, chaos_test.cc): the scenario's
// options, a reviewer loop with a hook, the checks of a completed epic's end state, and the count of
// anything written or run twice. Test-only.
#pragma once

#include <gtest/gtest.h>
#include <stdio.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "cli/sandbox_scenario.h"
#include "engine/app.h"
#include "engine/engine.h"
#include "engine/engine_store.h"
#include "github/client.h"
#include "sandbox/simulator.h"
#include "support/temp_dir.h"
#include "support/wait_util.h"

namespace wavebot::e2e {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::TempDir;

inline const github::RepoRef kRef{"acme", "calc"};
inline constexpr const char* kStatusMarker = "<!-- wavebot:status epic=1 -->";
inline constexpr int kTicketCount = 8;

// A REST client authenticated as `login` (a user token from the simulator).
inline std::unique_ptr<github::Client> UserClient(sandbox::Simulator* sim, const std::string& login) {
  auto token = sim->CreateUserToken(login);
  if (!token.ok()) return nullptr;
  github::ClientOptions co;
  co.api_url = sim->api_url();
  co.token = *token;
  auto c = github::NewClient(co);
  return c.ok() ? std::move(*c) : nullptr;
}

// The refs of the simulated repository (from its bare git directory), e.g. {"refs/heads/main"}.
inline std::set<std::string> Refs(const std::string& sim_data_dir) {
  std::string cmd =
      "git --git-dir='" + sim_data_dir + "/git/acme/calc.git' for-each-ref --format='%(refname)'";
  std::set<std::string> refs;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return refs;
  std::array<char, 512> line{};
  while (std::fgets(line.data(), line.size(), p)) {
    std::string s(line.data());
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
    if (!s.empty()) refs.insert(s);
  }
  ::pclose(p);
  return refs;
}
// --- The sandbox scenario -------------------------------------------------------------------------

inline cli::ScenarioOptions Options(const TempDir& dir, uint64_t seed = 1) {
  cli::ScenarioOptions o;
  o.data_dir = dir.path();
  o.wavebot_binary = WAVEBOT_BINARY;
  o.demo_agent = WAVEBOT_DEMO_AGENT;
  o.max_parallel = 3;
  o.seed = seed;
  return o;
}

// Everything the end state of a completed sample epic must satisfy, whatever happened on the way.
inline void ExpectEpicCompletedCleanly(cli::Scenario* s) {
  auto gh = UserClient(s->simulator(), "maintainer");
  ASSERT_NE(gh, nullptr);
  auto* store = s->app()->engine()->store();
  auto epic = store->FindEpic(cli::Scenario::kRepo, cli::Scenario::kEpic);
  ASSERT_TRUE(epic.ok() && *epic);
  auto tickets = store->Tickets((*epic)->id);
  ASSERT_TRUE(tickets.ok());
  ASSERT_EQ(tickets->size(), static_cast<size_t>(kTicketCount));

  // Exactly one PR per ticket (by head branch, over every state), and one epic PR into main.
  github::PullListFilter all;
  all.state = "all";
  auto pulls = gh->ListPulls(kRef, all);
  ASSERT_TRUE(pulls.ok()) << pulls.error().message();
  std::map<std::string, int> per_head;
  int epic_prs = 0;
  int64_t epic_pr = 0;  // from GitHub: the store records it a moment after the create returns
  for (const auto& p : *pulls) {
    per_head[p.head_ref]++;
    if (p.head_ref == (*epic)->branch) {
      epic_prs++;
      epic_pr = p.number;
      EXPECT_EQ(p.base_ref, "main");
      EXPECT_EQ(p.state, "open");
    } else {
      EXPECT_EQ(p.base_ref, (*epic)->branch) << "PR #" << p.number;
    }
  }
  EXPECT_EQ(epic_prs, 1);
  EXPECT_EQ(pulls->size(), static_cast<size_t>(kTicketCount + 1));
  for (const auto& [head, n] : per_head) EXPECT_EQ(n, 1) << head;

  std::set<std::tuple<int64_t, std::string, std::string>> steps;
  for (const auto& t : *tickets) {
    EXPECT_EQ(t.state, "done") << "#" << t.number;
    EXPECT_EQ(per_head[t.branch], 1) << "#" << t.number << " " << t.branch;
    auto issue = gh->GetIssue(kRef, t.number);
    ASSERT_TRUE(issue.ok());
    EXPECT_EQ(issue->state, "open") << "#" << t.number << ": closed before the epic PR merged";
    auto attempts = store->Attempts(t.id);
    ASSERT_TRUE(attempts.ok());
    for (const auto& a : *attempts) {
      EXPECT_TRUE(steps.insert({t.number, a.mode, a.trigger}).second)
          << "#" << t.number << " ran " << a.mode << " twice for " << a.trigger;
    }
  }

  // Every ticket PR got its `wavebot` check run on the head it was opened with, however fast it was
  // merged (the head from the pull_request.opened webhook).
  for (const auto& d : s->simulator()->Deliveries()) {
    if (d.event != "pull_request" || d.action != "opened" || d.redelivery) continue;
    auto pr = nlohmann::json::parse(d.payload)["pull_request"];
    if (pr["base"]["ref"] == "main") continue;  // the epic PR
    const std::string head = pr["head"]["sha"];
    auto checks = gh->ListCheckRunsForRef(kRef, head, "wavebot");
    ASSERT_TRUE(checks.ok()) << checks.error().ToString();
    EXPECT_EQ(checks->size(), 1u) << "PR #" << pr["number"] << " at " << head;
    // Its body lists the files GitHub's comparison lists for it, whether wavebot asked GitHub or its
    // own mirror (docs/engine.md).
    auto github_says = gh->ChangedFiles(kRef, pr["base"]["sha"], head);
    ASSERT_TRUE(github_says.ok()) << github_says.error().ToString();
    std::vector<std::string> listed;
    const std::string body = pr["body"];
    std::istringstream lines(body.substr(std::min(body.size(), body.find("Changed files:\n") + 15)));
    for (std::string line; std::getline(lines, line) && line.rfind("- `", 0) == 0;) {
      listed.push_back(line.substr(3, line.size() - 4));
    }
    EXPECT_FALSE(listed.empty()) << "PR #" << pr["number"] << " body:\n"
                                 << body;  // every ticket changes code
    EXPECT_EQ(listed, *github_says) << "PR #" << pr["number"] << " body:\n" << body;
  }

  // One status comment on the epic, edited in place. Its edits are coalesced, but its final state is
  // written at once, by the pass that found every ticket merged (which may end just after the epic did).
  std::string last_body;
  auto final_status = [&] {
    auto comments = gh->ListComments(kRef, cli::Scenario::kEpic);
    int status = 0;
    for (const auto& c : comments.ok() ? *comments : std::vector<github::Comment>{}) {
      if (c.body.find(kStatusMarker) == std::string::npos) continue;
      ++status;
      last_body = c.body;
    }
    return status == 1 && last_body.find("8 of 8 tickets merged") != std::string::npos &&
           last_body.find("state `done`") != std::string::npos;
  };
  EXPECT_TRUE(wavebot::testing::WaitFor(final_status, std::chrono::seconds(30))) << last_body;
  // The summary says what the epic cost of GitHub's rate limits, per merged ticket.
  EXPECT_TRUE(
      std::regex_search(last_body, std::regex("GitHub requests: [1-9][0-9]* \\([0-9.]+ per merged ticket; "
                                              "[0-9.]+ without 304s, [0-9.]+ writes\\)")))
      << last_body;

  // The epic PR closes every ticket when it merges into the default branch: GitHub does it, from the
  // body's closing keywords, and wavebot spent no request on it.
  ASSERT_GT(epic_pr, 0);
  ASSERT_TRUE(s->simulator()->MergePull(kRef, epic_pr, "maintainer", "merge").ok());
  for (const auto& t : *tickets) {
    auto issue = gh->GetIssue(kRef, t.number);
    ASSERT_TRUE(issue.ok());
    EXPECT_EQ(issue->state, "closed") << "#" << t.number << " stayed open after the epic PR merged";
  }
}

// What wavebot wrote twice on GitHub or ran twice, whatever happened on the way (lost answers, faults,
// redeliveries): bot comments with the same body in one thread, PRs per head branch beyond one, wavebot
// check runs per commit beyond one, and agent runs of the same step.
struct Duplicates {
  int comments = 0, prs = 0, check_runs = 0, runs = 0;
  int total() const { return comments + prs + check_runs + runs; }
};

inline Duplicates CountDuplicates(cli::Scenario* s, const std::string& sim_data_dir) {
  Duplicates d;
  auto gh = UserClient(s->simulator(), "maintainer");
  if (!gh) return Duplicates{-1, -1, -1, -1};
  github::PullListFilter all;
  all.state = "all";
  auto pulls = gh->ListPulls(kRef, all);
  if (!pulls.ok()) return Duplicates{-1, -1, -1, -1};
  std::map<std::string, int> per_head;
  std::vector<int64_t> threads = {cli::Scenario::kEpic};
  for (int64_t n = 2; n <= 9; ++n) threads.push_back(n);
  for (const auto& p : *pulls) {
    if (++per_head[p.head_ref] > 1) d.prs++;
    threads.push_back(p.number);
  }
  for (int64_t n : threads) {
    auto comments = gh->ListComments(kRef, n);
    if (!comments.ok()) return Duplicates{-1, -1, -1, -1};
    std::map<std::string, int> bodies;
    for (const auto& c : *comments) {
      if (c.user_login == "wavebot[bot]" && ++bodies[c.body] > 1) {
        d.comments++;
        ADD_FAILURE() << "#" << n << " twice: " << c.body;
      }
    }
  }
  // Every commit of the repository: at most one wavebot check run each.
  std::string cmd = "git --git-dir='" + sim_data_dir + "/git/acme/calc.git' rev-list --all";
  FILE* p = ::popen(cmd.c_str(), "r");
  std::array<char, 128> line{};
  std::vector<std::string> shas;
  while (p && std::fgets(line.data(), line.size(), p)) {
    std::string sha(line.data());
    while (!sha.empty() && (sha.back() == '\n' || sha.back() == '\r')) sha.pop_back();
    if (!sha.empty()) shas.push_back(sha);
  }
  if (p) ::pclose(p);
  for (const auto& sha : shas) {
    auto runs = gh->ListCheckRunsForRef(kRef, sha, "wavebot");
    if (!runs.ok()) return Duplicates{-1, -1, -1, -1};
    if (runs->size() > 1) {
      d.check_runs += static_cast<int>(runs->size()) - 1;
      ADD_FAILURE() << runs->size() << " wavebot check runs on " << sha;
    }
  }
  auto* store = s->app()->engine()->store();
  auto epic = store->FindEpic(cli::Scenario::kRepo, cli::Scenario::kEpic);
  if (!epic.ok() || !*epic) return Duplicates{-1, -1, -1, -1};
  auto tickets = store->Tickets((*epic)->id);
  if (!tickets.ok()) return Duplicates{-1, -1, -1, -1};
  std::set<std::tuple<int64_t, std::string, std::string>> steps;
  for (const auto& t : *tickets) {
    auto attempts = store->Attempts(t.id);
    if (!attempts.ok()) return Duplicates{-1, -1, -1, -1};
    for (const auto& a : *attempts) d.runs += steps.insert({t.number, a.mode, a.trigger}).second ? 0 : 1;
  }
  return d;
}

inline std::map<int64_t, engine::TicketRecord> TicketsByNumber(cli::Scenario* s) {
  std::map<int64_t, engine::TicketRecord> out;
  auto* store = s->app()->engine()->store();
  auto epic = store->FindEpic(cli::Scenario::kRepo, cli::Scenario::kEpic);
  if (!epic.ok() || !*epic) return out;
  auto tickets = store->Tickets((*epic)->id);
  if (!tickets.ok()) return out;
  for (const auto& t : *tickets) out[t.number] = t;
  return out;
}

inline std::vector<engine::AttemptRecord> AttemptsOf(cli::Scenario* s, int64_t ticket_id) {
  auto a = s->app()->engine()->store()->Attempts(ticket_id);
  return a.ok() ? *a : std::vector<engine::AttemptRecord>{};
}

// Plays the reviewer like Scenario::Run, calling `between(merges)` after every reviewer step.
inline cli::ScenarioSummary RunWith(cli::Scenario* s, seconds timeout,
                                    const std::function<void(int merges)>& between) {
  cli::ScenarioSummary summary;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    size_t seen = s->simulator()->Deliveries().size();
    if (s->ReviewStep(&summary)) break;
    between(summary.merges);
    s->simulator()->WaitForDeliveries(
        [seen](const std::vector<sandbox::Delivery>& d) { return d.size() > seen; }, milliseconds(1000));
  }
  return summary;
}

// An environment variable as an integer, or `fallback`.
inline int64_t EnvInt(const char* name, int64_t fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::stoll(v) : fallback;
}

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace wavebot::e2e
