// The simulator as GitHub's Actions OIDC issuer: a job of a workflow that grants `id-token: write` gets a
// per-job request URL and token from its runner, and the token it gets for an audience verifies against
// the issuer's JWKS (wavebot's real verifier, over HTTP) with GitHub's claim set; the request token works
// for its own job only, and only while it runs; a workflow without the permission gets nothing. In the
// default layout and in GitHub Enterprise Server's.
#include <gtest/gtest.h>
#include <httplib.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "github/actions_oidc.h"
#include "github/jwt.h"
#include "github/rest.h"
#include "github/sim_fixture.h"
#include "support/agent_workflow.h"

namespace wavebot::testing {
namespace {

using nlohmann::json;

using testing::AgentWorkflow;

std::map<std::string, std::string> Inputs(const std::string& dispatch_id) {
  return testing::AgentDispatchInputs(dispatch_id);
}

// A workflow with no `id-token: write` (the wavebot workflow before OIDC had `permissions: {}`).
constexpr const char* kPlainWorkflow =
    "on:\n  workflow_dispatch:\npermissions: {}\njobs:\n  a:\n    runs-on: [self-hosted, plain]\n"
    "    steps:\n      - run: echo hi\n";
// The permission granted by the job rather than the workflow.
constexpr const char* kJobGrantsWorkflow =
    "on:\n  workflow_dispatch:\npermissions:\n  contents: read\njobs:\n  a:\n    runs-on: [self-hosted, jobperm]\n"
    "    permissions:\n      id-token: write\n    steps:\n      - run: echo hi\n";

class SimOidcTest : public SimTest {
 protected:
  void Configure(sandbox::SimulatorOptions* so) override { so->ghes_layout = ghes_; }
  void SetUp() override {
    SimTest::SetUp();
    auto sha = sim_->CommitFiles(kRepo, "main",
                                 {{".github/workflows/wavebot-agent.yml", AgentWorkflow()},
                                  {".github/workflows/plain.yml", kPlainWorkflow},
                                  {".github/workflows/jobperm.yml", kJobGrantsWorkflow}},
                                 "Add workflows", "octocat");
    ASSERT_TRUE(sha.ok()) << sha.error().message();
    std::string origin = sim_->api_url().substr(0, sim_->api_url().find('/', 7));
    runner_ = std::make_unique<httplib::Client>(origin);
    transport_ = github::NewCurlTransport({});
    jwks_ = github::NewHttpJwksSource(github::JwksUrlOf(sim_->oidc_issuer()), transport_.get());
    github::OidcVerifierOptions vo;
    vo.issuer = sim_->oidc_issuer();
    vo.audience = "https://wavebot.example.com";
    verifier_ = std::make_unique<github::ActionsOidcVerifier>(vo, jwks_.get(), &clock_);
  }
  void TearDown() override {
    // Their kept-alive connections first: the simulator's Stop() waits for open ones.
    verifier_.reset();
    jwks_.reset();
    transport_.reset();
    runner_.reset();
    SimTest::TearDown();
  }
  json Acquire(const std::string& name, const std::vector<std::string>& labels) {
    auto r = runner_->Post("/_sim/runners/acquire", json{{"name", name}, {"labels", labels}}.dump(), "application/json");
    EXPECT_TRUE(r && r->status == 200) << (r ? r->body : "no answer");
    return r && r->status == 200 ? json::parse(r->body) : json();
  }
  // GET <request_url>&audience=<aud> with `Authorization: bearer <token>`: (status, body).
  std::pair<int, json> RequestToken(const std::string& url, const std::string& token, const std::string& audience) {
    std::string path = url.substr(url.find('/', 7)) + "&audience=" + audience;
    httplib::Headers h;
    if (!token.empty()) h.insert({"Authorization", "bearer " + token});
    auto r = runner_->Get(path.c_str(), h);
    if (!r) return {0, json()};
    return {r->status, json::parse(r->body, nullptr, false)};
  }
  int64_t Dispatch(const std::string& workflow, const std::map<std::string, std::string>& inputs) {
    auto d = client_->DispatchWorkflow(kRepo, workflow, "main", inputs);
    EXPECT_TRUE(d.ok()) << d.error().message();
    return d.ok() ? d->run_id : 0;
  }

