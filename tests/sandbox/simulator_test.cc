// The simulator's own behaviour: signed webhooks, the CI that runs a real command, job logs behind a
// 302, lost deliveries recovered through the deliveries API, git over smart HTTP with tokens.
#include <gtest/gtest.h>
#include <httplib.h>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>

#include "github/jwt.h"
#include "github/redelivery.h"
#include "github/sim_fixture.h"
#include "http/raw_socket.h"
#include "sandbox/process.h"
#include "sandbox/request_budget.h"

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
  // Deliveries overlap and arrive in any order, as GitHub's do: put them back in causal order.
  std::sort(hs.begin(), hs.end(), [](const ReceivedHook& a, const ReceivedHook& b) {
    auto rank = [](const ReceivedHook& h) {
      std::string action = json::parse(h.body).value("action", "");
      return action == "opened" ? 0 : action == "labeled" ? 1 : 2;
    };
    return rank(a) < rank(b);
  });
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
  // The pull request's mergeable_state reflects the failing CI (once GitHub has computed it).
  auto prs = client_->ListPulls(kRepo, {"open", "octo:bad", ""});
  ASSERT_EQ(prs->size(), 1u);
  ASSERT_TRUE(sim_->WaitForMergeability(kRepo, (*prs)[0].number, 10s));
  EXPECT_EQ(client_->GetPull(kRepo, (*prs)[0].number)->mergeable_state, "unstable");
}

// GitHub sends the queued and started stages of a workflow as well as its outcome; a client that acts
// on every check event must meet them here too. Deliveries arrive out of order, so only the set is checked.
TEST_F(CiTest, CiSendsItsQueuedAndStartedEventsAsWellAsItsOutcome) {
  auto sha = sim_->CommitFiles(kRepo, "good", {{"ok.txt", "fine"}}, "good", "alice");
  ASSERT_TRUE(sha.ok());
  ASSERT_TRUE(client_->CreatePull(kRepo, {"good", "good", "main", "", false}).ok());
  ASSERT_TRUE(sim_->WaitForIdle(60s));
  auto actions = [](const std::vector<ReceivedHook>& hs, const std::string& event) {
    std::multiset<std::string> out;
    for (const auto& h : hs) {
      if (h.event == event) out.insert(json::parse(h.body)["action"].get<std::string>());
    }
    return out;
  };
  ASSERT_TRUE(hooks_.WaitFor([&](const auto& hs) {
    return actions(hs, "workflow_run").size() == 3 && actions(hs, "workflow_job").size() == 3 &&
           actions(hs, "check_run").size() == 2;
  }));
  auto hs = hooks_.hooks();
  using Set = std::multiset<std::string>;
  EXPECT_EQ(actions(hs, "workflow_run"), (Set{"requested", "in_progress", "completed"}));
  EXPECT_EQ(actions(hs, "workflow_job"), (Set{"queued", "in_progress", "completed"}));
  EXPECT_EQ(actions(hs, "check_run"), (Set{"created", "completed"}));
  for (const auto& h : hs) {
    if (h.event != "check_run") continue;
    json j = json::parse(h.body);
    EXPECT_EQ(j["check_run"]["head_sha"], *sha);
    EXPECT_EQ(j["check_run"]["app"]["slug"], "github-actions");
    EXPECT_EQ(j["check_run"]["status"], j["action"] == "created" ? "queued" : "completed");
  }
}

