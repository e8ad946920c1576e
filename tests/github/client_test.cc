// The REST client against the simulator over loopback: auth, tokens, pagination, ETags, rate limits,
// retries, redirects, idempotent PR creation.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "github/epic_fetch.h"
#include "github/jwt.h"
#include "github/redelivery.h"
#include "github/sim_fixture.h"

namespace wavebot::testing {
namespace {

using namespace std::chrono_literals;
using sandbox::Fault;

class ClientTest : public SimTest {};

TEST_F(ClientTest, AppAuthLooksUpInstallationAndCachesToken) {
  auto repo = client_->GetRepository(kRepo);
  ASSERT_TRUE(repo.ok()) << repo.error().ToString();
  EXPECT_EQ(repo->default_branch, "main");
  EXPECT_EQ(repo->full_name, "octo/demo");
  ASSERT_TRUE(client_->GetIssue(kRepo, 1).error().code() == wavebot::ErrorCode::kNotFound);
  EXPECT_EQ(CountRequests("GET /repos/octo/demo/installation 200"), 1);
  EXPECT_EQ(CountRequests("POST /app/installations/"), 1);
}

TEST_F(ClientTest, RefreshesTokenFiveMinutesBeforeExpiry) {
  ASSERT_TRUE(client_->GetRepository(kRepo).ok());
  clock_.Advance(50min);
  ASSERT_TRUE(client_->GetRepository(kRepo).ok());
  EXPECT_EQ(CountRequests("POST /app/installations/"), 1) << "a token with 10 minutes left is reused";
  clock_.Advance(6min);
  ASSERT_TRUE(client_->GetRepository(kRepo).ok());
  EXPECT_EQ(CountRequests("POST /app/installations/"), 2) << "a token with 4 minutes left is refreshed";
  EXPECT_EQ(CountRequests("GET /repos/octo/demo 401"), 0);
}

TEST(DefaultGitBaseUrlTest, GitHubGhesAndOthers) {
  EXPECT_EQ(github::DefaultGitBaseUrl("https://api.github.com"), "https://github.com");
  EXPECT_EQ(github::DefaultGitBaseUrl("https://ghe.example.com/api/v3"), "https://ghe.example.com");
  EXPECT_EQ(github::DefaultGitBaseUrl("https://ghe.example.com/api/v3/"), "https://ghe.example.com");
  EXPECT_EQ(github::DefaultGitBaseUrl("http://127.0.0.1:8080"), "http://127.0.0.1:8080");
}

TEST_F(ClientTest, PersonalAccessTokenMode) {
  auto token = sim_->CreateUserToken("alice");
  ASSERT_TRUE(token.ok());
  github::ClientOptions co;
  co.api_url = sim_->api_url();
  co.token = *token;
  co.clock = &clock_;
  auto pat = MakeClient(co);
  ASSERT_TRUE(pat->GetRepository(kRepo).ok());
  EXPECT_EQ(CountRequests("POST /app/installations/"), 0);
  auto comment = pat->CreateComment(kRepo, *sim_->CreateIssue(kRepo, "bob", "t", "b", {}), "hi");
  ASSERT_TRUE(comment.ok());
  EXPECT_EQ(comment->user_login, "alice");
}

// wavebot learns who it is rather than guessing: the App's slug (GET /app), its bot account's id (GET
// /users/<slug>[bot]) and so GitHub's noreply address; with a token, the token's user (GET /user).
TEST_F(ClientTest, IdentityIsTheAppsBotAccountOrTheTokensUser) {
  auto id = client_->GetIdentity(kRepo);
  ASSERT_TRUE(id.ok()) << id.error().ToString();
  EXPECT_EQ(id->app_slug, "wavebot");
  EXPECT_EQ(id->login, "wavebot[bot]");
  EXPECT_GT(id->user_id, 0);
  EXPECT_EQ(id->NoreplyEmail(), std::to_string(id->user_id) + "+wavebot[bot]@users.noreply.github.com");
  EXPECT_EQ(CountRequests("GET /app 200"), 1);
  EXPECT_EQ(CountRequests("GET /users/wavebot[bot] 200"), 1);
  auto anonymous = client_->GetIdentity(github::RepoRef{});
  ASSERT_TRUE(anonymous.ok()) << anonymous.error().ToString();
  EXPECT_EQ(anonymous->user_id, id->user_id);

  auto token = sim_->CreateUserToken("alice");
  ASSERT_TRUE(token.ok());
  github::ClientOptions co;
  co.api_url = sim_->api_url();
  co.token = *token;
  co.clock = &clock_;
  auto user = MakeClient(co)->GetIdentity(kRepo);
  ASSERT_TRUE(user.ok()) << user.error().ToString();
  EXPECT_EQ(user->login, "alice");
  EXPECT_EQ(user->app_slug, "");
  EXPECT_GT(user->user_id, 0);
}

TEST_F(ClientTest, BadCredentialsAreClearErrors) {
  github::ClientOptions co = ClientOpts();
  co.private_key_pem = "not a key";
  auto bad = github::NewClient(co);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message().find("WAVEBOT_PRIVATE_KEY_FILE"), std::string::npos);

