// A reader of the repository against the `actions` executor (docs/security.md). Workflow inputs are
// public: whoever reads the repository sees a dispatch's id (it is in the run's and the job's names).
// Here wavebot's API (ActionsExecutor + routes on loopback, claims checked by the real OIDC verifier
// against the simulator's JWKS) and the GitHub simulator are real. The reader tries to claim a live run
// with no token, with a garbage token, with the OIDC token of another run of the same workflow and
// repository (dispatched with the inputs copied), of another workflow in the repository, of the same
// workflow in another repository, and with forged tokens (self-signed under the issuer's key id, alg
// none); and names a job of its own workflow after the dispatch and fails it. Every claim is refused,
// the crafted job is ignored, and the real job still claims its run. And with jobs that take the next
// run after their result (executor.linger): the reader, who knows the finished dispatch's id, cannot
// take the next run in the job's place.
#include <gtest/gtest.h>
#include <httplib.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "agents/actions_executor.h"
#include "agents/actions_routes.h"
#include "github/actions_oidc.h"
#include "github/jwt.h"
#include "github/rest.h"
#include "github/sim_fixture.h"
#include "http/server.h"
#include "support/agent_workflow.h"
#include "support/wait_util.h"

namespace wavebot::testing {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

constexpr const char* kAudience = "https://wavebot.example.com";
const github::RepoRef kOtherRepo{"mallory", "demo"};

using testing::AgentWorkflow;

// The reader's own workflow in the same repository: it may name its job as it likes.
constexpr const char* kReadersWorkflow =
    "on:\n  workflow_dispatch:\n    inputs:\n      name:\n        required: true\n"
    "permissions:\n  id-token: write\n"
    "jobs:\n  grab:\n    name: ${{ inputs.name }}\n    runs-on: [self-hosted, reader]\n    steps:\n      - run: echo\n";

class RunnerClaimTest : public SimTest {
 protected:
  void SetUp() override {
    SimTest::SetUp();
    ASSERT_TRUE(sim_->CommitFiles(kRepo, "main",
                                  {{".github/workflows/wavebot-agent.yml", AgentWorkflow()},
                                   {".github/workflows/mine.yml", kReadersWorkflow}},
                                  "Add workflows", "octocat")
                    .ok());
    ASSERT_TRUE(sim_->CreateRepo(kOtherRepo, sandbox::NewRepo{}).ok());
    ASSERT_TRUE(sim_->CommitFiles(kOtherRepo, "main", {{".github/workflows/wavebot-agent.yml", AgentWorkflow()}},
                                  "Copy wavebot's workflow", "mallory")
                    .ok());
    std::string origin = sim_->api_url().substr(0, sim_->api_url().find('/', 7));
    runner_ = std::make_unique<httplib::Client>(origin);

    // wavebot: the executor over the simulator, its routes, and the verifier of the simulator's tokens.
    transport_ = github::NewCurlTransport({});
    jwks_ = github::NewHttpJwksSource(github::JwksUrlOf(sim_->oidc_issuer()), transport_.get());
    verifier_ = std::make_unique<github::ActionsOidcVerifier>(
        github::OidcVerifierOptions{.issuer = sim_->oidc_issuer(), .audience = kAudience}, jwks_.get(), &clock_);
    gateway_ = agents::NewGithubActionsGateway(client_.get());
    agents::ActionsExecutorOptions o;
    o.api_url = kAudience;
    o.background = false;
    o.batch = true;  // as wavebot runs it, with the workflow file it ships
    o.linger = std::chrono::seconds(600);
    o.on_event = [this](const agents::JobEvent& e) {
      std::lock_guard lock(mu_);
      events_.push_back(e);
    };
    o.verify_claim = [this](const std::string& credential, const agents::ClaimBinding& b) -> Status {
      auto claims = verifier_->Verify(credential, {b.repo, b.workflow, b.run_id});
      if (!claims.ok()) return claims.error();
      return OkStatus();
    };
    exec_ = std::make_unique<agents::ActionsExecutor>(o, gateway_.get(), &clock_);
    server_ = http::NewServer({.host = "127.0.0.1", .port = 0});
    agents::RegisterActionsRoutes(server_.get(), exec_.get());
    ASSERT_TRUE(server_->Start().ok());
    api_ = std::make_unique<httplib::Client>("127.0.0.1", server_->port());
  }
  void TearDown() override {
    api_.reset();
    if (exec_) exec_->EndWaits();
    if (server_) server_->Stop();
    exec_.reset();
    verifier_.reset();
    jwks_.reset();
    transport_.reset();
    runner_.reset();
    SimTest::TearDown();
  }

