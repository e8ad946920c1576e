// `wavebot actions-job` (the workflow's step) against a real wavebot API (ActionsExecutor + routes on
// loopback): refused claims, a run whose git remote is unreachable still delivers its result once, and
// the job leaves nothing in its work directory whatever happens.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>

#include "agents/actions_executor.h"
#include "agents/actions_routes.h"
#include "http/server.h"
#include "support/subprocess.h"

namespace wavebot::agents {
namespace {

namespace fs = std::filesystem;

class RecordingGateway final : public ActionsGateway {
 public:
  Status Dispatch(const std::string&, const std::string&, const std::string&,
                  const std::map<std::string, std::string>& inputs) override {
    std::lock_guard lock(mu);
    dispatched.push_back(inputs);
    return OkStatus();
  }
  Result<std::vector<ActionsJobStatus>> RecentJobs(const std::string&, const std::string&) override {
    return std::vector<ActionsJobStatus>{};
  }
  Result<std::string> JobLog(const std::string&, int64_t) override { return std::string(); }
  std::mutex mu;
  std::vector<std::map<std::string, std::string>> dispatched;
};

class ActionsJobTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("wavebot-actions-job-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_ / "work");
    ActionsExecutorOptions o;
    o.background = false;
    o.on_event = [this](const JobEvent& e) {
      std::lock_guard lock(mu_);
      events_.push_back(e);
    };
    exec_ = std::make_unique<ActionsExecutor>(o, &gw_, &clock_);
    server_ = http::NewServer({.host = "127.0.0.1", .port = 0});
    RegisterActionsRoutes(server_.get(), exec_.get());
    ASSERT_TRUE(server_->Start().ok());
  }
  void TearDown() override {
    server_->Stop();
    exec_.reset();
    fs::remove_all(dir_);
  }
  // Submits a rebase run of ticket 2 against a git remote nobody listens on; returns its dispatch inputs.
  std::map<std::string, std::string> Submit() {
    std::ofstream(dir_ / "prompt.md") << "the prompt of ticket 2\n";
    TicketJob j;
    j.id = "attempt-1";
    j.args = {"--repo", "http://127.0.0.1:1/acme/calc.git", "--ticket", "2", "--branch", "wave/1-e/2-t",
              "--base", "epic/1-e", "--mode", "rebase", "--attempt", "1", "--prompt-file", (dir_ / "prompt.md").string()};
    j.env = {{"WAVEBOT_TOKEN", "ghs_install_token_never_printed"}};
    EXPECT_TRUE(exec_->Submit(j).ok());
    std::lock_guard lock(gw_.mu);
    return gw_.dispatched.back();
  }
  testing::CommandResult Job(const std::string& dispatch_id, const std::string& token) {
    std::string env = token.empty() ? "env -u WAVEBOT_DISPATCH_TOKEN " : "env WAVEBOT_DISPATCH_TOKEN='" + token + "' ";
    return testing::RunShell(env + WAVEBOT_BINARY + " actions-job --api-url http://127.0.0.1:" +
                             std::to_string(server_->port()) + " --dispatch-id " + dispatch_id + " --work-dir " +
                             (dir_ / "work").string() + " --runner-name test-runner 2>&1");
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

  fs::path dir_;
  RecordingGateway gw_;
  FakeClock clock_;
  std::unique_ptr<ActionsExecutor> exec_;
  std::unique_ptr<http::Server> server_;
  std::mutex mu_;
  std::vector<JobEvent> events_;
};

TEST_F(ActionsJobTest, WithoutATokenItIsAUsageError) {
  auto r = Job("wb-1", "");
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_NE(r.out.find("WAVEBOT_DISPATCH_TOKEN"), std::string::npos) << r.out;
}

TEST_F(ActionsJobTest, RefusedClaimsFailClearlyAndLeaveNothing) {
  auto in = Submit();
  auto wrong = Job(in["dispatch_id"], "not-the-token");
  EXPECT_EQ(wrong.exit_code, 1) << wrong.out;
  EXPECT_NE(wrong.out.find("HTTP 401"), std::string::npos) << wrong.out;
  auto unknown = Job("wb-unknown", in["token"]);
  EXPECT_EQ(unknown.exit_code, 1) << unknown.out;
  EXPECT_NE(unknown.out.find("HTTP 404"), std::string::npos) << unknown.out;
  EXPECT_EQ(LeftInWork(), std::vector<std::string>{});
  EXPECT_TRUE(Finished().empty());
}

TEST_F(ActionsJobTest, AFailedRunStillDeliversItsResultOnceAndLeavesNothing) {
  auto in = Submit();
  auto r = Job(in["dispatch_id"], in["token"]);
  EXPECT_EQ(r.exit_code, 0) << r.out;  // the result was delivered; the run itself failed
  EXPECT_NE(r.out.find("result delivered"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("ghs_install_token_never_printed"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find(in["token"]), std::string::npos) << r.out;
  auto finished = Finished();
  ASSERT_EQ(finished.size(), 1u);
  EXPECT_EQ(finished[0].id, "attempt-1");
  EXPECT_EQ(finished[0].exit_code, 1);
  auto result = nlohmann::json::parse(finished[0].result_json);
  EXPECT_EQ(result["result"], "error");
  EXPECT_EQ(LeftInWork(), std::vector<std::string>{});
  // The token was single-use: a replay of the job is refused and changes nothing.
  auto replay = Job(in["dispatch_id"], in["token"]);
  EXPECT_EQ(replay.exit_code, 1) << replay.out;
  EXPECT_EQ(Finished().size(), 1u);
  EXPECT_EQ(LeftInWork(), std::vector<std::string>{});
}

}  // namespace
}  // namespace wavebot::agents