  // A different key: GitHub refuses the JWT.
  auto other = github::PrivateKey::Generate();
  co = ClientOpts();
  co.private_key_pem = (*other)->PrivatePem();
  auto wrong = MakeClient(co);
  auto res = wrong->GetRepository(kRepo);
  ASSERT_FALSE(res.ok());
  EXPECT_EQ(res.error().code(), ErrorCode::kUnauthenticated);

  // A clock 20 minutes slow: the JWT expired before GitHub saw it; the message points at the clock.
  FakeClock slow(clock_.Now() - 20min);
  co = ClientOpts();
  co.clock = &slow;
  auto skewed = MakeClient(co);
  res = skewed->GetRepository(kRepo);
  ASSERT_FALSE(res.ok());
  EXPECT_NE(res.error().message().find("clock"), std::string::npos) << res.error().message();

  // An unknown token: GitHub's "Bad credentials".
  github::ClientOptions bogus;
  bogus.api_url = sim_->api_url();
  bogus.token = "ghp_not_a_real_token";
  bogus.clock = &clock_;
  auto bad_token = MakeClient(bogus)->GetRepository(kRepo);
  ASSERT_FALSE(bad_token.ok());
  EXPECT_EQ(bad_token.error().code(), ErrorCode::kUnauthenticated);
  EXPECT_NE(bad_token.error().message().find("Bad credentials"), std::string::npos);

  github::ClientOptions none;
  none.api_url = sim_->api_url();
  EXPECT_EQ(github::NewClient(none).error().code(), ErrorCode::kInvalidArgument);
  none.api_url = "ftp://x";
  none.token = "t";
  EXPECT_EQ(github::NewClient(none).error().code(), ErrorCode::kInvalidArgument);
}

TEST_F(ClientTest, PaginatesAcrossThreePages) {
  for (int i = 0; i < 250; ++i) ASSERT_TRUE(sim_->CreateIssue(kRepo, "alice", "t" + std::to_string(i), "", {}).ok());
  github::IssueListFilter f;
  f.state = "all";
  auto issues = client_->ListIssues(kRepo, f);
  ASSERT_TRUE(issues.ok()) << issues.error().ToString();
  ASSERT_EQ(issues->size(), 250u);
  std::set<int64_t> numbers;
  for (const auto& i : *issues) numbers.insert(i.number);
  EXPECT_EQ(numbers.size(), 250u);
  EXPECT_EQ(CountRequests("GET /repos/octo/demo/issues 200"), 3);
}

TEST_F(ClientTest, ConditionalRequestAnswered304CostsNoRateLimit) {
  int64_t n = *sim_->CreateIssue(kRepo, "alice", "title", "body", {"agent-ready"});
  auto first = client_->GetIssue(kRepo, n);
  ASSERT_TRUE(first.ok());
  auto again = client_->GetIssue(kRepo, n);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->title, "title");
  EXPECT_EQ(again->labels, std::vector<std::string>{"agent-ready"});
  EXPECT_EQ(CountRequests("GET /repos/octo/demo/issues/" + std::to_string(n) + " 304"), 1);
  // The issue changes: the ETag no longer matches and the new body arrives.
  ASSERT_TRUE(sim_->AddLabel(kRepo, n, "bug", "alice").ok());
  auto changed = client_->GetIssue(kRepo, n);
  ASSERT_TRUE(changed.ok());
  EXPECT_EQ(changed->labels.size(), 2u);
}

