// GitHub's rate limits as the simulator enforces them, on its FakeClock: the secondary limit on content
// creation per installation (a minute and an hour window; 403 + retry-after beyond them; clear when the
// window moves on; token mints not counted), and the primary limit per installation across its tokens,
// 304s free.
#include <gtest/gtest.h>
#include <httplib.h>

#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

#include "github/sim_fixture.h"
#include "support/wait_util.h"

namespace wavebot::testing {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

class SimLimitsTest : public SimTest {
 protected:
  void Configure(sandbox::SimulatorOptions* so) override {
    so->secondary_per_minute = per_minute_;
    so->secondary_per_hour = per_hour_;
    so->rate_limit = primary_;
    so->secondary_points_per_minute = points_;
  }
  void SetUp() override {
    SimTest::SetUp();
    issue_ = *sim_->CreateIssue(kRepo, "alice", "title", "body", {});
    auto inst = client_->GetRepoInstallation(kRepo);
    ASSERT_TRUE(inst.ok()) << inst.error().ToString();
    installation_ = inst->id;
  }
  // A fresh installation token (POST /app/installations/{id}/access_tokens with the App's JWT).
  std::string Mint(int64_t installation) {
    auto t = client_->CreateInstallationToken(installation);
    EXPECT_TRUE(t.ok()) << (t.ok() ? "" : t.error().ToString());
    return t.ok() ? t->token : "";
  }
  httplib::Result Comment(const std::string& token, const github::RepoRef& repo, int64_t issue) {
    httplib::Client http(sim_->api_url());
    return http.Post("/repos/" + repo.FullName() + "/issues/" + std::to_string(issue) + "/comments",
                     {{"Authorization", "token " + token}}, R"({"body":"hi"})", "application/json");
  }
  httplib::Result Comment(const std::string& token) { return Comment(token, kRepo, issue_); }
  httplib::Result GetIssue(const std::string& token, const std::string& etag = "") {
    httplib::Client http(sim_->api_url());
    httplib::Headers h = {{"Authorization", "token " + token}};
    if (!etag.empty()) h.emplace("If-None-Match", etag);
    return http.Get("/repos/octo/demo/issues/" + std::to_string(issue_), h);
  }
  // Asserts a refusal by the secondary limit and returns its retry-after.
  static int RetryAfterOfRefusal(const httplib::Result& r) {
    EXPECT_TRUE(r);
    if (!r) return -1;
    EXPECT_TRUE(r->status == 403 || r->status == 429) << r->status << " " << r->body;
    EXPECT_NE(r->body.find("secondary rate limit"), std::string::npos) << r->body;
    EXPECT_TRUE(r->has_header("Retry-After"));
    return std::atoi(r->get_header_value("Retry-After").c_str());
  }

  int per_minute_ = 3;
  int per_hour_ = 0;
  int64_t primary_ = 5000;
  int points_ = 0;  // no points limit unless a test sets one
  int64_t issue_ = 0;
  int64_t installation_ = 0;
};

TEST_F(SimLimitsTest, TheMinuteWindowRefusesWithRetryAfterAndClearsWhenTheClockMovesOn) {
  const std::string token = Mint(installation_);
  ASSERT_EQ(Comment(token)->status, 201);
  clock_.Advance(10s);
  ASSERT_EQ(Comment(token)->status, 201);
  ASSERT_EQ(Comment(token)->status, 201);
  EXPECT_EQ(RetryAfterOfRefusal(Comment(token)), 50) << "the first write leaves the minute 50 s from now";
  EXPECT_EQ(GetIssue(token)->status, 200) << "reads are not content creation";
  clock_.Advance(49s);
  EXPECT_EQ(RetryAfterOfRefusal(Comment(token)), 1);
  clock_.Advance(1s);
  EXPECT_EQ(Comment(token)->status, 201);
  EXPECT_EQ(sim_->secondary_limit_answers(), 2);
  // GitHub answers "a 403 or 429": the simulator gives both, in turn.
  EXPECT_EQ(CountRequests("POST /repos/octo/demo/issues/" + std::to_string(issue_) + "/comments 403"), 1);
  EXPECT_EQ(CountRequests("POST /repos/octo/demo/issues/" + std::to_string(issue_) + "/comments 429"), 1);
}

class SimHourLimitTest : public SimLimitsTest {
 protected:
  SimHourLimitTest() {
    per_minute_ = 0;
    per_hour_ = 3;
  }
};

TEST_F(SimHourLimitTest, TheHourWindowRefusesWhatTheMinuteWouldAllow) {
  const std::string token = Mint(installation_);
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(Comment(token)->status, 201);
    clock_.Advance(5min);
  }
  EXPECT_EQ(RetryAfterOfRefusal(Comment(token)), 45 * 60) << "the first write leaves the hour at 60 min";
  clock_.Advance(45min);
  EXPECT_EQ(Comment(Mint(installation_))->status, 201);  // (the first token expired with the hour)
}

