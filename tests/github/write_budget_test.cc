// The per-installation write budget (docs/github.md, "The write budget"): the bookkeeping alone, the
// RestClient over an in-memory transport on a FakeClock (how long a write waits, that reads never do,
// deferrable writes refused while urgent ones pass, a stop ending the wait), and the client against the
// simulator enforcing GitHub's secondary limit (per-installation independence, and a burst that
// provokes no 403).
#include <gtest/gtest.h>

#include <mutex>
#include <nlohmann/json.hpp>

#include "common/clock.h"
#include "github/budget_metrics.h"
#include "github/rest.h"
#include "github/sim_fixture.h"
#include "github/write_budget.h"

namespace wavebot::github {
namespace {

using namespace std::chrono_literals;
using std::chrono::system_clock;

const system_clock::time_point kT0{std::chrono::seconds(1'800'000'000)};

// --- The bookkeeping

TEST(WriteBudgetTest, TheWriteAfterTheLimitWaitsUntilTheOldestSlotLeavesTheMinute) {
  WriteBudget b({80, 500});
  for (int i = 0; i < 80; ++i) {
    auto g = b.Take("installation:1", kT0 + std::chrono::milliseconds(i * 100), WritePriority::kUrgent);
    ASSERT_FALSE(g.waits) << i;
  }
  // The first slot (at kT0) leaves the minute at kT0 + 60 s: the 81st goes then, not before, not later.
  auto g = b.Take("installation:1", kT0 + 10s, WritePriority::kUrgent);
  EXPECT_TRUE(g.waits);
  EXPECT_EQ(g.at, kT0 + 60s);
  // The 82nd queues behind it: the second slot (kT0 + 100 ms) leaves at kT0 + 60.1 s.
  EXPECT_EQ(b.Take("installation:1", kT0 + 10s, WritePriority::kUrgent).at, kT0 + 60s + 100ms);
  auto usage = b.Usage(kT0 + 10s);
  ASSERT_EQ(usage.size(), 1u);
  EXPECT_EQ(usage[0].waits, 2);
  EXPECT_EQ(usage[0].waited_ms, 50'000 + 50'100);
}

TEST(WriteBudgetTest, TheHourWindowHoldsWritesTheMinuteWouldAllow) {
  WriteBudget b({80, 3});
  for (int i = 0; i < 3; ++i) ASSERT_FALSE(b.Take("k", kT0 + std::chrono::minutes(i), WritePriority::kUrgent).waits);
  auto g = b.Take("k", kT0 + 10min, WritePriority::kUrgent);
  EXPECT_EQ(g.at, kT0 + 1h);  // the first write's hour ends
  // An hour after the last of the three, the window is empty again.
  EXPECT_FALSE(b.Take("k", kT0 + 2h + 2min, WritePriority::kUrgent).waits);
}

TEST(WriteBudgetTest, DeferrableWritesLeaveTheLastFifthToUrgentOnes) {
  WriteBudget b({10, 500});  // reserve: 2 of the minute
  for (int i = 0; i < 8; ++i) ASSERT_FALSE(b.Take("k", kT0, WritePriority::kDeferrable).deferred) << i;
  EXPECT_TRUE(b.Take("k", kT0, WritePriority::kDeferrable).deferred);
  // Urgent writes still get the reserve without waiting.
  EXPECT_FALSE(b.Take("k", kT0, WritePriority::kUrgent).waits);
  EXPECT_FALSE(b.Take("k", kT0, WritePriority::kUrgent).waits);
  EXPECT_TRUE(b.Take("k", kT0, WritePriority::kUrgent).waits);
  // A deferrable write is not queued behind waiting ones either.
  EXPECT_TRUE(b.Take("k", kT0 + 30s, WritePriority::kDeferrable).deferred);
  EXPECT_FALSE(b.Take("k", kT0 + 2min, WritePriority::kDeferrable).deferred);
  EXPECT_EQ(b.Usage(kT0)[0].deferred, 2);
}

// GitHub counted a write when it arrived, between sending and answering: the slot counts from the answer.
TEST(WriteBudgetTest, ASettledSlotCountsFromItsAnswer) {
  WriteBudget b({1, 0});
  auto g = b.Take("k", kT0, WritePriority::kUrgent);
  b.Settle("k", g.at, kT0 + 2s);
  EXPECT_EQ(b.Take("k", kT0 + 3s, WritePriority::kUrgent).at, kT0 + 62s);
}

TEST(WriteBudgetTest, KeysAreIndependentAndAReleasedSlotIsFreeAgain) {
  WriteBudget b({2, 0});
  ASSERT_FALSE(b.Take("installation:1", kT0, WritePriority::kUrgent).waits);
  ASSERT_FALSE(b.Take("installation:1", kT0, WritePriority::kUrgent).waits);
  EXPECT_FALSE(b.Take("installation:2", kT0, WritePriority::kUrgent).waits);
  auto g = b.Take("installation:1", kT0, WritePriority::kUrgent);
  ASSERT_TRUE(g.waits);
  b.Release("installation:1", g.at, kT0);  // never sent
  EXPECT_EQ(b.Usage(kT0)[0].in_last_minute, 2);
  EXPECT_EQ(b.Usage(kT0)[0].waits, 0) << "a released slot's wait did not happen";
  EXPECT_EQ(b.Take("installation:1", kT0, WritePriority::kUrgent).at, kT0 + 60s);
}

// --- RestClient over an in-memory transport

// Answers every request 200 with "{}" and records "METHOD path"; each answer takes `latency` of the
// fake clock when one is given.
class RecordingTransport final : public Transport {
 public:
  RecordingTransport(FakeClock* clock = nullptr, std::chrono::milliseconds latency = {}) : clock_(clock), latency_(latency) {}
  Result<HttpResponse> Send(const HttpRequest& request, bool* may_have_landed) override {
    *may_have_landed = true;
    if (clock_ != nullptr) clock_->Advance(latency_);
    std::lock_guard lock(mu_);
    sent_.push_back(request.method + " " + request.url.substr(request.url.find('/', 8)));
    HttpResponse r;
    r.status = request.method == "POST" ? 201 : 200;
    r.body = "{}";
    return r;
  }
  size_t count() const {
    std::lock_guard lock(mu_);
    return sent_.size();
  }

 private:
  FakeClock* clock_;
  std::chrono::milliseconds latency_;
  mutable std::mutex mu_;
  std::vector<std::string> sent_;
};

// A clock on which SIGTERM arrives during any wait: the stop fires and the wait ends early.
class StoppedDuringWaitClock final : public Clock {
 public:
  system_clock::time_point Now() const override { return kT0; }
  void SleepFor(std::chrono::milliseconds d) override { asked += d; }
  bool SleepFor(std::chrono::milliseconds d, const StopSignal* stop) override {
    asked += d;
    if (stop == nullptr) return true;
    const_cast<StopSignal*>(stop)->Stop();
    return false;
  }
  std::chrono::milliseconds asked{0};
};

const RepoRef kRepo{"acme", "calc"};

class RestBudgetTest : public ::testing::Test {
 protected:
  void Make(int per_minute, int per_hour, Clock* clock = nullptr, std::chrono::milliseconds latency = {}) {
    ClientOptions o;
    o.api_url = "http://127.0.0.1:9";  // never dialled: the transport is in memory
    o.token = "ghp_test";
    o.clock = clock ? clock : &clock_;
    o.write_budget_per_minute = per_minute;
    o.write_budget_per_hour = per_hour;
    o.stop = &stop_;
    auto t = std::make_unique<RecordingTransport>(&clock_, latency);
    transport_ = t.get();
    rest_ = std::make_unique<RestClient>(o, nullptr, std::move(t));
  }
  Result<HttpResponse> Write(WritePriority p = WritePriority::kUrgent) {
    RestRequest r;
    r.method = "PATCH";
    r.path = "/repos/acme/calc/issues/comments/1";
    r.body = "{}";
    r.repo = kRepo;
    r.priority = p;
    return rest_->Call(r);
  }
  Result<HttpResponse> Read() {
    RestRequest r;
    r.path = "/repos/acme/calc/issues/1";
    r.repo = kRepo;
    return rest_->Call(r);
  }
  std::string Metrics() const {
    return RenderBudgetMetrics(rest_->Usage(), rest_->write_budget_limits(), rest_->WriteBudgetUsageNow());
  }

  FakeClock clock_{kT0};
  StopSignal stop_;
  RecordingTransport* transport_ = nullptr;
  std::unique_ptr<RestClient> rest_;
};

TEST_F(RestBudgetTest, The81stWriteInAMinuteWaitsExactlyUntilTheMinuteFrees) {
  Make(80, 500);
  ASSERT_TRUE(Write().ok());
  clock_.Advance(20s);
  for (int i = 1; i < 80; ++i) ASSERT_TRUE(Write().ok()) << i;
  EXPECT_EQ(clock_.slept(), 0ms) << "80 writes in a minute go at once";
  ASSERT_TRUE(Write().ok());
  // The first write (at kT0) leaves the minute at kT0 + 60 s; it is now kT0 + 20 s.
  EXPECT_EQ(clock_.slept(), 40s);
  EXPECT_EQ(clock_.Now(), kT0 + 60s);
  EXPECT_EQ(transport_->count(), 81u);
  const std::string m = Metrics();
  EXPECT_NE(m.find("wavebot_github_write_budget_waits_total{credential=\"pat\"} 1\n"), std::string::npos) << m;
  EXPECT_NE(m.find("wavebot_github_write_budget_wait_seconds_total{credential=\"pat\"} 40.000\n"), std::string::npos)
      << m;
  EXPECT_NE(m.find("wavebot_github_write_budget_limit{window=\"minute\"} 80\n"), std::string::npos) << m;
  EXPECT_NE(m.find("wavebot_github_write_budget_limit{window=\"hour\"} 500\n"), std::string::npos) << m;
  // At kT0 + 60 s the first write has left the minute: 80 in it (the 81st included), 81 in the hour.
  EXPECT_NE(m.find("wavebot_github_write_budget_used{credential=\"pat\",window=\"minute\"} 80\n"), std::string::npos)
      << m;
  EXPECT_NE(m.find("wavebot_github_write_budget_used{credential=\"pat\",window=\"hour\"} 81\n"), std::string::npos)
      << m;
}

// A write's slot counts from its answer, so the client's minute never ends before GitHub's (which
// counted the write on arrival): over a network that takes 500 ms to answer, the third write under a
// limit of 2 waits until a minute after the first write's answer.
TEST_F(RestBudgetTest, ASlotCountsFromTheWritesAnswer) {
  Make(2, 0, nullptr, 500ms);
  ASSERT_TRUE(Write().ok());  // sent at 0, answered at 0.5 s
  ASSERT_TRUE(Write().ok());  // answered at 1 s
  ASSERT_TRUE(Write().ok());
  EXPECT_EQ(clock_.slept(), 59500ms) << "from 1 s to 60.5 s";
}

TEST_F(RestBudgetTest, ReadsNeverWait) {
  Make(3, 0);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(Write().ok());
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(Read().ok());
  EXPECT_EQ(clock_.slept(), 0ms);
  ASSERT_TRUE(Write().ok());
  EXPECT_EQ(clock_.slept(), 60s);
}

TEST_F(RestBudgetTest, ADeferrableWriteIsRefusedAtOnceWhileUrgentOnesStillPass) {
  Make(10, 500);  // the last 2 of a minute are kept for urgent writes
  for (int i = 0; i < 8; ++i) ASSERT_TRUE(Write(WritePriority::kDeferrable).ok()) << i;
  auto refused = Write(WritePriority::kDeferrable);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code(), ErrorCode::kDeferred);
  EXPECT_NE(refused.error().message().find("write budget"), std::string::npos) << refused.error().message();
  EXPECT_EQ(transport_->count(), 8u) << "a refused write is not sent";
  ASSERT_TRUE(Write().ok());
  ASSERT_TRUE(Write().ok());
  EXPECT_EQ(clock_.slept(), 0ms) << "urgent writes take the reserve without waiting";
  EXPECT_NE(Metrics().find("wavebot_github_write_budget_deferred_total{credential=\"pat\"} 1\n"), std::string::npos)
      << Metrics();
  // Once the minute has room above the reserve, the deferrable write goes.
  clock_.Advance(60s);
  EXPECT_TRUE(Write(WritePriority::kDeferrable).ok());
}

TEST_F(RestBudgetTest, AStopEndsTheWaitAndNothingIsSent) {
  StoppedDuringWaitClock stopped;
  Make(2, 0, &stopped);
  ASSERT_TRUE(Write().ok());
  ASSERT_TRUE(Write().ok());
  auto res = Write();
  ASSERT_FALSE(res.ok());
  EXPECT_EQ(res.error().code(), ErrorCode::kCancelled);
  EXPECT_EQ(stopped.asked, 60s) << "the wait went through Clock::SleepFor(d, stop)";
  EXPECT_EQ(transport_->count(), 2u);
  EXPECT_TRUE(stop_.stopped());
  auto usage = rest_->WriteBudgetUsageNow();
  ASSERT_EQ(usage.size(), 1u);
  EXPECT_EQ(usage[0].in_last_minute, 2) << "the cancelled write's slot was given back";
  EXPECT_EQ(usage[0].waits, 0);
}

TEST_F(RestBudgetTest, AWaitPastTheCallsDeadlineFailsAtOnce) {
  Make(0, 2);  // an hour window only: the third write would wait an hour, past the 600 s deadline
  ASSERT_TRUE(Write().ok());
  ASSERT_TRUE(Write().ok());
  const auto first = clock_.Now();
  auto res = Write();
  ASSERT_FALSE(res.ok());
  EXPECT_EQ(res.error().code(), ErrorCode::kRateLimited);
  // It says when a slot frees: the first write's hour is up (the engine holds its passes until then).
  EXPECT_EQ(res.error().retry_at(), first + 1h);
  EXPECT_EQ(res.error().Wrap("a pass").retry_at(), first + 1h);
  EXPECT_EQ(clock_.slept(), 0ms);
  EXPECT_EQ(transport_->count(), 2u);
}

TEST_F(RestBudgetTest, ZeroLimitsTurnTheBudgetOff) {
  Make(0, 0);
  for (int i = 0; i < 200; ++i) ASSERT_TRUE(Write(WritePriority::kDeferrable).ok());
  EXPECT_EQ(clock_.slept(), 0ms);
}

// --- The client against the simulator enforcing GitHub's secondary limit, on one FakeClock

class BudgetSimTest : public testing::SimTest {
 protected:
  void Configure(sandbox::SimulatorOptions* so) override {
    so->secondary_per_minute = 10;
    so->secondary_per_hour = 0;
  }
  std::unique_ptr<Client> Budgeted(int per_minute) {
    ClientOptions co = ClientOpts();
    co.write_budget_per_minute = per_minute;
    co.write_budget_per_hour = 0;
    return MakeClient(co);
  }
  int Answered(const std::string& status) {
    int n = 0;
    for (const auto& line : sim_->RequestLog()) n += line.size() > 4 && line.substr(line.size() - 4) == " " + status;
    return n;
  }
};

// Task 3 of issue #17: a burst of 30 writes under a limit of 10 a minute completes without one 403 or
// 429, every write landing once; a client without the budget is refused (the control that shows the
// simulator enforces the limit, so the first half can fail).
TEST_F(BudgetSimTest, ABurstUnderTheBudgetProvokesNoSecondaryLimitAndEveryWriteLandsOnce) {
  int64_t n = *sim_->CreateIssue(testing::kRepo, "alice", "title", "body", {});
  auto client = Budgeted(10);
  ASSERT_TRUE(client->GetIssue(testing::kRepo, n).ok());  // mints the token first
  const auto start = clock_.Now();
  for (int i = 0; i < 30; ++i) {
    auto c = client->CreateComment(testing::kRepo, n, "comment " + std::to_string(i));
    ASSERT_TRUE(c.ok()) << i << ": " << c.error().ToString();
  }
  EXPECT_EQ(sim_->secondary_limit_answers(), 0);
  EXPECT_EQ(Answered("403") + Answered("429"), 0);
  auto comments = client->ListComments(testing::kRepo, n);
  ASSERT_TRUE(comments.ok());
  ASSERT_EQ(comments->size(), 30u);
  for (int i = 0; i < 30; ++i) EXPECT_EQ((*comments)[i].body, "comment " + std::to_string(i));
  EXPECT_EQ(clock_.Now() - start, 120s) << "three minutes' worth of writes: two waits of a minute";

  auto unbudgeted = Budgeted(0);
  for (int i = 0; i < 11; ++i) ASSERT_TRUE(unbudgeted->CreateComment(testing::kRepo, n, "x" + std::to_string(i)).ok());
  EXPECT_GE(sim_->secondary_limit_answers(), 1) << "the simulator enforces the limit";
}

TEST_F(BudgetSimTest, EachInstallationHasABudgetOfItsOwn) {
  auto other_id = sim_->CreateInstallation("other");
  ASSERT_TRUE(other_id.ok());
  const RepoRef other{"other", "repo"};
  sandbox::NewRepo spec;
  spec.installation_id = *other_id;
  ASSERT_TRUE(sim_->CreateRepo(other, spec).ok());
  int64_t a = *sim_->CreateIssue(testing::kRepo, "alice", "a", "body", {});
  int64_t b = *sim_->CreateIssue(other, "alice", "b", "body", {});
  auto client = Budgeted(10);
  ASSERT_TRUE(client->GetIssue(testing::kRepo, a).ok());
  ASSERT_TRUE(client->GetIssue(other, b).ok());
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(client->CreateComment(testing::kRepo, a, "a" + std::to_string(i)).ok());
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(client->CreateComment(other, b, "b" + std::to_string(i)).ok());
  EXPECT_EQ(clock_.slept(), 0ms) << "ten writes each, in two installations' budgets";
  ASSERT_TRUE(client->CreateComment(testing::kRepo, a, "a10").ok());
  EXPECT_EQ(clock_.slept(), 60s);
  EXPECT_EQ(sim_->secondary_limit_answers(), 0);
  const std::string m = client->BudgetMetrics();
  EXPECT_NE(m.find("wavebot_github_write_budget_waits_total{credential=\"installation:"), std::string::npos) << m;
}

}  // namespace
}  // namespace wavebot::github