// GitHub's budget as spent, per credential, for /metrics: requests, 304s (free against the primary
// limit), writes (what the secondary limits count), and what GitHub last said of the window.
TEST_F(ClientTest, BudgetMetricsCountRequestsNotModifiedAndWritesPerCredential) {
  EXPECT_EQ(client_->BudgetMetrics(), "");  // nothing spent yet
  int64_t n = *sim_->CreateIssue(kRepo, "alice", "title", "body", {});
  ASSERT_TRUE(client_->GetIssue(kRepo, n).ok());
  ASSERT_TRUE(client_->GetIssue(kRepo, n).ok());  // 304
  ASSERT_TRUE(client_->CreateComment(kRepo, n, "hello").ok());
  const std::string m = client_->BudgetMetrics();
  auto value = [&](const std::string& family) -> int64_t {
    const std::string prefix = family + "{credential=\"installation:";
    auto at = m.find(prefix);
    if (at == std::string::npos) return -1;
    return std::stoll(m.substr(m.find("} ", at) + 2));
  };
  const int64_t requests = value("wavebot_github_requests_total");
  EXPECT_GE(requests, 3) << m;  // the two reads and the write (a lost-answer lookup would add one)
  EXPECT_EQ(value("wavebot_github_not_modified_total"), 1) << m;
  EXPECT_EQ(value("wavebot_github_writes_total"), 1) << m;
  EXPECT_GT(value("wavebot_github_ratelimit_limit"), 0) << m;
  EXPECT_LT(value("wavebot_github_ratelimit_remaining"), value("wavebot_github_ratelimit_limit")) << m;
  EXPECT_NE(m.find("wavebot_github_requests_total{credential=\"app\"}"), std::string::npos) << m;  // the token's
  EXPECT_NE(m.find("# TYPE wavebot_github_writes_total counter"), std::string::npos) << m;

  // The same as records, for the dashboard: the installation's row with its write budget, the App's without.
  const auto budget = client_->Budget();
  ASSERT_EQ(budget.size(), 2u);
  EXPECT_EQ(budget[0].credential, "app");
  EXPECT_EQ(budget[0].write_limit_per_minute, 0);
  const github::CredentialBudget& inst = budget[1];
  EXPECT_EQ(inst.credential.rfind("installation:", 0), 0u) << inst.credential;
  EXPECT_EQ(inst.requests, requests);
  EXPECT_EQ(inst.not_modified, 1);
  EXPECT_EQ(inst.writes, 1);
  EXPECT_EQ(inst.limit, value("wavebot_github_ratelimit_limit"));
  EXPECT_EQ(inst.remaining, value("wavebot_github_ratelimit_remaining"));
  EXPECT_EQ(inst.write_limit_per_minute, 80);
  EXPECT_EQ(inst.write_limit_per_hour, 500);
  EXPECT_EQ(inst.writes_last_minute, 1);
  EXPECT_EQ(inst.writes_last_hour, 1);
}

class RateLimitedTest : public SimTest {
  void Configure(sandbox::SimulatorOptions* so) override {
    so->rate_limit = 3;
    so->faults.retry_after_seconds = 7;
  }
};

TEST_F(RateLimitedTest, SecondaryLimitHonoursRetryAfter) {
  ASSERT_TRUE(client_->GetRepository(kRepo).ok());  // token minted
  sim_->InjectFaults({Fault::kSecondary403RetryAfter});
  auto before = clock_.slept();
  ASSERT_TRUE(client_->GetIssue(kRepo, 1).error().code() == wavebot::ErrorCode::kNotFound);
  EXPECT_EQ(clock_.slept() - before, 7s);
  sim_->InjectFaults({Fault::kSecondary429RetryAfter});
  before = clock_.slept();
  ASSERT_TRUE(client_->GetRepository(kRepo).ok());
  EXPECT_EQ(clock_.slept() - before, 7s);
}

TEST_F(RateLimitedTest, SecondaryLimitWithoutRetryAfterBacksOffFromAMinute) {
  ASSERT_TRUE(client_->GetRepository(kRepo).ok());
  sim_->InjectFaults({Fault::kSecondary403NoRetryAfter, Fault::kSecondary403NoRetryAfter});
  auto before = clock_.slept();
  ASSERT_TRUE(client_->GetRepository(kRepo).ok());
  EXPECT_EQ(clock_.slept() - before, 60s + 120s);
}

