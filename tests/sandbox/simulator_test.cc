// The simulator's own behaviour: signed webhooks, the CI that runs a real command, job logs behind a
// 302, lost deliveries recovered through the deliveries API, git over smart HTTP with tokens.
#include <gtest/gtest.h>
#include <httplib.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "github/jwt.h"
#include "github/redelivery.h"
#include "github/sim_fixture.h"
#include "sandbox/process.h"

namespace wavebot::testing {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

bool HasEvent(const std::vector<ReceivedHook>& hs, const std::string& event, const std::string& action) {
  for (const auto& h : hs) {
    if (h.event == event && json::parse(h.body).value("action", "") == action) return true;
  }
  return false;
}

class WebhookTest : public SimTest {};

TEST_F(WebhookTest, SignedIssueEventsReachTheListener) {
  int64_t n = *sim_->CreateIssue(kRepo, "alice", "Epic", "body", {});
  ASSERT_TRUE(sim_->AddLabel(kRepo, n, "agent-ready", "alice").ok());
  ASSERT_TRUE(sim_->CreateComment(kRepo, n, "alice", "/wave start").ok());
  ASSERT_TRUE(hooks_.WaitFor([](const auto& hs) { return hs.size() >= 3; }));
  auto hs = hooks_.hooks();
  EXPECT_EQ(hs[0].event, "issues");
  EXPECT_EQ(hs[1].event, "issues");
  EXPECT_EQ(hs[2].event, "issue_comment");
  std::set<std::string> guids;
  for (const auto& h : hs) {
    EXPECT_EQ(h.signature, github::HubSignature256(kSecret, h.body));
    EXPECT_NE(h.signature, github::HubSignature256("wrong", h.body));
    guids.insert(h.delivery);
    json j = json::parse(h.body);
    EXPECT_EQ(j["repository"]["full_name"], "octo/demo");
    EXPECT_EQ(j["sender"]["login"], "alice");
    EXPECT_TRUE(j["installation"]["id"].is_number_integer());
  }
  EXPECT_EQ(guids.size(), hs.size()) << "each delivery has its own X-GitHub-Delivery";
  EXPECT_EQ(json::parse(hs[1].body)["label"]["name"], "agent-ready");
  EXPECT_EQ(json::parse(hs[2].body)["comment"]["body"], "/wave start");
}

TEST_F(WebhookTest, PushToAPullRequestHeadAnnouncesSynchronize) {
  ASSERT_TRUE(sim_->CommitFiles(kRepo, "feature", {{"a", "1"}}, "a", "alice").ok());
  auto pr = client_->CreatePull(kRepo, {"F", "feature", "main", "", false});
  ASSERT_TRUE(pr.ok());
  ASSERT_TRUE(sim_->CommitFiles(kRepo, "feature", {{"a", "2"}}, "a2", "alice").ok());
  ASSERT_TRUE(hooks_.WaitFor([](const auto& hs) {
    return HasEvent(hs, "pull_request", "opened") && HasEvent(hs, "pull_request", "synchronize");
  }));
  bool push = false;
  for (const auto& h : hooks_.hooks()) push = push || (h.event == "push" && json::parse(h.body)["ref"] == "refs/heads/feature");
  EXPECT_TRUE(push);
}

TEST_F(WebhookTest, ReviewsAndReviewCommentsAreAnnounced) {
  ASSERT_TRUE(sim_->CommitFiles(kRepo, "feature", {{"a.cc", "int x;"}}, "a", "alice").ok());
  auto pr = client_->CreatePull(kRepo, {"F", "feature", "main", "", false});
  ASSERT_TRUE(pr.ok());
  auto review = sim_->SubmitReview(kRepo, pr->number, "maya", "CHANGES_REQUESTED", "Please rename x",
                                   {{"a.cc", "x is not a name"}});
  ASSERT_TRUE(review.ok()) << review.error().ToString();
  EXPECT_EQ(sim_->SubmitReview(kRepo, pr->number, "maya", "LGTM", "", {}).error().code(),
            ErrorCode::kInvalidArgument);
  ASSERT_TRUE(hooks_.WaitFor([](const auto& hs) {
    return HasEvent(hs, "pull_request_review", "submitted") && HasEvent(hs, "pull_request_review_comment", "created");
  }));
  for (const auto& h : hooks_.hooks()) {
    if (h.event != "pull_request_review") continue;
    json j = json::parse(h.body);
    EXPECT_EQ(j["review"]["state"], "changes_requested");
    EXPECT_EQ(j["review"]["user"]["login"], "maya");
    EXPECT_EQ(j["pull_request"]["number"], pr->number);
  }
}

TEST_F(WebhookTest, DroppedDeliveriesAreRecoveredByRedelivery) {
  sandbox::FaultConfig drop;
  drop.drop_webhook_fraction = 1.0;
  sim_->SetFaultConfig(drop);
  int64_t n = *sim_->CreateIssue(kRepo, "alice", "lost", "", {});
  ASSERT_TRUE(sim_->CreateComment(kRepo, n, "alice", "also lost").ok());
  ASSERT_TRUE(sim_->WaitForDeliveries([](const auto& ds) { return ds.size() >= 2; }, 10s));
  EXPECT_TRUE(hooks_.hooks().empty());
  sim_->SetFaultConfig({});

  github::Redeliverer redeliverer(client_.get(), &clock_);
  auto stats = redeliverer.RunOnce();
  ASSERT_TRUE(stats.ok()) << stats.error().ToString();
  EXPECT_EQ(stats->failed, 2);
  EXPECT_EQ(stats->redelivered, 2);
  ASSERT_TRUE(hooks_.WaitFor([](const auto& hs) { return hs.size() >= 2; }));
  ASSERT_TRUE(sim_->WaitForIdle(10s));
  // A second pass asks for nothing: both guids now have a successful attempt.
  auto again = redeliverer.RunOnce();
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->redelivered, 0);
  EXPECT_EQ(again->failed, 0);
  auto hs = hooks_.hooks();
  EXPECT_EQ(hs.size(), 2u);
  std::multiset<std::string> events = {hs[0].event, hs[1].event};
  EXPECT_EQ(events, (std::multiset<std::string>{"issues", "issue_comment"}));
}