// GitHub counts an installation's requests whatever token of it makes them; another installation has
// limits of its own; minting tokens is the App's request, not the installation's content creation.
TEST_F(SimLimitsTest, CountedPerInstallationAcrossItsTokensAndMintsAreNot) {
  std::vector<std::string> tokens;
  for (int i = 0; i < 6; ++i) tokens.push_back(Mint(installation_));  // six mints, none counted
  ASSERT_EQ(Comment(tokens[0])->status, 201);
  ASSERT_EQ(Comment(tokens[1])->status, 201);
  ASSERT_EQ(Comment(tokens[2])->status, 201);
  RetryAfterOfRefusal(Comment(tokens[3]));

  auto other = sim_->CreateInstallation("other");
  ASSERT_TRUE(other.ok());
  const github::RepoRef repo{"other", "repo"};
  sandbox::NewRepo spec;
  spec.installation_id = *other;
  ASSERT_TRUE(sim_->CreateRepo(repo, spec).ok());
  int64_t n = *sim_->CreateIssue(repo, "alice", "t", "b", {});
  EXPECT_EQ(Comment(Mint(*other), repo, n)->status, 201) << "another installation's budget is its own";
}

class SimPointsLimitTest : public SimLimitsTest {
 protected:
  SimPointsLimitTest() {
    per_minute_ = 0;
    points_ = 12;
  }
};

// GitHub's secondary limit on points (900 a minute; 12 here): a read costs 1 point, a write 5, a 304
// its point too; beyond it reads and writes alike are refused with retry-after until the oldest
// requests leave the minute.
TEST_F(SimPointsLimitTest, ReadsCostAPointWritesFiveAndTheMinuteRefusesBeyondThem) {
  const std::string token = Mint(installation_);
  ASSERT_EQ(Comment(token)->status, 201);  // 5
  clock_.Advance(20s);
  ASSERT_EQ(Comment(token)->status, 201);  // 10
  auto first = GetIssue(token);            // 11
  ASSERT_EQ(first->status, 200);
  EXPECT_EQ(GetIssue(token, first->get_header_value("ETag"))->status, 304);  // 12
  EXPECT_EQ(RetryAfterOfRefusal(GetIssue(token)), 40) << "the first write leaves the minute 40 s from now";
  EXPECT_EQ(RetryAfterOfRefusal(Comment(token)), 40);
  clock_.Advance(40s);  // the first write's 5 points left
  EXPECT_EQ(GetIssue(token)->status, 200);
  EXPECT_EQ(RetryAfterOfRefusal(Comment(token)), 20)
      << "a write needs 5 points: the second write must leave too";
  clock_.Advance(20s);
  EXPECT_EQ(Comment(token)->status, 201);
}