TEST_F(RateLimitedTest, PrimaryLimitWaitsUntilReset) {
  auto token = sim_->CreateUserToken("alice");
  github::ClientOptions co;
  co.api_url = sim_->api_url();
  co.token = *token;
  co.clock = &clock_;
  auto c = MakeClient(co);  // default deadline (10 minutes): shorter than the wait for the reset
  co.call_deadline = std::chrono::hours(2);
  auto a = MakeClient(co);
  auto b = MakeClient(co);  // shares the token, knows nothing of its limit
  for (int i = 1; i <= 3; ++i) ASSERT_EQ(a->GetIssue(kRepo, i).error().code(), wavebot::ErrorCode::kNotFound);
  // `c` gets the 403 with remaining 0; the reset is past its deadline, so it fails at once.
  auto before = clock_.slept();
  auto limited = c->GetRepository(kRepo);
  ASSERT_FALSE(limited.ok());
  EXPECT_EQ(limited.error().code(), ErrorCode::kRateLimited);
  EXPECT_EQ(clock_.slept(), before);
  EXPECT_EQ(CountRequests("GET /repos/octo/demo 403"), 1);
  // `a` saw remaining=0: it waits for the reset before sending, and sends no request that would fail.
  auto start = clock_.Now();
  auto after_reset = a->GetRepository(kRepo);
  ASSERT_TRUE(after_reset.ok()) << after_reset.error().ToString();
  auto waited = clock_.Now() - start;
  EXPECT_GE(waited, 59min);
  EXPECT_LE(waited, 61min);
  EXPECT_EQ(CountRequests("GET /repos/octo/demo 403"), 1);
  // Exhaust the new window through `a`; `b` learns from the 403 and waits for the reset.
  ASSERT_TRUE(a->GetIssue(kRepo, 9).error().code() == wavebot::ErrorCode::kNotFound);
  ASSERT_TRUE(a->GetIssue(kRepo, 10).error().code() == wavebot::ErrorCode::kNotFound);
  start = clock_.Now();
  auto b_res = b->GetRepository(kRepo);
  ASSERT_TRUE(b_res.ok()) << b_res.error().ToString();
  EXPECT_GE(clock_.Now() - start, 59min);
  EXPECT_EQ(CountRequests("GET /repos/octo/demo 403"), 2);
}

TEST_F(RateLimitedTest, WaitPastTheDeadlineFailsWithoutWaiting) {
  github::ClientOptions co = ClientOpts();
  co.call_deadline = 5s;
  auto c = MakeClient(co);
  ASSERT_TRUE(c->GetRepository(kRepo).ok());
  sim_->InjectFaults({Fault::kSecondary403RetryAfter});  // retry-after 7 s > 5 s deadline
  auto before = clock_.slept();
  auto res = c->GetRepository(kRepo);
  ASSERT_FALSE(res.ok());
  EXPECT_EQ(res.error().code(), ErrorCode::kRateLimited);
  EXPECT_EQ(clock_.slept(), before);
}

TEST_F(ClientTest, ServerErrorsAreRetriedWithJitteredBackoff) {
  ASSERT_TRUE(client_->GetRepository(kRepo).ok());
  sim_->InjectFaults({Fault::k500, Fault::k502});
  auto before = clock_.slept();
  ASSERT_TRUE(client_->GetRepository(kRepo).ok());
  auto waited = clock_.slept() - before;
  // 1 s then 2 s, each scaled by a jitter in [0.5, 1.5).
  EXPECT_GE(waited, 1500ms);
  EXPECT_LT(waited, 4500ms);
}

// A fraction of requests failing by configuration: the client still gets every answer, and the same
// seed fails the same requests.
std::vector<std::string> RunWithRandomFaults(const std::string& dir, uint64_t seed) {
  FakeClock clock(std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now()));
  sandbox::SimulatorOptions so;
  so.data_dir = dir;
  so.clock = &clock;
  so.seed = seed;
  so.faults.server_error_fraction = 0.3;
  so.faults.secondary_limit_fraction = 0.1;
  auto sim = sandbox::Simulator::Start(so).value();
  EXPECT_TRUE(sim->CreateRepo(kRepo, {}).ok());
  github::ClientOptions co;
  co.api_url = sim->api_url();
  co.app_id = std::to_string(sim->app_id());
  co.private_key_pem = sim->app_private_key_pem();
  co.clock = &clock;
  co.jitter_seed = 1;
  auto client = github::NewClient(co).value();
  for (int i = 0; i < 15; ++i) {
    auto r = client->GetRepository(kRepo);
    EXPECT_TRUE(r.ok()) << r.error().ToString();
  }
  client.reset();
  sim->Stop();
  return sim->RequestLog();
}