// An App's own check runs send it their events too: "created", and "completed" once one completes
// (at its creation when it is created completed).
TEST_F(SimTest, AnAppsOwnCheckRunsSendItTheirEvents) {
  auto sha = sim_->CommitFiles(kRepo, "main", {{"a.txt", "a"}}, "a", "alice");
  ASSERT_TRUE(sha.ok());
  github::CheckRunSpec running{"wavebot", *sha, "in_progress", "", "", "", std::nullopt};
  auto first = client_->CreateCheckRun(kRepo, running);
  ASSERT_TRUE(first.ok()) << first.error().ToString();
  github::CheckRunSpec done{"wavebot-done", *sha, "completed", "success", "", "", std::nullopt};
  auto second = client_->CreateCheckRun(kRepo, done);
  ASSERT_TRUE(second.ok()) << second.error().ToString();
  github::CheckRunSpec finish{"wavebot", *sha, "completed", "failure", "", "", std::nullopt};
  ASSERT_TRUE(client_->UpdateCheckRun(kRepo, first->id, finish).ok());
  ASSERT_TRUE(client_->UpdateCheckRun(kRepo, first->id, finish).ok());  // already completed: no event
  ASSERT_TRUE(sim_->WaitForIdle(10s));
  ASSERT_TRUE(hooks_.WaitFor([](const auto& hs) {
    return std::count_if(hs.begin(), hs.end(),
                         [](const ReceivedHook& h) { return h.event == "check_run"; }) >= 4;
  }));
  std::multiset<std::pair<int64_t, std::string>> seen;
  for (const auto& h : hooks_.hooks()) {
    if (h.event != "check_run") continue;
    json j = json::parse(h.body);
    seen.insert({j["check_run"]["id"].get<int64_t>(), j["action"].get<std::string>()});
    EXPECT_TRUE(j["check_run"]["details_url"].is_string()) << "GitHub links the App's homepage without one";
  }
  EXPECT_EQ(seen, (std::multiset<std::pair<int64_t, std::string>>{{first->id, "created"},
                                                                  {first->id, "completed"},
                                                                  {second->id, "created"},
                                                                  {second->id, "completed"}}));
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

// A token narrowed to one repository and contents: write (what each agent run's push gets,
// docs/security.md): it pushes there, and reaches no other repository and no other permission.
TEST_F(GitTest, ANarrowedTokenPushesToItsRepositoryAndNothingElse) {
  const github::RepoRef other{"octo", "other"};
  ASSERT_TRUE(sim_->CreateRepo(other, sandbox::NewRepo{}).ok());
  auto token = client_->RunGitToken(kRepo);
  ASSERT_TRUE(token.ok()) << token.error().ToString();
  auto git_url = [&](const github::RepoRef& r) {
    return "http://x-access-token:" + *token + "@" + sim_->git_url(r).substr(7);
  };
  std::string work = dir_.path() + "/clone";
  auto clone = Git({"clone", git_url(kRepo), work});
  ASSERT_EQ(clone.exit_code, 0) << clone.output;
  std::ofstream(work + "/new.txt") << "hello\n";
  ASSERT_EQ(Git({"checkout", "-b", "wave/1-2-t"}, work).exit_code, 0);
  ASSERT_EQ(Git({"add", "new.txt"}, work).exit_code, 0);
  ASSERT_EQ(Git({"commit", "-m", "add new"}, work).exit_code, 0);
  auto push = Git({"push", git_url(kRepo), "wave/1-2-t"}, work);
  EXPECT_EQ(push.exit_code, 0) << push.output;
  EXPECT_GT(sim_->narrowed_pushes(), 0);
  EXPECT_NE(Git({"push", git_url(other), "wave/1-2-t"}, work).exit_code, 0);  // another repository
  EXPECT_NE(Git({"clone", git_url(other), dir_.path() + "/other"}).exit_code, 0);

  httplib::Client http(sim_->api_url());
  const httplib::Headers auth = {{"Authorization", "token " + *token}};
  auto ref = http.Get("/repos/octo/demo/git/ref/heads/wave/1-2-t", auth);
  ASSERT_TRUE(ref);
  EXPECT_EQ(ref->status, 200) << ref->body;                                  // contents: read
  auto elsewhere = http.Get("/repos/octo/other/git/ref/heads/main", auth);
  ASSERT_TRUE(elsewhere);
  EXPECT_EQ(elsewhere->status, 404) << elsewhere->body;                      // not its repository
  int64_t issue = *sim_->CreateIssue(kRepo, "alice", "T", "b", {});
  auto comment = http.Post(("/repos/octo/demo/issues/" + std::to_string(issue) + "/comments").c_str(), auth,
                           R"({"body":"planted"})", "application/json");
  ASSERT_TRUE(comment);
  EXPECT_EQ(comment->status, 403) << comment->body;                          // no issues permission
  EXPECT_NE(comment->body.find("Resource not accessible by integration"), std::string::npos) << comment->body;
}

// A push is answered once its refs moved; what follows from it comes after, in the background, as on
// GitHub: for a moment the branch holds the new head while its PR still says the old one and no
// `synchronize` or `push` webhook has gone out. (Here the moment is an hour long; with the default
// 100 ms, GitTest.PushWithInstallationTokenAndRefusalWithAWrongOne sees the push webhook arrive.)
class LaggingPushTest : public GitTest {
 protected:
  void Configure(sandbox::SimulatorOptions* so) override { so->push_processing_delay = std::chrono::hours(1); }
};

TEST_F(LaggingPushTest, ThePrsHeadFollowsAPushAfterItsAnswer) {
  auto first = sim_->CommitFiles(kRepo, "feature", {{"a.txt", "1\n"}}, "a", "alice");
  ASSERT_TRUE(first.ok());
  auto pr = client_->CreatePull(kRepo, {"F", "feature", "main", "", false});
  ASSERT_TRUE(pr.ok()) << pr.error().ToString();
  auto token = client_->RunGitToken(kRepo);
  ASSERT_TRUE(token.ok()) << token.error().ToString();
  const std::string url = "http://x-access-token:" + *token + "@" + sim_->git_url(kRepo).substr(7);
  std::string work = dir_.path() + "/clone";
  ASSERT_EQ(Git({"clone", "-b", "feature", url, work}).exit_code, 0);
  std::ofstream(work + "/b.txt") << "2\n";
  ASSERT_EQ(Git({"add", "b.txt"}, work).exit_code, 0);
  ASSERT_EQ(Git({"commit", "-m", "b"}, work).exit_code, 0);
  auto push = Git({"push", url, "feature"}, work);
  ASSERT_EQ(push.exit_code, 0) << push.output;
  const std::string pushed = Git({"rev-parse", "HEAD"}, work).output.substr(0, 40);

  auto ref = client_->GetRef(kRepo, "heads/feature");
  ASSERT_TRUE(ref.ok());
  EXPECT_EQ(ref->sha, pushed);  // the branch moved with the push
  auto pull = client_->GetPull(kRepo, pr->number);
  ASSERT_TRUE(pull.ok());
  EXPECT_EQ(pull->head_sha, *first);  // its PR has not caught up yet
  for (const auto& h : hooks_.hooks()) {
    EXPECT_FALSE(h.event == "push" && json::parse(h.body)["after"] == pushed) << "the push webhook went out already";
    EXPECT_FALSE(h.event == "pull_request" && json::parse(h.body)["action"] == "synchronize");
  }
}

// GitHub Enterprise Server's layout: the REST API under /api/v3, git at the host root.
class GhesLayoutTest : public SimTest {
  void Configure(sandbox::SimulatorOptions* so) override { so->ghes_layout = true; }
};

TEST_F(GhesLayoutTest, ApiUnderApiV3AndGitAtTheRoot) {
  const std::string api = sim_->api_url();
  ASSERT_EQ(api.substr(api.size() - 7), "/api/v3");
  const std::string origin = api.substr(0, api.size() - 7);
  EXPECT_EQ(sim_->git_url(kRepo), origin + "/octo/demo.git");
  int64_t n = *sim_->CreateIssue(kRepo, "alice", "Hello", "", {});
  auto issue = client_->GetIssue(kRepo, n);  // the client was given api_url()
  ASSERT_TRUE(issue.ok()) << issue.error().ToString();
  auto token = sim_->CreateUserToken("alice");
  httplib::Client http(origin);
  auto outside = http.Get("/repos/octo/demo", {{"Authorization", "token " + *token}});
  ASSERT_TRUE(outside);
  EXPECT_EQ(outside->status, 404) << "the API is not served outside /api/v3";
  auto inside = http.Get("/api/v3/repos/octo/demo", {{"Authorization", "token " + *token}});
  ASSERT_TRUE(inside);
  EXPECT_EQ(inside->status, 200);
  EXPECT_EQ(json::parse(inside->body)["clone_url"], origin + "/octo/demo.git");
  std::string authed = "http://alice:" + *token + "@" + sim_->git_url(kRepo).substr(7);
  auto ls = Git({"ls-remote", authed, "refs/heads/main"});
  EXPECT_EQ(ls.exit_code, 0) << ls.output;
  EXPECT_NE(ls.output.find("refs/heads/main"), std::string::npos);
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

// --- Strict like GitHub: HTTP framing and keep-alive, lost answers, mergeability in the background,
// concurrent out-of-order webhooks, edits announced, size limits.

class StrictTest : public SimTest {
 protected:
  int Port() const { return std::stoi(sim_->api_url().substr(sim_->api_url().rfind(':') + 1)); }
  std::string Token() { return *sim_->CreateUserToken("alice"); }
  static std::string Get(const std::string& path, const std::string& token, const std::string& extra = "") {
    return "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: token " + token +
           "\r\nUser-Agent: raw-socket-test\r\n" + extra + "\r\n";
  }
};

// RFC 9112 §6.3: a 304 ends at its headers; GitHub sends it without Content-Length (what stalled a client
// that read on for a body). And an idle kept-alive connection is closed by the server after a few seconds.
TEST_F(StrictTest, NotModifiedHasNoLengthAndIdleConnectionsAreClosed) {
  int64_t n = *sim_->CreateIssue(kRepo, "alice", "Cached", "body", {});
  const std::string token = Token();
  const std::string path = "/repos/octo/demo/issues/" + std::to_string(n);
  RawSocket sock(Port());
  ASSERT_TRUE(sock.connected());
  ASSERT_TRUE(sock.Send(Get(path, token)));
  std::string first = sock.ReadUntil("}", 5s);
  ASSERT_EQ(first.rfind("HTTP/1.1 200", 0), 0u) << first;
  std::smatch etag;
  ASSERT_TRUE(std::regex_search(first, etag, std::regex("ETag: (\"[0-9a-f]+\")", std::regex::icase))) << first;
  ASSERT_TRUE(sock.Send(Get(path, token, "If-None-Match: " + etag[1].str() + "\r\n")));
  std::string second = sock.ReadUntil("\r\n\r\n", 5s);
  ASSERT_EQ(second.rfind("HTTP/1.1 304", 0), 0u) << second;
  EXPECT_FALSE(std::regex_search(second, std::regex("content-length", std::regex::icase))) << second;
  // Idle from now: the server closes the connection after its keep-alive timeout (5 s by default).
  auto idle_from = std::chrono::steady_clock::now();
  std::string rest = sock.ReadUntil("never sent", 15s);
  auto idle = std::chrono::steady_clock::now() - idle_from;
  EXPECT_EQ(rest, "") << "nothing after a 304's headers";
  EXPECT_GE(idle, 4s);
  EXPECT_LT(idle, 10s) << "the idle connection was not closed";
}

// The libcurl client over the same: a conditional GET answered 304 ends at once, and a kept-alive
// connection the server closed while idle is replaced without an error.
TEST_F(StrictTest, ClientGetsNotModifiedAtOnceAndSurvivesClosedConnections) {
  int64_t n = *sim_->CreateIssue(kRepo, "alice", "Cached", "body", {});
  ASSERT_TRUE(client_->GetIssue(kRepo, n).ok());
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(client_->GetIssue(kRepo, n).ok());
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s) << "a 304 stalled the client";
  EXPECT_EQ(CountRequests("GET /repos/octo/demo/issues/" + std::to_string(n) + " 304"), 5);
}

class LostAnswerSimTest : public StrictTest, public ::testing::WithParamInterface<sandbox::Fault> {};

// A write carried out whose answer is lost (a 502, or the connection closed without a byte): the client
// looks it up instead of writing twice.
TEST_P(LostAnswerSimTest, CommentAndPullAreWrittenOnce) {
  int64_t n = *sim_->CreateIssue(kRepo, "alice", "Epic", "body", {});
  sim_->InjectFaults({GetParam()});
  auto c = client_->CreateComment(kRepo, n, "<!-- wavebot:test -->\nhello");
  ASSERT_TRUE(c.ok()) << c.error().ToString();
  auto comments = client_->ListComments(kRepo, n);
  ASSERT_TRUE(comments.ok());
  EXPECT_EQ(comments->size(), 1u);
  EXPECT_EQ((*comments)[0].id, c->id);

  ASSERT_TRUE(sim_->CommitFiles(kRepo, "feature", {{"a", "1"}}, "a", "alice").ok());
  sim_->InjectFaults({GetParam()});
  auto pr = client_->CreatePull(kRepo, {"F", "feature", "main", "", false});
  ASSERT_TRUE(pr.ok()) << pr.error().ToString();
  github::PullListFilter all;
  all.state = "all";
  EXPECT_EQ(client_->ListPulls(kRepo, all)->size(), 1u);
  EXPECT_EQ(sim_->lost_answers(), 2);
  bool logged = false;
  for (const auto& line : sim_->RequestLog()) logged = logged || line.find("answer lost") != std::string::npos;
  EXPECT_TRUE(logged);
}

TEST_P(LostAnswerSimTest, RawClientSeesNoAnswerOrA502ButTheWriteLanded) {
  int64_t n = *sim_->CreateIssue(kRepo, "alice", "Epic", "body", {});
  const std::string body = R"({"body":"landed"})";
  sim_->InjectFaults({GetParam()});
  RawSocket sock(Port());
  ASSERT_TRUE(sock.Send("POST /repos/octo/demo/issues/" + std::to_string(n) +
                        "/comments HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: token " + Token() +
                        "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
                        "\r\n\r\n" + body));
  std::string answer = sock.ReadUntil("\r\n\r\n", 5s);
  if (GetParam() == sandbox::Fault::kLostAnswerDrop) {
    EXPECT_EQ(answer, "");
  } else {
    EXPECT_EQ(answer.rfind("HTTP/1.1 502", 0), 0u) << answer;
  }
  auto comments = client_->ListComments(kRepo, n);
  ASSERT_TRUE(comments.ok());
  ASSERT_EQ(comments->size(), 1u);
  EXPECT_EQ((*comments)[0].body, "landed");
}

INSTANTIATE_TEST_SUITE_P(Faults, LostAnswerSimTest,
                         ::testing::Values(sandbox::Fault::kLostAnswer502, sandbox::Fault::kLostAnswerDrop));

TEST_F(StrictTest, LostAnswerFractionAppliesToWritesOnly) {
  sandbox::FaultConfig f;
  f.lost_answer_fraction = 1.0;
  sim_->SetFaultConfig(f);
  int64_t n = *sim_->CreateIssue(kRepo, "alice", "Epic", "body", {});
  github::ClientOptions co = ClientOpts();
  co.token = Token();  // a user token: no installation token to mint (a write, which would be lost)
  auto user = MakeClient(co);
  ASSERT_NE(user, nullptr);
  ASSERT_TRUE(user->GetIssue(kRepo, n).ok());  // reads are answered
  EXPECT_EQ(sim_->lost_answers(), 0);
  httplib::Client http(sim_->api_url());
  auto res = http.Post(("/repos/octo/demo/issues/" + std::to_string(n) + "/comments").c_str(),
                       {{"Authorization", "token " + Token()}}, R"({"body":"x"})", "application/json");
  EXPECT_TRUE(!res || res->status == 502);
  EXPECT_EQ(sim_->lost_answers(), 1);
}

// mergeable is null and mergeable_state "unknown" after a push to the head or the base, until GitHub's
// background job has computed it.
TEST_F(StrictTest, MergeabilityIsUnknownUntilComputed) {
  ASSERT_TRUE(sim_->CommitFiles(kRepo, "feature", {{"a", "1"}}, "a", "alice").ok());
  auto pr = client_->CreatePull(kRepo, {"F", "feature", "main", "", false});
  ASSERT_TRUE(pr.ok());
  auto fresh = client_->GetPull(kRepo, pr->number);
  ASSERT_TRUE(fresh.ok());
  EXPECT_FALSE(fresh->mergeable.has_value());
  EXPECT_EQ(fresh->mergeable_state, "unknown");
  ASSERT_TRUE(sim_->WaitForMergeability(kRepo, pr->number, 10s));
  auto computed = client_->GetPull(kRepo, pr->number);
  ASSERT_TRUE(computed->mergeable.has_value());
  EXPECT_TRUE(*computed->mergeable);
  EXPECT_EQ(computed->mergeable_state, "clean");
  // The base moves (and conflicts): unknown again, then dirty.
  ASSERT_TRUE(sim_->CommitFiles(kRepo, "main", {{"a", "2"}}, "a on main", "bob").ok());
  auto moved = client_->GetPull(kRepo, pr->number);
  EXPECT_FALSE(moved->mergeable.has_value());
  EXPECT_EQ(moved->mergeable_state, "unknown");
  ASSERT_TRUE(sim_->WaitForMergeability(kRepo, pr->number, 10s));
  auto dirty = client_->GetPull(kRepo, pr->number);
  ASSERT_TRUE(dirty->mergeable.has_value());
  EXPECT_FALSE(*dirty->mergeable);
  EXPECT_EQ(dirty->mergeable_state, "dirty");
}

// GitHub reports "behind" only when the base's branch protection requires up-to-date branches (and then
// refuses to merge a PR that is behind); without it, a PR lacking the base's newest commits is "clean".
// Whether a head contains a base is asked with the compare API either way.
TEST_F(StrictTest, BehindOnlyUnderProtectionAndCompareCountsTheCommits) {
  ASSERT_TRUE(sim_->CommitFiles(kRepo, "feature", {{"a", "1"}}, "a", "alice").ok());
  auto pr = client_->CreatePull(kRepo, {"F", "feature", "main", "", false});
  ASSERT_TRUE(pr.ok());
  ASSERT_TRUE(sim_->CommitFiles(kRepo, "main", {{"b", "1"}}, "b on main", "bob").ok());
  ASSERT_TRUE(sim_->WaitForMergeability(kRepo, pr->number, 10s));
  auto unprotected = client_->GetPull(kRepo, pr->number);
  ASSERT_TRUE(unprotected.ok());
  EXPECT_EQ(unprotected->mergeable_state, "clean");
  auto main_head = client_->GetRef(kRepo, "heads/main");
  ASSERT_TRUE(main_head.ok());
  auto behind = client_->CommitsBehind(kRepo, main_head->sha, unprotected->head_sha);
  ASSERT_TRUE(behind.ok()) << behind.error().ToString();
  EXPECT_EQ(*behind, 1);
  auto none = client_->CommitsBehind(kRepo, unprotected->head_sha, unprotected->head_sha);
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(*none, 0);

  ASSERT_TRUE(sim_->RequireUpToDate(kRepo, "main").ok());
  auto protected_pr = client_->GetPull(kRepo, pr->number);
  ASSERT_TRUE(protected_pr.ok());
  EXPECT_EQ(protected_pr->mergeable_state, "behind");
  auto merge = client_->MergePull(kRepo, pr->number, {});
  ASSERT_FALSE(merge.ok());
  EXPECT_NE(merge.error().message().find("out of date"), std::string::npos) << merge.error().ToString();
}

// The comparison lists the files head changed since the merge base (not what the base did since), with
// GitHub's statuses; the client reads them as "<status> <path>".
TEST_F(StrictTest, CompareListsTheFilesTheHeadChanged) {
  ASSERT_TRUE(sim_->CommitFiles(kRepo, "main", {{"m", "1"}}, "m", "bob").ok());
  ASSERT_TRUE(sim_->CommitFiles(kRepo, "feature", {{"src/a.c", "1"}, {"m", "2"}}, "a", "alice").ok());
  ASSERT_TRUE(sim_->CommitFiles(kRepo, "main", {{"z", "1"}}, "z on main", "bob").ok());
  auto files = client_->ChangedFiles(kRepo, "main", "feature");
  ASSERT_TRUE(files.ok()) << files.error().ToString();
  EXPECT_EQ(*files, (std::vector<std::string>{"M m", "A src/a.c"}));
  auto none = client_->ChangedFiles(kRepo, "feature", "feature");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

// A pull request into the default branch closes the issues its body names with a closing keyword when it
// merges, as completed, each with its `issues` "closed" webhook; into another branch it closes nothing.
TEST_F(StrictTest, AMergeIntoTheDefaultBranchClosesTheIssuesItsBodyNames) {
  const int64_t a = *sim_->CreateIssue(kRepo, "alice", "A", "", {});
  const int64_t b = *sim_->CreateIssue(kRepo, "alice", "B", "", {});
  const int64_t c = *sim_->CreateIssue(kRepo, "alice", "C", "", {});
  const std::string closes = "Closes #" + std::to_string(a) + ", closes #" + std::to_string(b) + ".\n- closes #" +
                             std::to_string(c);
  ASSERT_TRUE(sim_->CommitFiles(kRepo, "side", {{"s", "1"}}, "s", "alice").ok());
  ASSERT_TRUE(sim_->CommitFiles(kRepo, "feature", {{"f", "1"}}, "f", "alice").ok());
  auto into_side = client_->CreatePull(kRepo, {"F to side", "feature", "side", closes, false});
  ASSERT_TRUE(into_side.ok()) << into_side.error().ToString();
  ASSERT_TRUE(sim_->MergePull(kRepo, into_side->number, "alice", "merge").ok());
  for (int64_t n : {a, b, c}) EXPECT_EQ(client_->GetIssue(kRepo, n)->state, "open") << "#" << n;

  auto into_main = client_->CreatePull(kRepo, {"Side to main", "side", "main", closes, false});
  ASSERT_TRUE(into_main.ok()) << into_main.error().ToString();
  ASSERT_TRUE(sim_->MergePull(kRepo, into_main->number, "alice", "merge").ok());
  for (int64_t n : {a, b}) {
    auto issue = client_->GetIssue(kRepo, n);
    ASSERT_TRUE(issue.ok());
    EXPECT_EQ(issue->state, "closed") << "#" << n;
  }
  EXPECT_EQ(client_->GetIssue(kRepo, c)->state, "open") << "a list item links nothing";
  ASSERT_TRUE(hooks_.WaitFor([&](const auto& hs) {
    int closed = 0;
    for (const auto& h : hs) {
      if (h.event != "issues") continue;
      json p = json::parse(h.body);
      closed += p["action"] == "closed" && p["issue"]["state_reason"] == "completed" &&
                        (p["issue"]["number"] == a || p["issue"]["number"] == b)
                    ? 1
                    : 0;
    }
    return closed == 2;
  }));
}

// Deliveries go out from several senders after a random delay: they overlap and arrive out of order.
TEST_F(StrictTest, WebhooksArriveOutOfOrder) {
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(sim_->CreateIssue(kRepo, "alice", "Issue " + std::to_string(i), "", {}).ok());
  ASSERT_TRUE(hooks_.WaitFor([](const auto& hs) { return hs.size() >= 20; }));
  std::vector<int64_t> numbers;
  for (const auto& h : hooks_.hooks()) numbers.push_back(json::parse(h.body)["issue"]["number"]);
  EXPECT_FALSE(std::is_sorted(numbers.begin(), numbers.end())) << "20 deliveries arrived in causal order";
}

// Each delivery says when its event happened and when it was sent (after the sender's delay), on the
// simulator's clock: what the overhead benchmark measures wavebot's own share from.
TEST_F(StrictTest, DeliveriesSayWhenTheEventHappenedAndWhenTheyWereSent) {
  std::vector<std::chrono::system_clock::time_point> created;
  for (int i = 0; i < 3; ++i) {
    created.push_back(clock_.Now());
    ASSERT_TRUE(sim_->CreateIssue(kRepo, "alice", "Issue " + std::to_string(i), "", {}).ok());
    clock_.Advance(std::chrono::seconds(10));
  }
  ASSERT_TRUE(sim_->WaitForDeliveries([](const auto& ds) { return ds.size() >= 3; }, std::chrono::seconds(20)));
  int seen = 0;
  for (const auto& d : sim_->Deliveries()) {
    if (d.event != "issues" || d.action != "opened") continue;
    const int64_t n = json::parse(d.payload)["issue"]["number"];
    ASSERT_GE(n, 1);
    ASSERT_LE(n, 3);
    EXPECT_EQ(d.emitted_at, created[static_cast<size_t>(n - 1)]) << n;
    EXPECT_GE(d.sent_at, d.emitted_at) << n;
    ++seen;
  }
  EXPECT_EQ(seen, 3);
}

class OrderedWebhookTest : public SimTest {
  void Configure(sandbox::SimulatorOptions* so) override {
    so->webhook_senders = 1;
    so->webhook_jitter = std::chrono::milliseconds(0);
  }
};

TEST_F(OrderedWebhookTest, OneSenderWithoutJitterKeepsTheOrder) {
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(sim_->CreateIssue(kRepo, "alice", "Issue " + std::to_string(i), "", {}).ok());
  ASSERT_TRUE(hooks_.WaitFor([](const auto& hs) { return hs.size() >= 10; }));
  std::vector<int64_t> numbers;
  for (const auto& h : hooks_.hooks()) numbers.push_back(json::parse(h.body)["issue"]["number"]);
  EXPECT_TRUE(std::is_sorted(numbers.begin(), numbers.end()));
}

// PATCH of a title or body is announced as issues.edited / pull_request.edited with what changed; a
// label removed from a PR as pull_request.unlabeled.
TEST_F(StrictTest, EditsAndUnlabelingAreAnnounced) {
  int64_t n = *sim_->CreateIssue(kRepo, "alice", "Old title", "old body", {});
  github::IssueUpdate u;
  u.body = "new body";
  ASSERT_TRUE(client_->UpdateIssue(kRepo, n, u).ok());
  ASSERT_TRUE(sim_->CommitFiles(kRepo, "feature", {{"a", "1"}}, "a", "alice").ok());
  auto pr = client_->CreatePull(kRepo, {"F", "feature", "main", "", false});
  ASSERT_TRUE(pr.ok());
  github::PullUpdate pu;
  pu.title = "F, renamed";
  ASSERT_TRUE(client_->UpdatePull(kRepo, pr->number, pu).ok());
  ASSERT_TRUE(sim_->AddLabel(kRepo, pr->number, "agent-stuck", "alice").ok());
  ASSERT_TRUE(sim_->RemoveLabel(kRepo, pr->number, "agent-stuck", "alice").ok());
  ASSERT_TRUE(hooks_.WaitFor([](const auto& hs) {
    return HasEvent(hs, "issues", "edited") && HasEvent(hs, "pull_request", "edited") &&
           HasEvent(hs, "pull_request", "unlabeled");
  }));
  for (const auto& h : hooks_.hooks()) {
    json j = json::parse(h.body);
    if (h.event == "issues" && j["action"] == "edited") {
      EXPECT_EQ(j["changes"]["body"]["from"], "old body");
      EXPECT_EQ(j["issue"]["body"], "new body");
      EXPECT_FALSE(j["changes"].contains("title"));
    }
    if (h.event == "pull_request" && j["action"] == "edited") {
      EXPECT_EQ(j["changes"]["title"]["from"], "F");
      EXPECT_EQ(j["pull_request"]["title"], "F, renamed");
    }
    if (h.event == "pull_request" && j["action"] == "unlabeled") {
      EXPECT_EQ(j["label"]["name"], "agent-stuck");
    }
  }
}

// GitHub's size limits: 65,536 characters for a body, 256 for a PR title; beyond, 422 with its
// validation error.
TEST_F(StrictTest, BodiesAndTitlesOverGitHubsLimitsAre422) {
  int64_t n = *sim_->CreateIssue(kRepo, "alice", "Epic", "body", {});
  httplib::Client http(sim_->api_url());
  httplib::Headers auth = {{"Authorization", "token " + Token()}};
  auto post = [&](const std::string& path, const json& body) {
    return http.Post(path.c_str(), auth, body.dump(), "application/json");
  };
  std::string limit;
  for (int i = 0; i < 65536; ++i) limit += i % 2 ? "é" : "a";  // characters, not bytes
  const std::string comments = "/repos/octo/demo/issues/" + std::to_string(n) + "/comments";
  auto fits = post(comments, {{"body", limit}});
  ASSERT_TRUE(fits);
  EXPECT_EQ(fits->status, 201);
  auto over = post(comments, {{"body", limit + "a"}});
  ASSERT_TRUE(over);
  EXPECT_EQ(over->status, 422);
  json err = json::parse(over->body);
  EXPECT_EQ(err["message"], "Validation Failed");
  EXPECT_EQ(err["errors"][0]["message"], "Body is too long (maximum is 65536 characters)");
  auto edit = http.Patch(("/repos/octo/demo/issues/" + std::to_string(n)).c_str(), auth,
                         json{{"body", limit + "a"}}.dump(), "application/json");
  ASSERT_TRUE(edit);
  EXPECT_EQ(edit->status, 422);

  ASSERT_TRUE(sim_->CommitFiles(kRepo, "feature", {{"a", "1"}}, "a", "alice").ok());
  auto long_title = post("/repos/octo/demo/pulls", {{"title", std::string(257, 't')}, {"head", "feature"},
                                                    {"base", "main"}});
  ASSERT_TRUE(long_title);
  EXPECT_EQ(long_title->status, 422);
  EXPECT_EQ(json::parse(long_title->body)["errors"][0]["field"], "title");
  auto long_body = post("/repos/octo/demo/pulls", {{"title", std::string(256, 't')}, {"head", "feature"},
                                                   {"base", "main"}, {"body", limit + "a"}});
  ASSERT_TRUE(long_body);
  EXPECT_EQ(long_body->status, 422);
  auto ok = post("/repos/octo/demo/pulls", {{"title", std::string(256, 't')}, {"head", "feature"},
                                            {"base", "main"}, {"body", limit}});
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 201) << ok->body;
}

}  // namespace
}  // namespace wavebot::testing