  bool ghes_ = false;
  std::unique_ptr<httplib::Client> runner_;
  std::unique_ptr<github::Transport> transport_;
  std::unique_ptr<github::JwksSource> jwks_;
  std::unique_ptr<github::ActionsOidcVerifier> verifier_;
};

TEST_F(SimOidcTest, AJobsTokenVerifiesAgainstTheIssuersKeysWithGithubsClaims) {
  int64_t run_id = Dispatch("wavebot-agent.yml", Inputs("wb-1"));
  ASSERT_GT(run_id, 0);
  json job = Acquire("r1", {"self-hosted", "wavebot"});
  ASSERT_TRUE(job["id_token_request_url"].is_string()) << job.dump();
  auto [status, answer] = RequestToken(job["id_token_request_url"], job["id_token_request_token"],
                                       "https%3A%2F%2Fwavebot.example.com");
  ASSERT_EQ(status, 200) << answer.dump();
  std::string jwt = answer["value"];
  auto claims = verifier_->Verify(jwt, {"octo/demo", ".github/workflows/wavebot-agent.yml", run_id});
  ASSERT_TRUE(claims.ok()) << claims.error().message();
  EXPECT_EQ(claims->sub, "repo:octo/demo:ref:refs/heads/main");
  EXPECT_EQ(claims->event_name, "workflow_dispatch");
  EXPECT_EQ(claims->ref, "refs/heads/main");
  EXPECT_EQ(claims->runner_environment, "self-hosted");
  EXPECT_EQ(claims->run_attempt, 1);
  // Every claim of GitHub's documented set is there; ids are strings, as GitHub sends them.
  std::string payload = jwt.substr(jwt.find('.') + 1, jwt.rfind('.') - jwt.find('.') - 1);
  json c = json::parse(*github::Base64UrlDecode(payload));
  for (const char* k : {"sub", "repository", "repository_id", "repository_owner", "run_id", "run_attempt", "workflow",
                        "workflow_ref", "job_workflow_ref", "event_name", "ref", "sha", "actor", "runner_environment",
                        "iss", "aud", "exp", "iat", "nbf", "jti"}) {
    EXPECT_TRUE(c.contains(k)) << k;
  }
  EXPECT_EQ(c["run_id"], std::to_string(run_id));
  EXPECT_EQ(c["workflow_ref"], "octo/demo/.github/workflows/wavebot-agent.yml@refs/heads/main");
  EXPECT_EQ(c["iss"], sim_->oidc_issuer());
  // The same token is not one for another run, nor for another audience.
  auto other_run = verifier_->Verify(jwt, {"octo/demo", ".github/workflows/wavebot-agent.yml", run_id + 1});
  ASSERT_FALSE(other_run.ok());
  EXPECT_EQ(other_run.error().code(), ErrorCode::kPermissionDenied);
  auto [s2, default_aud] = RequestToken(job["id_token_request_url"], job["id_token_request_token"], "");
  ASSERT_EQ(s2, 200);
  EXPECT_EQ(verifier_->Verify(default_aud["value"].get<std::string>(),
                              {"octo/demo", ".github/workflows/wavebot-agent.yml", run_id})
                .error()
                .code(),
            ErrorCode::kUnauthenticated);
  // Discovery names the JWKS.
  auto disco = runner_->Get((sim_->oidc_issuer().substr(sim_->oidc_issuer().find('/', 7)) +
                             "/.well-known/openid-configuration").c_str());
  ASSERT_TRUE(disco && disco->status == 200);
  EXPECT_EQ(json::parse(disco->body)["jwks_uri"], github::JwksUrlOf(sim_->oidc_issuer()));
}

TEST_F(SimOidcTest, TheRequestTokenWorksForItsOwnJobWhileItRuns) {
  Dispatch("wavebot-agent.yml", Inputs("wb-1"));
  Dispatch("wavebot-agent.yml", Inputs("wb-2"));
  json a = Acquire("r1", {"self-hosted", "wavebot"});
  json b = Acquire("r2", {"self-hosted", "wavebot"});
  ASSERT_NE(a["id_token_request_token"], b["id_token_request_token"]);
  EXPECT_EQ(RequestToken(a["id_token_request_url"], b["id_token_request_token"], "x").first, 401);
  EXPECT_EQ(RequestToken(a["id_token_request_url"], "", "x").first, 401);
  EXPECT_EQ(RequestToken(a["id_token_request_url"], a["id_token_request_token"], "x").first, 200);
  auto done = runner_->Post("/_sim/runners/complete",
                            json{{"name", "r1"}, {"job_id", a["job_id"]}, {"conclusion", "success"}}.dump(),
                            "application/json");
  ASSERT_TRUE(done && done->status == 200);
  EXPECT_EQ(RequestToken(a["id_token_request_url"], a["id_token_request_token"], "x").first, 401);
  EXPECT_EQ(RequestToken(b["id_token_request_url"], b["id_token_request_token"], "x").first, 200);
}

TEST_F(SimOidcTest, OnlyAWorkflowOrJobGrantingIdTokenWriteGetsARequestToken) {
  Dispatch("plain.yml", {});
  json plain = Acquire("r1", {"self-hosted", "plain"});
  EXPECT_FALSE(plain.contains("id_token_request_url")) << plain.dump();
  EXPECT_FALSE(plain.contains("id_token_request_token"));
  EXPECT_EQ(RequestToken("http://x/_sim/actions/idtoken/" + std::to_string(plain["job_id"].get<int64_t>()) +
                             "?api-version=2.0",
                         "guess", "x")
                .first,
            401);
  Dispatch("jobperm.yml", {});
  json granted = Acquire("r2", {"self-hosted", "jobperm"});
  EXPECT_TRUE(granted.contains("id_token_request_url")) << granted.dump();
}

class SimOidcGhesTest : public SimOidcTest {
 protected:
  void SetUp() override {
    ghes_ = true;
    SimOidcTest::SetUp();
  }
};

TEST_F(SimOidcGhesTest, TheIssuerLivesAtTheHostRootAsOnEnterpriseServer) {
  EXPECT_EQ(sim_->oidc_issuer(), github::DefaultActionsOidcIssuer(sim_->api_url()));
  int64_t run_id = Dispatch("wavebot-agent.yml", Inputs("wb-1"));
  json job = Acquire("r1", {"self-hosted", "wavebot"});
  auto [status, answer] = RequestToken(job["id_token_request_url"], job["id_token_request_token"],
                                       "https%3A%2F%2Fwavebot.example.com");
  ASSERT_EQ(status, 200);
  auto claims = verifier_->Verify(answer["value"].get<std::string>(),
                                  {"octo/demo", ".github/workflows/wavebot-agent.yml", run_id});
  EXPECT_TRUE(claims.ok()) << claims.error().message();
}

}  // namespace
}  // namespace wavebot::testing