TEST_F(ClientTest, RandomFaultsAreSurvivedAndSeeded) {
  auto first = RunWithRandomFaults(dir_.path() + "/a", 42);
  auto second = RunWithRandomFaults(dir_.path() + "/b", 42);
  EXPECT_EQ(first, second);
  int faults = 0;
  for (const auto& line : first) {
    faults += (line.find(" 500") != std::string::npos || line.find(" 502") != std::string::npos ||
               line.find(" 503") != std::string::npos ||
               line.find(" 403") != std::string::npos || line.find(" 429") != std::string::npos);
  }
  EXPECT_GE(faults, 3);
}

TEST_F(ClientTest, ServerErrorsGiveUpAtTheDeadline) {
  github::ClientOptions co = ClientOpts();
  co.call_deadline = 30s;
  auto c = MakeClient(co);
  ASSERT_TRUE(c->GetRepository(kRepo).ok());
  sim_->InjectFaults(std::vector<Fault>(30, Fault::k500));
  auto start = clock_.Now();
  auto res = c->GetRepository(kRepo);
  ASSERT_FALSE(res.ok());
  EXPECT_EQ(res.error().code(), ErrorCode::kUnavailable);
  EXPECT_LE(clock_.Now() - start, 30s);
  int attempts = CountRequests("GET /repos/octo/demo 500");
  EXPECT_GE(attempts, 3);
  EXPECT_LE(attempts, 8) << "backoff, not a tight loop";
}

TEST_F(ClientTest, ConnectionErrorsRetryThenFail) {
  github::ClientOptions co;
  co.api_url = "http://127.0.0.1:1";  // nothing listens there
  co.token = "x";
  co.clock = &clock_;
  co.call_deadline = 20s;
  co.jitter_seed = 3;
  auto c = MakeClient(co);
  auto start = clock_.Now();
  auto res = c->GetRepository(kRepo);
  ASSERT_FALSE(res.ok());
  EXPECT_EQ(res.error().code(), ErrorCode::kUnavailable);
  EXPECT_GT(clock_.Now() - start, 1s);
  EXPECT_LE(clock_.Now() - start, 20s);
}

TEST_F(ClientTest, ConcurrentCallsFromManyThreads) {
  int64_t n = *sim_->CreateIssue(kRepo, "alice", "busy", "", {});
  std::vector<std::thread> threads;
  std::mutex mu;
  std::set<int64_t> ids;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10; ++i) {
        auto c = client_->CreateComment(kRepo, n, "t" + std::to_string(t) + "-" + std::to_string(i));
        ASSERT_TRUE(c.ok()) << c.error().ToString();
        std::lock_guard lock(mu);
        ids.insert(c->id);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(ids.size(), 40u);
  auto all = client_->ListComments(kRepo, n);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 40u);
}

TEST_F(ClientTest, CreatePullWhenOneExistsReturnsIt) {
  ASSERT_TRUE(sim_->CommitFiles(kRepo, "feature", {{"a.txt", "a"}}, "add a", "alice").ok());
  github::NewPullRequest p{"Feature", "feature", "main", "body", false};
  auto first = client_->CreatePull(kRepo, p);
  ASSERT_TRUE(first.ok()) << first.error().ToString();
  auto second = client_->CreatePull(kRepo, p);
  ASSERT_TRUE(second.ok()) << second.error().ToString();
  EXPECT_EQ(first->number, second->number);
  EXPECT_EQ(CountRequests("POST /repos/octo/demo/pulls 422"), 1);
  github::PullListFilter f;
  f.head = "octo:feature";
  auto list = client_->ListPulls(kRepo, f);
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list->size(), 1u);
  // A head that does not exist is a plain validation error.
  auto bad = client_->CreatePull(kRepo, {"x", "nope", "main", "", false});
  EXPECT_EQ(bad.error().code(), ErrorCode::kInvalidArgument);
}