class CiTest : public SimTest {
  void Configure(sandbox::SimulatorOptions* so) override {
    so->ci_command = "if [ -f broken ]; then echo 'FAIL: test_widget expected 2 got 3'; exit 1; fi; echo 'all tests passed'";
  }
};

TEST_F(CiTest, CiRunsTheCommandOnThePullHeadAndReportsTheRealConclusion) {
  auto good = sim_->CommitFiles(kRepo, "good", {{"ok.txt", "fine"}}, "good", "alice");
  auto bad = sim_->CommitFiles(kRepo, "bad", {{"broken", "yes"}}, "bad", "alice");
  ASSERT_TRUE(client_->CreatePull(kRepo, {"good", "good", "main", "", false}).ok());
  ASSERT_TRUE(client_->CreatePull(kRepo, {"bad", "bad", "main", "", false}).ok());
  ASSERT_TRUE(sim_->WaitForIdle(60s));

  auto check = [&](const std::string& sha, const std::string& conclusion, const std::string& needle) {
    github::WorkflowRunFilter f;
    f.head_sha = sha;
    auto runs = client_->ListWorkflowRuns(kRepo, f);
    ASSERT_TRUE(runs.ok()) << runs.error().ToString();
    ASSERT_EQ(runs->size(), 1u);
    EXPECT_EQ((*runs)[0].status, "completed");
    EXPECT_EQ((*runs)[0].conclusion, conclusion);
    auto jobs = client_->ListJobsForRun(kRepo, (*runs)[0].id);
    ASSERT_TRUE(jobs.ok());
    ASSERT_EQ(jobs->size(), 1u);
    EXPECT_EQ((*jobs)[0].conclusion, conclusion);
    // The log: a 302 to a pre-signed URL, fetched without the Authorization header (the simulator's blob
    // store refuses one, as GitHub's does).
    auto log = client_->DownloadJobLog(kRepo, (*jobs)[0].id);
    ASSERT_TRUE(log.ok()) << log.error().ToString();
    EXPECT_NE(log->find(needle), std::string::npos) << *log;
    auto checks = client_->ListCheckRunsForRef(kRepo, sha, "");
    ASSERT_TRUE(checks.ok());
    ASSERT_EQ(checks->size(), 1u);
    EXPECT_EQ((*checks)[0].conclusion, conclusion);
  };
  check(*good, "success", "all tests passed");
  check(*bad, "failure", "FAIL: test_widget expected 2 got 3");
  EXPECT_EQ(CountRequests("GET /repos/octo/demo/actions/jobs/"), 2);

  ASSERT_TRUE(hooks_.WaitFor([](const auto& hs) {
    int completed = 0;
    for (const auto& h : hs) {
      if ((h.event == "check_suite" || h.event == "workflow_run" || h.event == "workflow_job" ||
           h.event == "check_run") &&
          json::parse(h.body)["action"] == "completed") {
        ++completed;
      }
    }
    return completed == 8;
  }));
  // The pull request's mergeable_state reflects the failing CI.
  auto prs = client_->ListPulls(kRepo, {"open", "octo:bad", ""});
  ASSERT_EQ(prs->size(), 1u);
  EXPECT_EQ(client_->GetPull(kRepo, (*prs)[0].number)->mergeable_state, "unstable");
}

TEST_F(CiTest, PresignedLogUrlRefusesAnAuthorizationHeader) {
  ASSERT_TRUE(sim_->CommitFiles(kRepo, "good", {{"ok.txt", "fine"}}, "good", "alice").ok());
  ASSERT_TRUE(client_->CreatePull(kRepo, {"good", "good", "main", "", false}).ok());
  ASSERT_TRUE(sim_->WaitForIdle(60s));
  auto runs = client_->ListWorkflowRuns(kRepo, {});
  auto jobs = client_->ListJobsForRun(kRepo, (*runs)[0].id);
  auto token = sim_->CreateUserToken("alice");
  httplib::Client http(sim_->api_url());
  auto redirect = http.Get(("/repos/octo/demo/actions/jobs/" + std::to_string((*jobs)[0].id) + "/logs").c_str(),
                           {{"Authorization", "token " + *token}});
  ASSERT_TRUE(redirect);
  ASSERT_EQ(redirect->status, 302);
  std::string location = redirect->get_header_value("Location");
  std::string path = location.substr(sim_->api_url().size());
  auto with_auth = http.Get(path.c_str(), {{"Authorization", "token " + *token}});
  ASSERT_TRUE(with_auth);
  EXPECT_EQ(with_auth->status, 400);
  auto without = http.Get(path.c_str());
  ASSERT_TRUE(without);
  EXPECT_EQ(without->status, 200);
}

