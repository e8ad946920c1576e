// The simulator as the Actions backend of the `actions` executor: workflow_dispatch validated against the
// workflow file as GitHub does and answering the created run when asked (return_run_details), runs and
// jobs over REST (recorded for the contract test), the simulated runner protocol, a runner that goes
// silent losing its job (FakeClock), the webhooks, and the OIDC issuer (per-job request tokens, tokens
// that verify against its JWKS with GitHub's claims).
#include <gtest/gtest.h>
#include <httplib.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "agents/actions_executor.h"
#include "github/sim_fixture.h"
#include "support/agent_workflow.h"

namespace wavebot::testing {
namespace {

using nlohmann::json;

using testing::AgentWorkflow;

std::map<std::string, std::string> Inputs(const std::string& dispatch_id,
                                          std::vector<std::string> more = {}) {
  return testing::AgentDispatchInputs(dispatch_id, std::move(more));
}

class SimActionsTest : public SimTest {
 protected:
  void Configure(sandbox::SimulatorOptions* so) override { so->runner_timeout = std::chrono::seconds(30); }
  void SetUp() override {
    SimTest::SetUp();
    auto sha = sim_->CommitFiles(kRepo, "main", {{".github/workflows/wavebot-agent.yml", AgentWorkflow()}},
                                 "Add the agent workflow", "octocat");
    ASSERT_TRUE(sha.ok()) << sha.error().message();
    runner_ = std::make_unique<httplib::Client>("127.0.0.1", std::stoi(sim_->api_url().substr(17)));
  }
  json RunnerPost(const std::string& what, const json& body, int* status) {
    auto r = runner_->Post(("/_sim/runners/" + what).c_str(), body.dump(), "application/json");
    *status = r ? r->status : 0;
    return r && !r->body.empty() ? json::parse(r->body, nullptr, false) : json();
  }
  std::vector<json> Hooks(const std::string& event) {
    std::vector<json> out;
    for (const auto& h : hooks_.hooks()) {
      if (h.event == event) out.push_back(json::parse(h.body));
    }
    return out;
  }
  std::unique_ptr<httplib::Client> runner_;
};

TEST_F(SimActionsTest, DispatchQueuesAJobNamedByItsInputsThatARunnerWithTheLabelsTakes) {
  auto dispatched = client_->DispatchWorkflow(kRepo, "wavebot-agent.yml", "main", Inputs("wb-1"));
  ASSERT_TRUE(dispatched.ok()) << dispatched.error().message();
  github::WorkflowRunFilter f;
  f.event = "workflow_dispatch";
  f.branch = "main";
  auto runs = client_->ListWorkflowRuns(kRepo, f);
  ASSERT_TRUE(runs.ok()) << runs.error().message();
  ASSERT_EQ(runs->size(), 1u);
  EXPECT_EQ((*runs)[0].status, "queued");
  // The dispatch said which run it created (return_run_details).
  EXPECT_EQ(dispatched->run_id, (*runs)[0].id);
  EXPECT_EQ(dispatched->html_url, (*runs)[0].html_url);
  EXPECT_NE(dispatched->run_url.find("/actions/runs/" + std::to_string((*runs)[0].id)), std::string::npos);
  auto jobs = client_->ListJobsForRun(kRepo, (*runs)[0].id);
  ASSERT_TRUE(jobs.ok());
  ASSERT_EQ(jobs->size(), 1u);
  EXPECT_EQ((*jobs)[0].name, "wavebot wb-1");

  int status = 0;
  RunnerPost("acquire", {{"name", "gpu-box"}, {"labels", {"self-hosted", "gpu"}}}, &status);
  EXPECT_EQ(status, 204);  // lacks the wavebot label
  json job = RunnerPost("acquire", {{"name", "r1"}, {"labels", {"self-hosted", "wavebot", "linux"}}}, &status);
  ASSERT_EQ(status, 200);
  EXPECT_EQ(job["inputs"]["dispatch_id"], "wb-1");
  EXPECT_EQ(job["job_id"], (*jobs)[0].id);
  // The step's environment as the workflow sets it, with the job's matrix value.
  EXPECT_EQ(job["env"]["WAVEBOT_DISPATCH_ID"], "wb-1");
  EXPECT_EQ(job["env"]["WAVEBOT_API_URL"], "http://127.0.0.1:9");
  // The workflow grants id-token: write: the runner gets the job's OIDC request URL and token.
  EXPECT_TRUE(job["id_token_request_url"].is_string());
  EXPECT_TRUE(job["id_token_request_token"].is_string());
  RunnerPost("acquire", {{"name", "r2"}, {"labels", {"self-hosted", "wavebot"}}}, &status);
  EXPECT_EQ(status, 204);  // taken once

  RunnerPost("complete", {{"name", "r1"}, {"job_id", job["job_id"]}, {"conclusion", "success"}, {"log", "all good\n"}},
             &status);
  ASSERT_EQ(status, 200);
  auto run = client_->GetWorkflowRun(kRepo, (*runs)[0].id);
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->status, "completed");
  EXPECT_EQ(run->conclusion, "success");
  auto log = client_->DownloadJobLog(kRepo, job["job_id"].get<int64_t>());
  ASSERT_TRUE(log.ok()) << log.error().message();
  EXPECT_EQ(*log, "all good\n");