TEST_F(ClientTest, IssuesLabelsCommentsReactions) {
  int64_t n = *sim_->CreateIssue(kRepo, "alice", "Epic", "the body", {});
  auto labels = client_->AddLabels(kRepo, n, {"agent-ready", "epic"});
  ASSERT_TRUE(labels.ok());
  EXPECT_EQ(labels->size(), 2u);
  ASSERT_TRUE(client_->RemoveLabel(kRepo, n, "epic").ok());
  ASSERT_TRUE(client_->RemoveLabel(kRepo, n, "never-there").ok());
  auto c = client_->CreateComment(kRepo, n, "<!-- wavebot:status -->\nhello");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->user_login, "wavebot[bot]");
  ASSERT_TRUE(client_->UpdateComment(kRepo, c->id, "<!-- wavebot:status -->\nedited", github::WritePriority::kUrgent).ok());
  auto comments = client_->ListComments(kRepo, n);
  ASSERT_TRUE(comments.ok());
  ASSERT_EQ(comments->size(), 1u);
  EXPECT_EQ((*comments)[0].body, "<!-- wavebot:status -->\nedited");
  ASSERT_TRUE(client_->AddCommentReaction(kRepo, c->id, "eyes").ok());
  ASSERT_TRUE(client_->AddIssueReaction(kRepo, n, "+1").ok());
  EXPECT_EQ(client_->AddIssueReaction(kRepo, n, "sparkles").error().code(), ErrorCode::kInvalidArgument);
  github::IssueUpdate u;
  u.state = "closed";
  u.state_reason = "completed";
  auto closed = client_->UpdateIssue(kRepo, n, u);
  ASSERT_TRUE(closed.ok());
  EXPECT_EQ(closed->state, "closed");
  EXPECT_EQ(client_->GetIssue(kRepo, 999).error().code(), ErrorCode::kNotFound);
}

TEST_F(ClientTest, SubIssuesBlockedByAndEpicFetch) {
  int64_t epic = *sim_->CreateIssue(kRepo, "alice", "Epic", "", {});
  int64_t a = *sim_->CreateIssue(kRepo, "alice", "A", "first", {"agent-ready"});
  int64_t b = *sim_->CreateIssue(kRepo, "alice", "B", "second", {"agent-ready"});
  ASSERT_TRUE(sim_->AddSubIssue(kRepo, epic, a).ok());
  ASSERT_TRUE(sim_->AddSubIssue(kRepo, epic, b).ok());
  ASSERT_TRUE(sim_->AddBlockedBy(kRepo, b, a).ok());
  auto subs = client_->ListSubIssues(kRepo, epic);
  ASSERT_TRUE(subs.ok());
  EXPECT_EQ(subs->size(), 2u);
  auto blockers = client_->ListBlockedBy(kRepo, b);
  ASSERT_TRUE(blockers.ok());
  ASSERT_EQ(blockers->size(), 1u);
  EXPECT_EQ((*blockers)[0].number, a);

  auto snap = github::FetchEpic(client_.get(), kRepo, epic);
  ASSERT_TRUE(snap.ok()) << snap.error().ToString();
  ASSERT_EQ(snap->issues.size(), 3u);
  for (const auto& i : snap->issues) {
    if (i.number == epic) {
      EXPECT_EQ(i.sub_issues, (std::vector<int64_t>{a, b}));
    } else if (i.number == b) {
      EXPECT_EQ(i.blocked_by, std::vector<int64_t>{a});
    } else if (i.number == a) {
      EXPECT_EQ(i.labels, std::vector<std::string>{"agent-ready"});
    }
  }
  EXPECT_EQ(github::FetchEpic(client_.get(), kRepo, 77).error().code(), ErrorCode::kNotFound);
}

TEST_F(ClientTest, RefsCreateUpdateAndRefuseNonFastForward) {
  auto main = client_->GetRef(kRepo, "heads/main");
  ASSERT_TRUE(main.ok());
  EXPECT_EQ(main->sha.size(), 40u);
  auto created = client_->CreateRef(kRepo, "refs/heads/epic/1-demo", main->sha);
  ASSERT_TRUE(created.ok()) << created.error().ToString();
  EXPECT_EQ(client_->CreateRef(kRepo, "refs/heads/epic/1-demo", main->sha).error().code(),
            ErrorCode::kAlreadyExists);
  auto next = sim_->CommitFiles(kRepo, "side", {{"x", "1"}}, "side", "alice");
  ASSERT_TRUE(next.ok());
  ASSERT_TRUE(client_->UpdateRef(kRepo, "heads/epic/1-demo", *next, false).ok());
  // Back to the parent is not a fast-forward.
  EXPECT_EQ(client_->UpdateRef(kRepo, "heads/epic/1-demo", main->sha, false).error().code(),
            ErrorCode::kInvalidArgument);
  ASSERT_TRUE(client_->UpdateRef(kRepo, "heads/epic/1-demo", main->sha, true).ok());
  EXPECT_EQ(client_->GetRef(kRepo, "heads/nope").error().code(), ErrorCode::kNotFound);
}

