#include "agents/local_executor.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <fstream>
#include <mutex>
#include <set>

#include "support/wait_util.h"
#include "git/test_util.h"

namespace wavebot::agents {
namespace {

namespace fs = std::filesystem;
using wavebot::testing::TempDir;
using wavebot::testing::WaitFor;

// Stands in for `wavebot run-ticket`: `<bin> run-ticket <behaviour> <id> --result-file F`.
constexpr char kFakeRunTicket[] = R"(#!/bin/sh
dir=$(dirname "$0")
behaviour=$2; id=$3; result=$5
case "$behaviour" in
  ok) ;;
  wait) while [ ! -e "$dir/release" ]; do sleep 0.02; done ;;
  crash) kill -SEGV $$ ;;
  hang) touch "$dir/$id.started"; sleep 1000 ;;
  token) tok=$(cat); inenv=$(env | grep -c ghs_); printf '{"result":"done","token":"%s","in_env":%s,"flag":"%s"}\n' "$tok" "$inenv" "$6" > "$result"; exit 0 ;;
esac
printf '{"result":"done","id":"%s"}\n' "$id" > "$result"
exit 0
)";

class LocalExecutorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    bin_ = tmp_.Dir() / "fake-wavebot";
    std::ofstream(bin_) << kFakeRunTicket;
    fs::permissions(bin_, fs::perms::owner_all);
    runner_ = NewProcessRunner(RealClock());
  }

  std::unique_ptr<LocalExecutor> Make(int max_parallel) {
    LocalExecutorOptions o;
    o.binary = bin_.string();
    o.max_parallel = max_parallel;
    o.work_dir = tmp_.path();
    o.on_event = [this](const JobEvent& e) {
      std::lock_guard lock(mu_);
      events_.push_back(e);
      if (e.state == JobEvent::State::kRunning) max_running_ = std::max(max_running_, ++running_);
      if (e.state == JobEvent::State::kFinished || (e.state == JobEvent::State::kCancelled && started_.count(e.id)))
        --running_;
      if (e.state == JobEvent::State::kRunning) started_.insert(e.id);
    };
    return std::make_unique<LocalExecutor>(o, runner_.get());
  }

  TicketJob Job(const std::string& behaviour, const std::string& id) {
    return {id, {behaviour, id}, {{"PATH", "/usr/bin:/bin"}}, "ghs_executor_token"};
  }

  std::vector<JobEvent> Events(JobEvent::State state) {
    std::lock_guard lock(mu_);
    std::vector<JobEvent> out;
    for (const auto& e : events_) {
      if (e.state == state) out.push_back(e);
    }
    return out;
  }
  int Running() {
    std::lock_guard lock(mu_);
    return running_;
  }

  TempDir tmp_;
  fs::path bin_;
  std::unique_ptr<ProcessRunner> runner_;
  std::mutex mu_;
  std::vector<JobEvent> events_;
  std::set<std::string> started_;
  int running_ = 0, max_running_ = 0;
};

// The run's git token reaches run-ticket on its stdin (with --token-stdin), in no environment.
TEST_F(LocalExecutorTest, TheTokenGoesOnStdinNotInTheEnvironment) {
  auto ex = Make(1);
  ASSERT_TRUE(ex->Submit(Job("token", "t1")).ok());
  ASSERT_TRUE(WaitFor([&] { return Events(JobEvent::State::kFinished).size() == 1; }, std::chrono::seconds(30)));
  auto r = nlohmann::json::parse(Events(JobEvent::State::kFinished)[0].result_json);
  EXPECT_EQ(r["token"], "ghs_executor_token");
  EXPECT_EQ(r["in_env"], 0);
  EXPECT_EQ(r["flag"], "--token-stdin");
}

TEST_F(LocalExecutorTest, RunsAtMostMaxParallelAndQueuesTheRest) {
  auto ex = Make(2);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(ex->Submit(Job("wait", "j" + std::to_string(i))).ok());
  EXPECT_FALSE(ex->Submit(Job("wait", "j0")).ok());  // duplicate id
  ASSERT_TRUE(WaitFor([&] { return Running() == 2; }));
  EXPECT_EQ(ex->Pending(), 5);
  std::ofstream(tmp_.Dir() / "release") << "";
  ASSERT_TRUE(WaitFor([&] { return Events(JobEvent::State::kFinished).size() == 5; }, std::chrono::seconds(20)));
  EXPECT_EQ(max_running_, 2);
  for (const auto& e : Events(JobEvent::State::kFinished)) {
    EXPECT_EQ(e.exit_code, 0);
    EXPECT_NE(e.result_json.find("\"id\":\"" + e.id + "\""), std::string::npos);
  }
  EXPECT_EQ(ex->Pending(), 0);
}

TEST_F(LocalExecutorTest, SurvivesACrashingChild) {
  auto ex = Make(1);
  ASSERT_TRUE(ex->Submit(Job("crash", "bad")).ok());
  ASSERT_TRUE(ex->Submit(Job("ok", "good")).ok());
  ASSERT_TRUE(WaitFor([&] { return Events(JobEvent::State::kFinished).size() == 2; }));
  auto done = Events(JobEvent::State::kFinished);
  EXPECT_EQ(done[0].id, "bad");
  EXPECT_EQ(done[0].signal, SIGSEGV);
  EXPECT_TRUE(done[0].result_json.empty());
  EXPECT_EQ(done[1].id, "good");
  EXPECT_EQ(done[1].exit_code, 0);
}

TEST_F(LocalExecutorTest, CancelsQueuedAndRunningJobs) {
  auto ex = Make(1);
  ASSERT_TRUE(ex->Submit(Job("hang", "h")).ok());
  ASSERT_TRUE(ex->Submit(Job("ok", "queued")).ok());
  ASSERT_TRUE(WaitFor([&] { return fs::exists(tmp_.Dir() / "h.started"); }));
  ASSERT_TRUE(ex->Cancel("queued").ok());
  ASSERT_TRUE(ex->Cancel("h").ok());
  ASSERT_TRUE(WaitFor([&] { return Events(JobEvent::State::kCancelled).size() == 2; }));
  EXPECT_TRUE(Events(JobEvent::State::kFinished).empty());
  EXPECT_EQ(ex->Cancel("nope").error().code(), ErrorCode::kNotFound);
  ASSERT_TRUE(WaitFor([&] { return ex->Pending() == 0; }));
}

}  // namespace
}  // namespace wavebot::agents