  // The webhooks: workflow_job queued, in_progress, completed (named, on the runner); workflow_run too.
  ASSERT_TRUE(hooks_.WaitFor([](const std::vector<ReceivedHook>& hs) {
    int n = 0;
    for (const auto& h : hs) n += h.event == "workflow_job" || h.event == "workflow_run" ? 1 : 0;
    return n >= 6;
  }));
  // Deliveries arrive in any order (as GitHub's): compare them as sets, by action.
  std::multiset<std::string> actions;
  std::map<std::string, json> job_by_action, run_by_action;
  for (const auto& j : Hooks("workflow_job")) {
    actions.insert(j["action"].get<std::string>());
    job_by_action[j["action"]] = j;
    EXPECT_EQ(j["workflow_job"]["name"], "wavebot wb-1");
    EXPECT_EQ(j["workflow_job"]["labels"], json({"self-hosted", "wavebot"}));
  }
  EXPECT_EQ(actions, (std::multiset<std::string>{"queued", "in_progress", "completed"}));
  EXPECT_EQ(job_by_action["completed"]["workflow_job"]["runner_name"], "r1");
  auto wr = Hooks("workflow_run");
  ASSERT_EQ(wr.size(), 3u);
  for (const auto& j : wr) run_by_action[j["action"]] = j;
  EXPECT_TRUE(run_by_action.count("requested"));
  EXPECT_EQ(run_by_action["completed"]["workflow_run"]["path"], ".github/workflows/wavebot-agent.yml");
  EXPECT_EQ(run_by_action["completed"]["workflow_run"]["display_title"], "wavebot wb-1 (#2 implement)");
  // And, as any Actions job on GitHub, a check run sharing the job's id, with its suite's completion.
  ASSERT_TRUE(hooks_.WaitFor([](const std::vector<ReceivedHook>& hs) {
    int n = 0;
    for (const auto& h : hs) n += h.event == "check_run" || h.event == "check_suite" ? 1 : 0;
    return n >= 3;
  }));
  std::multiset<std::string> check_actions;
  for (const auto& c : Hooks("check_run")) {
    check_actions.insert(c["action"].get<std::string>());
    EXPECT_EQ(c["check_run"]["id"], job["job_id"]);
    EXPECT_EQ(c["check_run"]["app"]["slug"], "github-actions");
  }
  EXPECT_EQ(check_actions, (std::multiset<std::string>{"created", "completed"}));
  auto suites = Hooks("check_suite");
  ASSERT_EQ(suites.size(), 1u);
  EXPECT_EQ(suites[0]["check_suite"]["conclusion"], "success");
  EXPECT_EQ(job_by_action["completed"]["workflow_job"]["check_run_url"],
            Hooks("check_run")[0]["check_run"]["url"]);
}

// One dispatch for several runs: the workflow's matrix over `runs` makes one job each, named and given
// its environment with its own value; the workflow run completes with its last job, as a failure when one
// failed.
TEST_F(SimActionsTest, AMatrixOverTheRunsMakesAJobForEachAndTheRunEndsWithTheLast) {
  auto dispatched =
      client_->DispatchWorkflow(kRepo, "wavebot-agent.yml", "main", Inputs("wb-1", {"wb-2", "wb-3"}));
  ASSERT_TRUE(dispatched.ok()) << dispatched.error().message();
  auto jobs = client_->ListJobsForRun(kRepo, dispatched->run_id);
  ASSERT_TRUE(jobs.ok());
  ASSERT_EQ(jobs->size(), 3u);
  std::set<std::string> names;
  for (const auto& j : *jobs) names.insert(j.name);
  EXPECT_EQ(names, (std::set<std::string>{"wavebot wb-1", "wavebot wb-2", "wavebot wb-3"}));
  std::map<std::string, int64_t> job_of;
  int status = 0;
  for (int i = 0; i < 3; ++i) {
    json job = RunnerPost(
        "acquire", {{"name", "r" + std::to_string(i)}, {"labels", {"self-hosted", "wavebot"}}}, &status);
    ASSERT_EQ(status, 200);
    const std::string id = job["env"]["WAVEBOT_DISPATCH_ID"];
    EXPECT_EQ(job["name"], "wavebot " + id);
    job_of[id] = job["job_id"].get<int64_t>();
  }
  EXPECT_EQ(job_of.size(), 3u);
  auto complete = [&](const std::string& id, const char* conclusion) {
    const int r = static_cast<int>(std::distance(job_of.begin(), job_of.find(id)));
    (void)r;
    for (int i = 0; i < 3; ++i) {
      RunnerPost("complete",
                 {{"name", "r" + std::to_string(i)}, {"job_id", job_of[id]}, {"conclusion", conclusion}},
                 &status);
      if (status == 200) return;
    }
    ADD_FAILURE() << "no runner completed " << id;
  };
  complete("wb-1", "success");
  complete("wb-2", "failure");
  auto run = client_->GetWorkflowRun(kRepo, dispatched->run_id);
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->status, "in_progress");  // wb-3's job is still running
  complete("wb-3", "success");
  run = client_->GetWorkflowRun(kRepo, dispatched->run_id);
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->status, "completed");
  EXPECT_EQ(run->conclusion, "failure");
  // A matrix without values is refused.
  auto empty = Inputs("wb-9");
  empty["runs"] = "[]";
  auto refused = client_->DispatchWorkflow(kRepo, "wavebot-agent.yml", "main", empty);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message().find("does not contain any values"), std::string::npos);
}