// <base>/<owner>/<name>.git is where the simulator serves the repository's git.
std::string GitBase(sandbox::Simulator* sim) {
  std::string url = sim->git_url(kRepo);
  return url.substr(0, url.size() - std::string("/octo/demo.git").size());
}

TEST_F(ClientTest, BranchHeadsComeFromTheGitServerInOneRequestThatIsNotRest) {
  auto co = ClientOpts();
  co.git_base_url = GitBase(sim_.get());
  auto client = MakeClient(co);
  auto main = client->GetRef(kRepo, "heads/main");
  ASSERT_TRUE(main.ok());
  auto side = sim_->CommitFiles(kRepo, "side", {{"x", "1"}}, "side", "alice");
  ASSERT_TRUE(side.ok());
  ASSERT_TRUE(client->CreateRef(kRepo, "refs/heads/epic/1-demo", main->sha).ok());
  ASSERT_TRUE(client->CreateRef(kRepo, "refs/heads/epic/1-demo-longer", *side).ok());  // matches by prefix only
  const size_t rest_before = sim_->AppRequestLog().size();
  const int64_t git_before = sim_->git_v2_requests();
  auto heads = client->BranchHeads(kRepo, {"epic/1-demo", "side", "absent"});
  ASSERT_TRUE(heads.ok()) << heads.error().ToString();
  EXPECT_EQ(*heads, (std::map<std::string, std::string>{{"epic/1-demo", main->sha}, {"side", *side}}));
  EXPECT_EQ(sim_->AppRequestLog().size(), rest_before);  // no REST request: GitHub counts git apart
  EXPECT_EQ(sim_->git_v2_requests(), git_before + 1);
  EXPECT_TRUE(client->BranchHeads(kRepo, {})->empty());
}

TEST_F(ClientTest, BranchHeadsFallBackToRestWhenTheGitServerDoesNotAnswer) {
  auto co = ClientOpts();
  co.git_base_url = "http://127.0.0.1:1";  // nothing listens there
  auto client = MakeClient(co);
  auto main = client->GetRef(kRepo, "heads/main");
  ASSERT_TRUE(main.ok());
  const int refs_before = CountRequests("GET /repos/octo/demo/git/ref/");
  auto heads = client->BranchHeads(kRepo, {"main", "absent"});
  ASSERT_TRUE(heads.ok()) << heads.error().ToString();
  EXPECT_EQ(*heads, (std::map<std::string, std::string>{{"main", main->sha}}));
  EXPECT_EQ(CountRequests("GET /repos/octo/demo/git/ref/"), refs_before + 2);
}

TEST_F(ClientTest, CheckRunsAndCollaboratorPermission) {
  auto main = client_->GetRef(kRepo, "heads/main");
  github::CheckRunSpec spec;
  spec.name = "wavebot";
  spec.head_sha = main->sha;
  spec.status = "in_progress";
  spec.external_id = "ticket-3";
  auto run = client_->CreateCheckRun(kRepo, spec);
  ASSERT_TRUE(run.ok()) << run.error().ToString();
  github::CheckRunSpec done;
  done.conclusion = "success";
  done.output = github::CheckRunOutput{"Ticket #3 merged", "all good", ""};
  auto updated = client_->UpdateCheckRun(kRepo, run->id, done);
  ASSERT_TRUE(updated.ok()) << updated.error().ToString();
  EXPECT_EQ(updated->status, "completed");
  auto list = client_->ListCheckRunsForRef(kRepo, "main", "wavebot");
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].conclusion, "success");
  github::CheckRunSpec bad;
  bad.conclusion = "great";
  EXPECT_EQ(client_->UpdateCheckRun(kRepo, run->id, bad).error().code(), ErrorCode::kInvalidArgument);

  ASSERT_TRUE(sim_->SetCollaborator(kRepo, "maya", "maintain").ok());
  EXPECT_EQ(*client_->GetCollaboratorPermission(kRepo, "maya"), "maintain");
  EXPECT_EQ(*client_->GetCollaboratorPermission(kRepo, "octo"), "admin");
  EXPECT_EQ(*client_->GetCollaboratorPermission(kRepo, "stranger"), "none");
}