  // wavebot dispatches a run of ticket 2; returns the dispatch's workflow run id.
  int64_t SubmitTicket(const std::string& id = "attempt-1", int ticket = 2) {
    fs::path prompt = dir_.path() + "/prompt-" + id + ".md";
    std::ofstream(prompt) << "the secret prompt of ticket " << ticket << "\n";
    agents::TicketJob j;
    j.id = id;
    j.args = {"--repo",        sim_->git_url(kRepo),
              "--ticket",      std::to_string(ticket),
              "--branch",      "wave/1-e/" + std::to_string(ticket) + "-t",
              "--base",        "main",
              "--mode",        "implement",
              "--prompt-file", prompt.string()};
    j.git_token = "ghs_the_run_git_token";
    EXPECT_TRUE(exec_->Submit(j).ok());
    exec_->Flush();
    auto ids = exec_->DispatchIds(id);
    return ids.empty() ? 0 : exec_->RunIdOf(ids.back());
  }
  json Acquire(const std::string& name, const std::vector<std::string>& labels) {
    auto r = runner_->Post("/_sim/runners/acquire", json{{"name", name}, {"labels", labels}}.dump(), "application/json");
    EXPECT_TRUE(r && r->status == 200) << (r ? r->body : "no answer");
    return r && r->status == 200 ? json::parse(r->body) : json();
  }
  // The OIDC token of the job a runner took, for wavebot's audience.
  std::string IdToken(const json& job) {
    std::string url = job.value("id_token_request_url", "");
    auto r = runner_->Get((url.substr(url.find('/', 7)) + "&audience=https%3A%2F%2Fwavebot.example.com").c_str(),
                          {{"Authorization", "bearer " + job.value("id_token_request_token", "")}});
    EXPECT_TRUE(r && r->status == 200) << (r ? r->body : "no answer");
    return r && r->status == 200 ? json::parse(r->body).value("value", "") : "";
  }
  // The reader runs a workflow it can run (its own runner takes the job) and gets that job's token.
  std::string TokenOfAnotherRun(const github::RepoRef& repo, const std::string& workflow,
                                const std::map<std::string, std::string>& inputs, const std::string& runner_name) {
    auto d = client_->DispatchWorkflow(repo, workflow, "main", inputs);
    EXPECT_TRUE(d.ok()) << d.error().message();
    return IdToken(Acquire(runner_name, {"self-hosted", "reader"}));
  }
  httplib::Result Claim(const std::string& dispatch_id, const std::string& bearer) {
    httplib::Headers h;
    if (!bearer.empty()) h.insert({"Authorization", "Bearer " + bearer});
    return api_->Get(("/api/runs/" + dispatch_id + "/prompt").c_str(), h);
  }
  httplib::Result Next(const std::string& dispatch_id, const std::string& bearer) {
    httplib::Headers h;
    if (!bearer.empty()) h.insert({"Authorization", "Bearer " + bearer});
    return api_->Post(("/api/runs/" + dispatch_id + "/next").c_str(), h, "", "application/json");
  }
  size_t Count(agents::JobEvent::State state) {
    std::lock_guard lock(mu_);
    return static_cast<size_t>(std::count_if(events_.begin(), events_.end(), [state](const auto& e) { return e.state == state; }));
  }