class GitTest : public SimTest {};

sandbox::ProcessResult Git(const std::vector<std::string>& args, const std::string& cwd = "") {
  std::vector<std::string> argv = {"git", "-c", "user.name=t", "-c", "user.email=t@example.com",
                                   "-c", "credential.helper=", "-c", "protocol.version=2"};
  argv.insert(argv.end(), args.begin(), args.end());
  sandbox::ProcessOptions po;
  po.cwd = cwd;
  po.env = {{"GIT_TERMINAL_PROMPT", "0"}, {"GIT_ASKPASS", "/bin/false"}};
  po.timeout = 60s;
  auto res = sandbox::RunProcess(argv, po);
  EXPECT_TRUE(res.ok());
  return res.ok() ? *res : sandbox::ProcessResult{};
}

TEST_F(GitTest, PushWithInstallationTokenAndRefusalWithAWrongOne) {
  // An installation token, as wavebot's git layer gets it.
  auto rest_token = [&]() {
    auto jwt = github::MakeAppJwt(**github::PrivateKey::FromPem(sim_->app_private_key_pem()),
                                  std::to_string(sim_->app_id()), clock_.Now());
    httplib::Client http(sim_->api_url());
    auto inst = http.Get("/repos/octo/demo/installation", {{"Authorization", "Bearer " + *jwt}});
    int64_t id = json::parse(inst->body)["id"];
    auto tok = http.Post(("/app/installations/" + std::to_string(id) + "/access_tokens").c_str(),
                         {{"Authorization", "Bearer " + *jwt}}, "", "application/json");
    return json::parse(tok->body)["token"].get<std::string>();
  };
  std::string token = rest_token();
  std::string url = sim_->git_url(kRepo);
  std::string authed = "http://x-access-token:" + token + "@" + url.substr(7);
  std::string wrong = "http://x-access-token:nope@" + url.substr(7);
  std::string work = dir_.path() + "/clone";

  auto refused = Git({"clone", wrong, dir_.path() + "/refused"});
  EXPECT_NE(refused.exit_code, 0);

  auto clone = Git({"clone", authed, work});
  ASSERT_EQ(clone.exit_code, 0) << clone.output;
  std::ofstream(work + "/new.txt") << "hello\n";
  ASSERT_EQ(Git({"checkout", "-b", "agent/3-widget"}, work).exit_code, 0);
  ASSERT_EQ(Git({"add", "new.txt"}, work).exit_code, 0);
  ASSERT_EQ(Git({"commit", "-m", "add new"}, work).exit_code, 0);
  auto push_wrong = Git({"push", wrong, "agent/3-widget"}, work);
  EXPECT_NE(push_wrong.exit_code, 0);
  auto push = Git({"push", authed, "agent/3-widget"}, work);
  ASSERT_EQ(push.exit_code, 0) << push.output;

  auto ref = client_->GetRef(kRepo, "heads/agent/3-widget");
  ASSERT_TRUE(ref.ok()) << ref.error().ToString();
  auto local = Git({"rev-parse", "HEAD"}, work);
  EXPECT_EQ(ref->sha + "\n", local.output);
  ASSERT_TRUE(hooks_.WaitFor([](const auto& hs) {
    for (const auto& h : hs) {
      if (h.event == "push" && json::parse(h.body)["ref"] == "refs/heads/agent/3-widget") return true;
    }
    return false;
  }));
}

TEST(SimulatorOptionsTest, RequiresADataDir) {
  auto sim = sandbox::Simulator::Start({});
  ASSERT_FALSE(sim.ok());
  EXPECT_EQ(sim.error().code(), ErrorCode::kInvalidArgument);
}

TEST_F(WebhookTest, AdminApiScriptsTheSimulator) {
  httplib::Client http(sim_->api_url());
  auto issue = http.Post("/_sim/issues", R"({"owner":"octo","repo":"demo","user":"maya","title":"From admin"})",
                         "application/json");
  ASSERT_TRUE(issue);
  ASSERT_EQ(issue->status, 201) << issue->body;
  int64_t n = json::parse(issue->body)["number"];
  EXPECT_EQ(client_->GetIssue(kRepo, n)->user_login, "maya");
  auto bad = http.Post("/_sim/issues", R"({"owner":"octo"})", "application/json");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 422);
  auto junk = http.Post("/_sim/issues", "{not json", "application/json");
  EXPECT_EQ(junk->status, 400);
}

}  // namespace
}  // namespace wavebot::testing