namespace wavebot::testing {
namespace {

// What the benchmarks count: the App's requests only (not a user's), token mints apart from the
// installation's writes, 304s, and answers that said a rate limit was exceeded.
TEST_F(SimTest, TheAppsRequestsAreCountedApartFromAUsers) {
  auto issue = sim_->CreateIssue(kRepo, "alice", "A ticket", "body", {});
  ASSERT_TRUE(issue.ok());
  ASSERT_TRUE(client_->GetIssue(kRepo, *issue).ok());  // mints a token, then reads
  ASSERT_TRUE(client_->GetIssue(kRepo, *issue).ok());  // conditional: 304
  ASSERT_TRUE(client_->CreateComment(kRepo, *issue, "hello").ok());
  sim_->InjectFaults({sandbox::Fault::kSecondary429RetryAfter});
  ASSERT_TRUE(client_->GetIssue(kRepo, *issue).ok());  // 429, then again after the wait
  auto co = ClientOpts();
  co.app_id.clear();
  co.private_key_pem.clear();
  co.token = *sim_->CreateUserToken("alice");
  auto alice = MakeClient(co);
  ASSERT_TRUE(alice->CreateComment(kRepo, *issue, "a user's write").ok());

  const auto log = sim_->AppRequestLog();
  EXPECT_EQ(sim_->RequestLog().size(), log.size() + 1);
  for (const auto& line : log) EXPECT_EQ(line.find("a user's"), std::string::npos);
  const sandbox::RequestBudget b = sandbox::CountRequests(log);
  EXPECT_EQ(b.token_mints, 1);
  EXPECT_EQ(b.writes, 1);
  EXPECT_EQ(b.not_modified, 1) << ::testing::PrintToString(log);  // the second read (the comment changed the issue)
  EXPECT_EQ(b.rate_limited, 1) << ::testing::PrintToString(log);
  EXPECT_EQ(b.requests, 7) << ::testing::PrintToString(log);  // and the installation's lookup
  EXPECT_EQ(b.counted(), 6);
  EXPECT_EQ(b.app_requests, 2);  // the installation's lookup and the mint, with the App's JWT
  EXPECT_EQ(b.installation_counted(), 4);
  EXPECT_NE(sandbox::FormatRequestBudget(b, 2).find(
                "per merged ticket: 3.5, 3.0 without 304s (2.0 on the installation's token), 0.5 writes"),
            std::string::npos)
      << sandbox::FormatRequestBudget(b, 2);
}

TEST(RequestKindTest, NamesTheVariablePartsAndTheGitService) {
  EXPECT_EQ(sandbox::RequestKind("GET", "/repos/acme/calc/pulls/12", ""), "GET /repos/{o}/{r}/pulls/{n}");
  EXPECT_EQ(sandbox::RequestKind("GET", "/repos/acme/calc/commits/" + std::string(40, 'a') + "/check-runs?per_page=100", ""),
            "GET /repos/{o}/{r}/commits/{sha}/check-runs");
  EXPECT_EQ(sandbox::RequestKind("GET", "/repos/acme/calc/compare/" + std::string(40, 'a') + "..." + std::string(40, 'b'), ""),
            "GET /repos/{o}/{r}/compare/{range}");
  EXPECT_EQ(sandbox::RequestKind("POST", "/app/installations/7/access_tokens", ""), "POST /app/installations/{n}/access_tokens");
  EXPECT_EQ(sandbox::RequestKind("POST", "/git/acme/calc.git/git-receive-pack", ""), "POST git-receive-pack");
  EXPECT_EQ(sandbox::RequestKind("POST", "/git/acme/calc.git/git-upload-pack", "version=2"), "POST git-upload-pack (ls-refs)");
  EXPECT_EQ(sandbox::RequestKind("POST", "/git/acme/calc.git/git-upload-pack", ""), "POST git-upload-pack (fetch)");
  EXPECT_EQ(sandbox::RequestKind("GET", "/git/acme/calc.git/info/refs?service=git-upload-pack", ""), "GET info/refs");
  EXPECT_EQ(sandbox::RequestKind("GET", "/", ""), "GET /");
}

// The simulator times every request it answers, by kind, so that a benchmark can tell its time from
// wavebot's.
TEST_F(SimTest, EveryAnswerIsTimedByKind) {
  auto issue = sim_->CreateIssue(kRepo, "alice", "Timed", "", {});
  ASSERT_TRUE(issue.ok());
  ASSERT_TRUE(client_->GetIssue(kRepo, *issue).ok());
  ASSERT_TRUE(client_->CreateComment(kRepo, *issue, "hello").ok());
  const auto times = sim_->HandlingTimes();
  for (const char* kind : {"GET /repos/{o}/{r}/issues/{n}", "POST /repos/{o}/{r}/issues/{n}/comments"}) {
    auto it = times.find(kind);
    ASSERT_NE(it, times.end()) << kind;
    ASSERT_EQ(it->second.size(), 1u) << kind;
    EXPECT_GE(it->second[0], 0.0);
    EXPECT_LT(it->second[0], 60000.0);
  }
}

// Every issue carries GitHub's summary of its dependencies; the client reads how many block it.
TEST_F(SimTest, IssuesSummariseTheirDependencies) {
  auto blocker = sim_->CreateIssue(kRepo, "alice", "First", "", {});
  auto blocked = sim_->CreateIssue(kRepo, "alice", "Second", "", {});
  ASSERT_TRUE(blocker.ok() && blocked.ok());
  auto before = client_->GetIssue(kRepo, *blocked);
  ASSERT_TRUE(before.ok());
  EXPECT_EQ(before->total_blocked_by, 0);
  ASSERT_TRUE(sim_->AddBlockedBy(kRepo, *blocked, *blocker).ok());
  ASSERT_TRUE(sim_->CloseIssue(kRepo, *blocker, "alice").ok());
  github::IssueListFilter all;
  all.state = "all";
  auto listed = client_->ListIssues(kRepo, all);
  ASSERT_TRUE(listed.ok());
  for (const auto& i : *listed) {
    EXPECT_EQ(i.total_blocked_by, i.number == *blocked ? 1 : 0) << "#" << i.number;  // closed blockers count too
  }
}

}  // namespace
}  // namespace wavebot::testing