  std::unique_ptr<httplib::Client> runner_, api_;
  std::unique_ptr<github::Transport> transport_;
  std::unique_ptr<github::JwksSource> jwks_;
  std::unique_ptr<github::ActionsOidcVerifier> verifier_;
  std::unique_ptr<agents::ActionsGateway> gateway_;
  std::unique_ptr<agents::ActionsExecutor> exec_;
  std::unique_ptr<http::Server> server_;
  std::mutex mu_;
  std::vector<agents::JobEvent> events_;
};

TEST_F(RunnerClaimTest, AReaderWhoSeesTheInputsCannotClaimTheRun) {
  int64_t run_id = SubmitTicket();
  ASSERT_GT(run_id, 0);
  // What every reader of the repository sees: the job's name carries the dispatch id.
  auto jobs = client_->ListJobsForRun(kRepo, run_id);
  ASSERT_TRUE(jobs.ok() && jobs->size() == 1u);
  std::string dispatch_id = jobs->at(0).name.substr(std::string("wavebot ").size());
  ASSERT_EQ(dispatch_id, exec_->DispatchIds("attempt-1").at(0));
  std::map<std::string, std::string> copied =
      testing::AgentDispatchInputs(dispatch_id, {}, kAudience, R"(["self-hosted","reader"])");

  // No token, or not a token.
  auto none = Claim(dispatch_id, "");
  ASSERT_TRUE(none);
  EXPECT_EQ(none->status, 401) << none->body;
  auto garbage = Claim(dispatch_id, "t0k3n");
  ASSERT_TRUE(garbage);
  EXPECT_EQ(garbage->status, 401) << garbage->body;
  // Genuine tokens of other runs: the same workflow and repository with the inputs copied, the
  // reader's own workflow in the repository, wavebot's workflow in another repository.
  std::string same_workflow = TokenOfAnotherRun(kRepo, "wavebot-agent.yml", copied, "reader-1");
  std::string own_workflow = TokenOfAnotherRun(kRepo, "mine.yml", {{"name", "x"}}, "reader-2");
  std::string other_repo = TokenOfAnotherRun(kOtherRepo, "wavebot-agent.yml", copied, "reader-3");
  for (const auto& [what, jwt] : std::vector<std::pair<std::string, std::string>>{
           {"another run of the workflow", same_workflow}, {"another workflow", own_workflow},
           {"another repository", other_repo}}) {
    ASSERT_FALSE(jwt.empty()) << what;
    auto r = Claim(dispatch_id, jwt);
    ASSERT_TRUE(r) << what;
    EXPECT_EQ(r->status, 403) << what << ": " << r->body;
    EXPECT_EQ(r->body.find("secret prompt"), std::string::npos) << what;
  }
  // Forged: the right claims, signed with the reader's own key under the issuer's key id; and alg none.
  std::string payload_b64 = same_workflow.substr(same_workflow.find('.') + 1,
                                                 same_workflow.rfind('.') - same_workflow.find('.') - 1);
  json claims = json::parse(*github::Base64UrlDecode(payload_b64));
  claims["run_id"] = std::to_string(run_id);
  std::string header_b64 = same_workflow.substr(0, same_workflow.find('.'));
  json header = json::parse(*github::Base64UrlDecode(header_b64));
  auto own_key = github::PrivateKey::Generate();
  ASSERT_TRUE(own_key.ok());
  auto forged = github::SignJwtRs256(**own_key, header.dump(), claims.dump());
  ASSERT_TRUE(forged.ok());
  json none_header = {{"alg", "none"}, {"kid", header["kid"]}, {"typ", "JWT"}};
  std::string unsigned_jwt = github::Base64UrlEncode(none_header.dump()) + "." + github::Base64UrlEncode(claims.dump()) + ".";
  for (const auto& jwt : {*forged, unsigned_jwt}) {
    auto r = Claim(dispatch_id, jwt);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 401) << r->body;
  }
  EXPECT_EQ(Count(agents::JobEvent::State::kRunning), 0u);

  // The real job claims its run: nothing above used the claim up.
  std::string real = IdToken(Acquire("wavebot-runner", {"self-hosted", "wavebot"}));
  auto ok = Claim(dispatch_id, real);
  ASSERT_TRUE(ok);
  ASSERT_EQ(ok->status, 200) << ok->body;
  EXPECT_EQ(json::parse(ok->body)["prompt"], "the secret prompt of ticket 2\n");
  // Once.
  auto again = Claim(dispatch_id, real);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 409) << again->body;
}

TEST_F(RunnerClaimTest, AJobNamedAfterTheDispatchInAnotherRunIsIgnored) {
  int64_t run_id = SubmitTicket();
  ASSERT_GT(run_id, 0);
  std::string dispatch_id = exec_->DispatchIds("attempt-1").at(0);
  // The reader's workflow names its job "wavebot <dispatch id>", takes it on its own runner and fails it.
  ASSERT_TRUE(client_->DispatchWorkflow(kRepo, "mine.yml", "main", {{"name", "wavebot " + dispatch_id}}).ok());
  json job = Acquire("reader-1", {"self-hosted", "reader"});
  ASSERT_EQ(job["name"], "wavebot " + dispatch_id);
  auto done = runner_->Post("/_sim/runners/complete",
                            json{{"name", "reader-1"}, {"job_id", job["job_id"]}, {"conclusion", "failure"}}.dump(),
                            "application/json");
  ASSERT_TRUE(done && done->status == 200);
  // Every workflow_job webhook GitHub sends goes to the executor, as `wavebot serve` routes them.
  auto is_crafted = [&](const ReceivedHook& h) {
    if (h.event != "workflow_job") return false;
    const json wj = json::parse(h.body)["workflow_job"];
    return wj["name"] == "wavebot " + dispatch_id && wj["run_id"] != run_id;
  };
  ASSERT_TRUE(hooks_.WaitFor([&](const std::vector<ReceivedHook>& hs) {
    return std::count_if(hs.begin(), hs.end(), is_crafted) >= 3;  // queued, in_progress, completed
  }));
  int crafted = 0;
  for (const auto& h : hooks_.hooks()) {
    if (h.event != "workflow_job") continue;
    json p = json::parse(h.body);
    const json& wj = p["workflow_job"];
    crafted += is_crafted(h) ? 1 : 0;
    exec_->OnWorkflowJob(p["repository"]["full_name"],
                         {wj["id"].get<int64_t>(), wj["run_id"].get<int64_t>(), wj["name"], wj["status"],
                          wj["conclusion"].is_string() ? wj["conclusion"].get<std::string>() : "",
                          wj["runner_name"].is_string() ? wj["runner_name"].get<std::string>() : ""});
  }
  EXPECT_EQ(crafted, 3) << "the crafted job's queued, in_progress and completed events were fed";
  // Not taken for wavebot's job: not dispatched again, not finished; the run still waits for its job.
  EXPECT_EQ(exec_->DispatchIds("attempt-1").size(), 1u);
  EXPECT_EQ(Count(agents::JobEvent::State::kFinished), 0u);
  EXPECT_EQ(exec_->Pending(), 1);
}