class SimConcurrencyLimitTest : public SimLimitsTest {
 protected:
  void Configure(sandbox::SimulatorOptions* so) override {
    SimLimitsTest::Configure(so);
    so->secondary_concurrent_requests = 3;  // 100 on GitHub
  }
  void SetLatency(int ms) {
    httplib::Client http(sim_->api_url());
    auto r = http.Post("/_sim/faults", json{{"latency_ms", ms}}.dump(), "application/json");
    ASSERT_TRUE(r && r->status / 100 == 2) << (r ? r->body : "no answer");
  }
};

// GitHub's secondary limit on concurrent requests (100; 3 here): with that many of an installation's
// requests in flight (held by a simulated network delay), the next one is refused at once with
// retry-after; another credential has its own; once they are answered, requests go again.
TEST_F(SimConcurrencyLimitTest, ARequestBeyondTheInstallationsConcurrentOnesIsRefusedAtOnce) {
  const std::string token = Mint(installation_);
  const std::string other_token = Mint(installation_);  // the same installation: the same limit
  SetLatency(60000);
  std::vector<int> statuses(3, 0);
  std::vector<std::thread> held;
  for (int i = 0; i < 3; ++i) {
    held.emplace_back([&, i] {
      auto r = GetIssue(token);
      statuses[static_cast<size_t>(i)] = r ? r->status : -1;
    });
  }
  ASSERT_TRUE(WaitFor([&] { return sim_->requests_in_flight() == 3; }, std::chrono::seconds(30)));
  EXPECT_EQ(RetryAfterOfRefusal(GetIssue(other_token)), 60);
  EXPECT_EQ(RetryAfterOfRefusal(Comment(token)), 60);
  EXPECT_EQ(sim_->requests_in_flight(), 3) << "refused at once, not held";
  SetLatency(0);  // the three are answered
  for (auto& t : held) t.join();
  EXPECT_EQ(statuses, (std::vector<int>{200, 200, 200}));
  EXPECT_EQ(sim_->requests_in_flight(), 0);
  EXPECT_EQ(GetIssue(token)->status, 200);
}

class SimPrimaryLimitTest : public SimLimitsTest {
 protected:
  SimPrimaryLimitTest() { primary_ = 4; }
};

TEST_F(SimPrimaryLimitTest, ThePrimaryLimitIsPerInstallationAndNotModifiedIsFree) {
  const std::string a = Mint(installation_);
  const std::string b = Mint(installation_);  // a second token of the same installation
  auto first = GetIssue(a);
  ASSERT_EQ(first->status, 200);
  EXPECT_EQ(first->get_header_value("x-ratelimit-used"), "1");
  const std::string etag = first->get_header_value("ETag");
  auto second = GetIssue(b);
  ASSERT_EQ(second->status, 200);
  EXPECT_EQ(second->get_header_value("x-ratelimit-used"), "2") << "one count for the installation, not per token";
  EXPECT_EQ(second->get_header_value("x-ratelimit-remaining"), "2");
  for (int i = 0; i < 3; ++i) {
    auto cached = GetIssue(a, etag);
    ASSERT_EQ(cached->status, 304);
    EXPECT_EQ(cached->get_header_value("x-ratelimit-used"), "2") << "a 304 costs nothing";
  }
  ASSERT_EQ(GetIssue(b)->status, 200);
  ASSERT_EQ(GetIssue(a)->status, 200);
  auto refused = GetIssue(b);
  ASSERT_EQ(refused->status, 403);
  EXPECT_NE(refused->body.find("API rate limit exceeded for installation ID " + std::to_string(installation_)),
            std::string::npos)
      << refused->body;
  EXPECT_EQ(refused->get_header_value("x-ratelimit-remaining"), "0");
  clock_.Advance(1h);
  auto renewed = GetIssue(Mint(installation_));  // (the tokens expired with the hour)
  ASSERT_EQ(renewed->status, 200) << "a new window an hour after the first request";
  EXPECT_EQ(renewed->get_header_value("x-ratelimit-used"), "1");
}

}  // namespace
}  // namespace wavebot::testing