TEST_F(SimActionsTest, DispatchRefusesWhatGitHubRefuses) {
  auto missing = client_->DispatchWorkflow(kRepo, "nope.yml", "main", Inputs("wb-1"));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);
  auto extra = Inputs("wb-1");
  extra["prompt"] = "the whole prompt";
  auto unexpected = client_->DispatchWorkflow(kRepo, "wavebot-agent.yml", "main", extra);
  ASSERT_FALSE(unexpected.ok());
  EXPECT_NE(unexpected.error().message().find("Unexpected inputs provided"), std::string::npos);
  auto lacking = Inputs("wb-1");
  lacking.erase("runs");
  auto required = client_->DispatchWorkflow(kRepo, "wavebot-agent.yml", "main", lacking);
  ASSERT_FALSE(required.ok());
  EXPECT_NE(required.error().message().find("Required input 'runs'"), std::string::npos);
  // The inputs of a wavebot before batches (one run per dispatch): GitHub refuses them, which is how the
  // executor learns to fall back for a repository that kept the older file (and the other way round).
  auto older = Inputs("wb-1");
  older.erase("runs");
  older.erase("tickets");
  older["ticket"] = "2";
  auto refused = client_->DispatchWorkflow(kRepo, "wavebot-agent.yml", "main", older);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(refused.error().message().find("Required input 'runs'"), std::string::npos);
  auto mixed = Inputs("wb-1");
  mixed["ticket"] = "2";
  refused = client_->DispatchWorkflow(kRepo, "wavebot-agent.yml", "main", mixed);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message().find("Unexpected inputs provided: [\"ticket\"]"), std::string::npos);
  // A wavebot before OIDC sent a `token` input: the workflow no longer declares it.
  auto old = Inputs("wb-1");
  old["token"] = "t0k3n";
  auto stale = client_->DispatchWorkflow(kRepo, "wavebot-agent.yml", "main", old);
  ASSERT_FALSE(stale.ok());
  EXPECT_NE(stale.error().message().find("Unexpected inputs provided: [\"token\"]"), std::string::npos);
  // Inputs of more than 65,535 characters in all.
  auto big = Inputs("wb-1");
  big["tickets"] = std::string(65536, 'x');
  refused = client_->DispatchWorkflow(kRepo, "wavebot-agent.yml", "main", big);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(refused.error().message().find("65,535 characters"), std::string::npos)
      << refused.error().ToString();
  // (More than 25 inputs is refused too, but GitHub's OpenAPI schema forbids sending that at all, and
  // this test's requests are checked against it: the executor's own test keeps it from being sent.)
  EXPECT_FALSE(client_->DispatchWorkflow(kRepo, "wavebot-agent.yml", "no-such-branch", Inputs("wb-1")).ok());
  github::WorkflowRunFilter f;
  f.event = "workflow_dispatch";
  auto runs = client_->ListWorkflowRuns(kRepo, f);
  ASSERT_TRUE(runs.ok());
  EXPECT_TRUE(runs->empty());
}