// The id of a dispatch whose job delivered its result is as public as any: the reader asks for the next
// run under it with no token, a garbage token, the OIDC token of a job of its own, and the finished
// job's used-up result token. Every ask is refused, none ends the real job's turn, and the real job,
// with the token its result's answer carried, takes the next run; the token then works no more.
TEST_F(RunnerClaimTest, AReaderCannotTakeTheNextRunOfAJobBetweenRuns) {
  ASSERT_GT(SubmitTicket(), 0);
  const std::string first = exec_->DispatchIds("attempt-1").at(0);
  auto claimed = Claim(first, IdToken(Acquire("wavebot-runner", {"self-hosted", "wavebot"})));
  ASSERT_TRUE(claimed && claimed->status == 200) << (claimed ? claimed->body : "no answer");
  const std::string result_token = json::parse(claimed->body)["result_token"];
  auto posted =
      api_->Post(("/api/runs/" + first + "/result").c_str(), {{"Authorization", "Bearer " + result_token}},
                 json{{"exit_code", 0}, {"result", {{"result", "done"}}}}.dump(), "application/json");
  ASSERT_TRUE(posted && posted->status == 200) << (posted ? posted->body : "no answer");
  const std::string next_token = json::parse(posted->body).value("next_token", "");
  ASSERT_FALSE(next_token.empty());

  std::string own_job = TokenOfAnotherRun(kRepo, "mine.yml", {{"name", "x"}}, "reader-1");
  ASSERT_FALSE(own_job.empty());
  for (const auto& [what, bearer] :
       std::vector<std::pair<std::string, std::string>>{{"no token", ""},
                                                        {"a garbage token", "t0k3n"},
                                                        {"an OIDC token of its own job", own_job},
                                                        {"the used result token", result_token}}) {
    auto r = Next(first, bearer);
    ASSERT_TRUE(r) << what;
    EXPECT_EQ(r->status, 401) << what << ": " << r->body;
  }
  EXPECT_EQ(Count(agents::JobEvent::State::kRunning), 1u);

  // The real job waits with its token; the next run starts and is its own, without a dispatch.
  int taken_status = 0;
  std::string taken_body;
  std::thread job([&] {
    httplib::Client c("127.0.0.1", server_->port());
    c.set_read_timeout(std::chrono::seconds(120));
    auto r = c.Post(("/api/runs/" + first + "/next").c_str(), {{"Authorization", "Bearer " + next_token}}, "",
                    "application/json");
    if (r) {
      taken_status = r->status;
      taken_body = r->body;
    }
  });
  const bool waiting = WaitFor([&] { return exec_->WaitingJobs() == 1; }, std::chrono::seconds(30));
  SubmitTicket("attempt-2", 3);
  job.join();
  ASSERT_TRUE(waiting);
  ASSERT_EQ(taken_status, 200) << taken_body;
  const json taken = json::parse(taken_body);
  EXPECT_EQ(taken["prompt"], "the secret prompt of ticket 3\n");
  EXPECT_EQ(exec_->RunsTakenByWaitingJobs(), 1);
  // Used up: neither the token nor the taken run's dispatch (whose job has posted no result) gives more.
  auto replay = Next(first, next_token);
  ASSERT_TRUE(replay);
  EXPECT_EQ(replay->status, 404) << replay->body;
  auto under_new = Next(taken["dispatch_id"], next_token);
  ASSERT_TRUE(under_new);
  EXPECT_EQ(under_new->status, 404) << under_new->body;
}

}  // namespace
}  // namespace wavebot::testing
