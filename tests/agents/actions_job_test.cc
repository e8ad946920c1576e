// `wavebot actions-job` (the workflow's step) against a real wavebot API (ActionsExecutor + routes on
// loopback, claims checked by the real OIDC verifier) and a fake GitHub token service on loopback (what
// ACTIONS_ID_TOKEN_REQUEST_URL points at on a runner): a job without OIDC is a usage error, refused
// claims fail clearly, a run whose git remote is unreachable still delivers its result once, and the
// job leaves nothing in its work directory whatever happens.
#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "agents/actions_executor.h"
#include "agents/actions_routes.h"
#include "github/actions_oidc.h"
#include "github/jwt.h"
#include "http/server.h"
#include "support/raw_http_server.h"
#include "support/subprocess.h"
#include "support/wait_util.h"

namespace wavebot::agents {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr const char* kIssuer = "https://token.actions.test";
constexpr int64_t kRunId = 555;

class RecordingGateway final : public ActionsGateway {
 public:
  Result<int64_t> Dispatch(const std::string&, const std::string&, const std::string&,
                           const std::map<std::string, std::string>& inputs) override {
    std::lock_guard lock(mu);
    dispatched.push_back(inputs);
    return kRunId;
  }
  Result<std::vector<ActionsJobStatus>> RunJobs(const std::string&, int64_t) override {
    return std::vector<ActionsJobStatus>{};
  }
  Result<std::string> JobLog(const std::string&, int64_t) override { return std::string(); }
  std::mutex mu;
  std::vector<std::map<std::string, std::string>> dispatched;
};

const std::shared_ptr<github::PrivateKey>& IssuerKey() {
  static std::shared_ptr<github::PrivateKey> key = *github::PrivateKey::Generate();
  return key;
}

class StaticJwks final : public github::JwksSource {
 public:
  Result<std::string> Fetch() override { return github::JwksOf(*IssuerKey(), "k1"); }
};

// GitHub's side of a runner's job: GET /idtoken?api-version=2.0&audience=... with the job's request
// token answers the job's OIDC token, for run `run_id` of acme/calc's agent workflow.
class TokenService {
 public:
  explicit TokenService(Clock* clock) : clock_(clock) {
    server_.Get("/idtoken", [this](const httplib::Request& req, httplib::Response& res) {
      if (req.get_header_value("Authorization") != "bearer " + std::string(kRequestToken)) {
        res.status = 401;
        res.set_content(R"({"message":"Bad credentials"})", "application/json");
        return;
      }
      int64_t now = std::chrono::duration_cast<std::chrono::seconds>(clock_->Now().time_since_epoch()).count();
      json claims = {{"iss", kIssuer},
                     {"aud", req.get_param_value("audience")},
                     {"repository", "acme/calc"},
                     {"workflow_ref", "acme/calc/.github/workflows/wavebot-agent.yml@refs/heads/epic/1-e"},
                     {"event_name", "workflow_dispatch"},
                     {"run_id", std::to_string(run_id.load())},
                     {"iat", now},
                     {"nbf", now - 5},
                     {"exp", now + 300}};
      auto jwt = github::SignJwtRs256(*IssuerKey(), R"({"alg":"RS256","typ":"JWT","kid":"k1"})", claims.dump());
      res.set_content(json{{"value", *jwt}}.dump(), "application/json");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  ~TokenService() {
    server_.stop();
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/idtoken?api-version=2.0"; }
  static constexpr const char* kRequestToken = "oidc-request-token-of-this-job";
  std::atomic<int64_t> run_id{kRunId};

 private:
  Clock* clock_;
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
};

class ActionsJobTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("wavebot-actions-job-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_ / "work");
    ActionsExecutorOptions o;
    o.linger = linger_;
    o.background = false;
    o.alive_interval = std::chrono::seconds(1);
    o.verify_claim = [this](const std::string& credential, const ClaimBinding& b) -> Status {
      auto claims = verifier_->Verify(credential, {b.repo, b.workflow, b.run_id});
      if (!claims.ok()) return claims.error();
      return OkStatus();
    };
    o.on_event = [this](const JobEvent& e) {
      std::lock_guard lock(mu_);
      events_.push_back(e);
    };
    exec_ = std::make_unique<ActionsExecutor>(o, &gw_, &clock_);
    server_ = http::NewServer({.host = "127.0.0.1", .port = 0});
    RegisterActionsRoutes(server_.get(), exec_.get());
    ASSERT_TRUE(server_->Start().ok());
    // wavebot expects its own URL as the audience (what actions-job asks for by default).
    github::OidcVerifierOptions vo;
    vo.issuer = kIssuer;
    vo.audience = "http://127.0.0.1:" + std::to_string(server_->port());
    verifier_ = std::make_unique<github::ActionsOidcVerifier>(vo, &jwks_, &clock_);
  }
  void TearDown() override {
    exec_->EndWaits();
    server_->Stop();
    exec_.reset();
    fs::remove_all(dir_);
  }
  // Submits a rebase run of ticket 2 against a git remote nobody listens on; returns its dispatch inputs.
  std::map<std::string, std::string> Submit(const std::string& remote = "http://127.0.0.1:1/acme/calc.git",
                                            const std::string& id = "attempt-1") {
    std::ofstream(dir_ / "prompt.md") << "the prompt of ticket 2\n";
    TicketJob j;
    j.id = id;
    j.args = {"--repo",        remote,
              "--ticket",      "2",
              "--branch",      "wave/1-e/2-t",
              "--base",        "epic/1-e",
              "--mode",        "rebase",
              "--attempt",     "1",
              "--prompt-file", (dir_ / "prompt.md").string()};
    j.git_token = "ghs_install_token_never_printed";
    EXPECT_TRUE(exec_->Submit(j).ok());
    std::lock_guard lock(gw_.mu);
    return gw_.dispatched.back();
  }
  // Runs the job as a runner would: with the job's OIDC request URL and token (none when `request_token`
  // is empty). `via`: a URL in front of wavebot the job talks to instead (its tokens still name wavebot).
  testing::CommandResult Job(const std::string& dispatch_id, const std::string& request_token,
                             const std::string& more_args = "", const std::string& via = "") {
    std::string env = request_token.empty() ? "env -u ACTIONS_ID_TOKEN_REQUEST_URL -u ACTIONS_ID_TOKEN_REQUEST_TOKEN "
                                            : "env ACTIONS_ID_TOKEN_REQUEST_URL='" + tokens_.url() +
                                                  "' ACTIONS_ID_TOKEN_REQUEST_TOKEN='" + request_token + "' ";
    const std::string wavebot = "http://127.0.0.1:" + std::to_string(server_->port());
    return testing::RunShell(env + WAVEBOT_BINARY + " actions-job --api-url " +
                             (via.empty() ? wavebot : via) + (via.empty() ? "" : " --audience " + wavebot) +
                             " --dispatch-id " + dispatch_id + " --work-dir " + (dir_ / "work").string() +
                             " --runner-name test-runner " + more_args + " 2>&1");
  }
  std::vector<std::string> LeftInWork() {
    std::vector<std::string> out;
    for (const auto& e : fs::recursive_directory_iterator(dir_ / "work")) out.push_back(e.path().string());
    return out;
  }
  std::vector<JobEvent> Finished() {
    std::lock_guard lock(mu_);
    std::vector<JobEvent> out;
    for (const auto& e : events_) {
      if (e.state == JobEvent::State::kFinished) out.push_back(e);
    }
    return out;
  }

  std::chrono::seconds linger_{0};  // executor.linger
  fs::path dir_;
  RecordingGateway gw_;
  FakeClock clock_;
  StaticJwks jwks_;
  TokenService tokens_{&clock_};
  std::unique_ptr<github::ActionsOidcVerifier> verifier_;
  std::unique_ptr<ActionsExecutor> exec_;
  std::unique_ptr<http::Server> server_;
  std::mutex mu_;
  std::vector<JobEvent> events_;
};

TEST_F(ActionsJobTest, WithoutOidcItIsAUsageErrorNamingThePermission) {
  auto r = Job("wb-1", "");
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_NE(r.out.find("id-token: write"), std::string::npos) << r.out;
}

TEST_F(ActionsJobTest, RefusedClaimsFailClearlyAndLeaveNothing) {
  auto in = Submit();
  EXPECT_EQ(in.count("token"), 0u);
  // GitHub refuses a wrong request token.
  auto wrong = Job(in["dispatch_id"], "not-the-request-token");
  EXPECT_EQ(wrong.exit_code, 1) << wrong.out;
  EXPECT_NE(wrong.out.find("OIDC token request (HTTP 401)"), std::string::npos) << wrong.out;
  // A token of another run: wavebot refuses the claim.
  tokens_.run_id = kRunId + 1;
  auto other = Job(in["dispatch_id"], TokenService::kRequestToken);
  EXPECT_EQ(other.exit_code, 1) << other.out;
  EXPECT_NE(other.out.find("HTTP 403"), std::string::npos) << other.out;
  EXPECT_NE(other.out.find("not to run 555"), std::string::npos) << other.out;
  tokens_.run_id = kRunId;
  auto unknown = Job("wb-unknown", TokenService::kRequestToken);
  EXPECT_EQ(unknown.exit_code, 1) << unknown.out;
  EXPECT_NE(unknown.out.find("HTTP 404"), std::string::npos) << unknown.out;
  EXPECT_EQ(LeftInWork(), std::vector<std::string>{});
  EXPECT_TRUE(Finished().empty());
}

TEST_F(ActionsJobTest, AFailedRunStillDeliversItsResultOnceAndLeavesNothing) {
  auto in = Submit();
  auto r = Job(in["dispatch_id"], TokenService::kRequestToken);
  EXPECT_EQ(r.exit_code, 0) << r.out;  // the result was delivered; the run itself failed
  EXPECT_NE(r.out.find("result delivered"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("ghs_install_token_never_printed"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find(TokenService::kRequestToken), std::string::npos) << r.out;
  auto finished = Finished();
  ASSERT_EQ(finished.size(), 1u);
  EXPECT_EQ(finished[0].id, "attempt-1");
  EXPECT_EQ(finished[0].exit_code, 1);
  auto result = nlohmann::json::parse(finished[0].result_json);
  EXPECT_EQ(result["result"], "error");
  EXPECT_EQ(LeftInWork(), std::vector<std::string>{});
  // A claim works once: a replay of the job (a fresh, valid token of the same run) is refused (the run
  // is over) and changes nothing.
  auto replay = Job(in["dispatch_id"], TokenService::kRequestToken);
  EXPECT_EQ(replay.exit_code, 1) << replay.out;
  EXPECT_NE(replay.out.find("HTTP 404"), std::string::npos) << replay.out;
  EXPECT_EQ(Finished().size(), 1u);
  EXPECT_EQ(LeftInWork(), std::vector<std::string>{});
}

// While the run goes on, the job tells wavebot it is alive (so wavebot need not ask GitHub about it),
// with the claim's result token, which that does not use up: the result is still delivered once.
TEST_F(ActionsJobTest, AJobSaysItIsAliveWhileItsRunGoesOn) {
  // A git server that takes the run's fetch and answers nothing until it stops: the run goes on.
  auto git = std::make_unique<testing::RawHttpServer>([](const testing::RawRequest&) {
    testing::RawAnswer a;
    a.hang = true;
    return a;
  });
  auto in = Submit(git->url() + "/acme/calc.git");
  testing::CommandResult r;
  std::thread job([&] { r = Job(in["dispatch_id"], TokenService::kRequestToken); });
  const bool heard = testing::WaitFor([&] { return exec_->AliveCalls() >= 2; }, std::chrono::seconds(30));
  git.reset();  // the fetch fails: the run ends and its result is posted
  job.join();
  EXPECT_TRUE(heard) << r.out;
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("result delivered"), std::string::npos) << r.out;
  EXPECT_EQ(Finished().size(), 1u);
  EXPECT_EQ(LeftInWork(), std::vector<std::string>{});
}

// A proxy between the job and wavebot (the real routes) that forwards every request but does to the
// first result what `first_result` says: answer 502 without forwarding it, or forward it and drop the
// connection before the answer.
class ResultProxy {
 public:
  enum class First { k502, kLostAnswer };
  ResultProxy(int wavebot_port, First first)
      : upstream_("127.0.0.1", wavebot_port),
        server_([this, first](const testing::RawRequest& r) { return Forward(r, first); }) {}
  std::string url() const { return server_.url(); }
  int results() const { return results_; }

 private:
  testing::RawAnswer Forward(const testing::RawRequest& r, First first) {
    const bool result = r.path.size() > 7 && r.path.compare(r.path.size() - 7, 7, "/result") == 0;
    const bool first_result = result && results_++ == 0;
    testing::RawAnswer a;
    if (first_result && first == First::k502) {
      a.bytes = "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n";
      return a;
    }
    httplib::Headers headers;
    for (const auto& [k, v] : r.headers) {
      if (k == "authorization" || k == "x-wavebot-runner") headers.emplace(k, v);
    }
    std::lock_guard lock(mu_);
    auto res = r.method == "GET" ? upstream_.Get(r.path.c_str(), headers)
                                 : upstream_.Post(r.path.c_str(), headers, r.body, "application/json");
    if (first_result && first == First::kLostAnswer) {
      a.drop = true;  // carried out, never answered
      return a;
    }
    if (!res) {
      a.bytes = "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n";
      return a;
    }
    a.bytes = "HTTP/1.1 " + std::to_string(res->status) +
              " X\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(res->body.size()) +
              "\r\n\r\n" + res->body;
    return a;
  }

  std::mutex mu_;
  httplib::Client upstream_;
  std::atomic<int> results_{0};
  testing::RawHttpServer server_;
};

// wavebot cannot take the result at first (its proxy answers 502 while it restarts): the job posts it
// again, and it is delivered once.
TEST_F(ActionsJobTest, AResultRefusedByAGatewayIsPostedAgainAndDeliveredOnce) {
  auto in = Submit();
  ResultProxy proxy(server_->port(), ResultProxy::First::k502);
  auto r = Job(in["dispatch_id"], TokenService::kRequestToken, "", proxy.url());
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("posting the result failed (HTTP 502); again in 1 s"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("result delivered"), std::string::npos) << r.out;
  EXPECT_EQ(proxy.results(), 2);
  EXPECT_EQ(Finished().size(), 1u);
  EXPECT_EQ(LeftInWork(), std::vector<std::string>{});
}

// The result reached wavebot but its answer was lost: the job posts it again, wavebot no longer knows the
// dispatch (its token is used up), and the job ends as one whose result is in. Applied once.
TEST_F(ActionsJobTest, AResultWhoseAnswerWasLostIsAppliedOnceAndTheJobEndsCleanly) {
  auto in = Submit();
  ResultProxy proxy(server_->port(), ResultProxy::First::kLostAnswer);
  auto r = Job(in["dispatch_id"], TokenService::kRequestToken, "", proxy.url());
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("wavebot no longer knows the dispatch"), std::string::npos) << r.out;
  EXPECT_EQ(proxy.results(), 2);
  EXPECT_EQ(Finished().size(), 1u);
  EXPECT_EQ(LeftInWork(), std::vector<std::string>{});
}

// With executor.linger, a job that delivered its result asks for another run and waits: a run submitted
// meanwhile is its own without a dispatch, in a fresh directory again; the job ends, having delivered
// both results, when wavebot ends its wait.
class ActionsJobLingerTest : public ActionsJobTest {
 protected:
  ActionsJobLingerTest() { linger_ = std::chrono::seconds(600); }
};

TEST_F(ActionsJobLingerTest, AJobTakesTheNextRunAfterItsResultAndEndsWhenNoneComes) {
  auto in = Submit();
  testing::CommandResult r;
  std::atomic<bool> ended{false};
  std::thread job([&] {
    r = Job(in["dispatch_id"], TokenService::kRequestToken);
    ended = true;
  });
  EXPECT_TRUE(testing::WaitFor([&] { return Finished().size() == 1 && exec_->WaitingJobs() == 1; },
                               std::chrono::seconds(60)));
  EXPECT_EQ(LeftInWork(), std::vector<std::string>{});  // nothing of the first run is left for the second
  Submit("http://127.0.0.1:1/acme/calc.git", "attempt-2");
  EXPECT_TRUE(testing::WaitFor([&] { return Finished().size() == 2 && exec_->WaitingJobs() == 1; },
                               std::chrono::seconds(60)));
  exec_->EndWaits();
  EXPECT_TRUE(testing::WaitFor([&] { return ended.load(); }, std::chrono::seconds(30)));
  job.join();
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("done after 2 run(s)"), std::string::npos) << r.out;
  {
    std::lock_guard lock(gw_.mu);
    EXPECT_EQ(gw_.dispatched.size(), 1u);
  }
  auto finished = Finished();
  ASSERT_EQ(finished.size(), 2u);
  EXPECT_EQ(finished[0].id, "attempt-1");
  EXPECT_EQ(finished[1].id, "attempt-2");
  EXPECT_EQ(r.out.find("ghs_install_token_never_printed"), std::string::npos) << r.out;
  EXPECT_EQ(LeftInWork(), std::vector<std::string>{});
}

// A job that has run for --max-job-minutes asks for no further run (the workflow's timeout-minutes would
// cut a run short): it ends after its result, offered a next run or not.
TEST_F(ActionsJobLingerTest, AJobPastItsMaxMinutesAsksForNoFurtherRun) {
  auto in = Submit();
  testing::CommandResult r;
  std::atomic<bool> ended{false};
  std::thread job([&] {
    r = Job(in["dispatch_id"], TokenService::kRequestToken, "--max-job-minutes 0");
    ended = true;
  });
  // It ends by itself, long before the linger; a job that waited is let go after the deadline.
  const bool by_itself = testing::WaitFor([&] { return ended.load(); }, std::chrono::seconds(60));
  exec_->EndWaits();
  job.join();
  EXPECT_TRUE(by_itself);
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("result delivered"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("asking for another run"), std::string::npos) << r.out;
  EXPECT_EQ(Finished().size(), 1u);
  EXPECT_EQ(exec_->WaitingJobs(), 0);
  EXPECT_EQ(LeftInWork(), std::vector<std::string>{});
}

}  // namespace
}  // namespace wavebot::agents