TEST_F(SimActionsTest, ARunnerThatGoesSilentLosesItsJobAsFailed) {
  ASSERT_TRUE(client_->DispatchWorkflow(kRepo, "wavebot-agent.yml", "main", Inputs("wb-7")).ok());
  int status = 0;
  json job = RunnerPost("acquire", {{"name", "r1"}, {"labels", {"self-hosted", "wavebot"}}}, &status);
  ASSERT_EQ(status, 200);
  clock_.Advance(std::chrono::seconds(20));
  RunnerPost("heartbeat", {{"name", "r1"}, {"job_id", job["job_id"]}}, &status);
  EXPECT_EQ(status, 200);
  clock_.Advance(std::chrono::seconds(29));
  RunnerPost("acquire", {{"name", "r2"}, {"labels", {"self-hosted", "wavebot"}}}, &status);  // sweeps
  auto jobs = client_->ListJobsForRun(kRepo, job["run_id"].get<int64_t>());
  ASSERT_TRUE(jobs.ok());
  EXPECT_EQ((*jobs)[0].status, "in_progress");
  clock_.Advance(std::chrono::seconds(1));
  RunnerPost("acquire", {{"name", "r2"}, {"labels", {"self-hosted", "wavebot"}}}, &status);
  jobs = client_->ListJobsForRun(kRepo, job["run_id"].get<int64_t>());
  ASSERT_TRUE(jobs.ok());
  EXPECT_EQ((*jobs)[0].status, "completed");
  EXPECT_EQ((*jobs)[0].conclusion, "failure");
  // The dead runner's late report is refused.
  RunnerPost("complete", {{"name", "r1"}, {"job_id", job["job_id"]}, {"conclusion", "success"}}, &status);
  EXPECT_EQ(status, 410);
  auto log = client_->DownloadJobLog(kRepo, job["job_id"].get<int64_t>());
  ASSERT_TRUE(log.ok());
  EXPECT_NE(log->find("lost communication"), std::string::npos);
}

TEST_F(SimActionsTest, TheGatewayReturnsTheRunItDispatchedAndPollsItsJobs) {
  auto gw = agents::NewGithubActionsGateway(client_.get());
  auto run_id = gw->Dispatch("octo/demo", ".github/workflows/wavebot-agent.yml", "main", Inputs("wb-9"));
  ASSERT_TRUE(run_id.ok()) << run_id.error().message();
  ASSERT_GT(*run_id, 0);
  auto jobs = gw->RunJobs("octo/demo", *run_id);
  ASSERT_TRUE(jobs.ok()) << jobs.error().message();
  ASSERT_EQ(jobs->size(), 1u);
  EXPECT_EQ((*jobs)[0].run_id, *run_id);
  EXPECT_EQ((*jobs)[0].name, "wavebot wb-9");
  EXPECT_EQ((*jobs)[0].status, "queued");
}

TEST_F(SimActionsTest, WithoutReturnRunDetailsTheDispatchAnswers204) {
  auto token = sim_->CreateUserToken("octocat");
  ASSERT_TRUE(token.ok());
  ASSERT_TRUE(sim_->SetCollaborator(kRepo, "octocat", "admin").ok());
  httplib::Client raw("127.0.0.1", std::stoi(sim_->api_url().substr(17)));
  httplib::Headers auth = {{"Authorization", "token " + *token}, {"X-GitHub-Api-Version", "2022-11-28"}};
  json body = {{"ref", "main"}, {"inputs", Inputs("wb-3")}};
  auto plain = raw.Post("/repos/octo/demo/actions/workflows/wavebot-agent.yml/dispatches", auth, body.dump(),
                        "application/json");
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->status, 204);
  EXPECT_TRUE(plain->body.empty());
  body["return_run_details"] = false;
  auto no = raw.Post("/repos/octo/demo/actions/workflows/wavebot-agent.yml/dispatches", auth, body.dump(),
                     "application/json");
  ASSERT_TRUE(no);
  EXPECT_EQ(no->status, 204);
  body["return_run_details"] = true;
  auto yes = raw.Post("/repos/octo/demo/actions/workflows/wavebot-agent.yml/dispatches", auth, body.dump(),
                      "application/json");
  ASSERT_TRUE(yes);
  ASSERT_EQ(yes->status, 200);
  EXPECT_GT(json::parse(yes->body)["workflow_run_id"].get<int64_t>(), 0);
}

}  // namespace
}  // namespace wavebot::testing