TEST_F(ClientTest, MergeIsARealGitMergeAndAnnounced) {
  auto head = sim_->CommitFiles(kRepo, "feature", {{"feature.txt", "x"}}, "feature", "alice");
  ASSERT_TRUE(sim_->CommitFiles(kRepo, "main", {{"other.txt", "y"}}, "other", "bob").ok());
  auto pr = client_->CreatePull(kRepo, {"Feature", "feature", "main", "", false});
  ASSERT_TRUE(pr.ok());
  // GitHub computes mergeability in the background: null until then.
  ASSERT_TRUE(sim_->WaitForMergeability(kRepo, pr->number, std::chrono::seconds(10)));
  auto got = client_->GetPull(kRepo, pr->number);
  ASSERT_TRUE(got.ok());
  ASSERT_TRUE(got->mergeable.has_value());
  EXPECT_TRUE(*got->mergeable);
  github::MergeRequest stale;
  stale.sha = std::string(40, 'a');
  EXPECT_EQ(client_->MergePull(kRepo, pr->number, stale).error().code(), ErrorCode::kConflict);
  github::MergeRequest m;
  m.sha = *head;
  auto merged = client_->MergePull(kRepo, pr->number, m);
  ASSERT_TRUE(merged.ok()) << merged.error().ToString();
  EXPECT_TRUE(merged->merged);
  EXPECT_EQ(client_->GetRef(kRepo, "heads/main")->sha, merged->sha);
  EXPECT_TRUE(client_->GetPull(kRepo, pr->number)->merged);
  EXPECT_EQ(client_->MergePull(kRepo, pr->number, {}).error().code(), ErrorCode::kFailedPrecondition);
  ASSERT_TRUE(hooks_.WaitFor([](const std::vector<ReceivedHook>& hs) {
    for (const auto& h : hs) {
      if (h.event != "pull_request") continue;
      auto j = nlohmann::json::parse(h.body);
      if (j["action"] == "closed" && j["pull_request"]["merged"] == true) return true;
    }
    return false;
  }));
}

TEST_F(ClientTest, ConflictingPullIsNotMergeable) {
  ASSERT_TRUE(sim_->CommitFiles(kRepo, "feature", {{"README.md", "mine\n"}}, "mine", "alice").ok());
  ASSERT_TRUE(sim_->CommitFiles(kRepo, "main", {{"README.md", "theirs\n"}}, "theirs", "bob").ok());
  auto pr = client_->CreatePull(kRepo, {"Feature", "feature", "main", "", false});
  ASSERT_TRUE(pr.ok());
  ASSERT_TRUE(sim_->WaitForMergeability(kRepo, pr->number, std::chrono::seconds(10)));
  auto got = client_->GetPull(kRepo, pr->number);
  ASSERT_TRUE(got->mergeable.has_value());
  EXPECT_FALSE(*got->mergeable);
  EXPECT_EQ(got->mergeable_state, "dirty");
  EXPECT_EQ(client_->MergePull(kRepo, pr->number, {}).error().code(), ErrorCode::kFailedPrecondition);
}

TEST_F(ClientTest, WorkflowDispatch) {
  // GitHub dispatches only a workflow file on the ref that declares the trigger and the inputs.
  ASSERT_TRUE(sim_->CommitFiles(kRepo, "main",
                                {{".github/workflows/wavebot.yml",
                                  "on:\n  workflow_dispatch:\n    inputs:\n      ticket:\n        required: true\n"
                                  "jobs:\n  run:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ inputs.ticket }}\n"}},
                                "Add a workflow", "alice")
                  .ok());
  ASSERT_TRUE(client_->DispatchWorkflow(kRepo, "wavebot.yml", "main", {{"ticket", "3"}}).ok());
  github::WorkflowRunFilter f;
  f.event = "workflow_dispatch";
  auto runs = client_->ListWorkflowRuns(kRepo, f);
  ASSERT_TRUE(runs.ok());
  EXPECT_EQ(runs->size(), 1u);
  EXPECT_EQ(client_->DispatchWorkflow(kRepo, "wavebot.yml", "nope", {}).error().code(), ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace wavebot::testing
