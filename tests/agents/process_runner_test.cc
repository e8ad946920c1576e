#include "agents/process_runner.h"

#include <gtest/gtest.h>

#include <future>

#include "support/wait_util.h"
#include "git/test_util.h"

namespace wavebot::agents {
namespace {

namespace fs = std::filesystem;
using wavebot::testing::ProcessGone;
using wavebot::testing::ReadAll;
using wavebot::testing::TempDir;
using wavebot::testing::WaitFor;

ProcessSpec Shell(const std::string& script) {
  ProcessSpec s;
  s.args = {"/bin/sh", "-c", script};
  s.env = {{"PATH", "/usr/bin:/bin"}};
  return s;
}

TEST(ProcessRunnerTest, CapturesOutputExitCodeAndLog) {
  TempDir tmp;
  auto runner = NewProcessRunner(RealClock());
  ProcessSpec s = Shell("echo out; echo err >&2; pwd; exit 3");
  s.cwd = tmp.path();
  s.log_path = (tmp.Dir() / "log.txt").string();
  auto out = runner->Run(s);
  ASSERT_TRUE(out.ok()) << out.error().ToString();
  EXPECT_EQ(out->exit_code, 3);
  EXPECT_FALSE(out->timed_out);
  std::string log = ReadAll(s.log_path);
  EXPECT_NE(log.find("out\n"), std::string::npos);
  EXPECT_NE(log.find("err\n"), std::string::npos);
  EXPECT_NE(log.find(fs::canonical(tmp.path()).string()), std::string::npos);
  EXPECT_EQ(out->head, log);
}

TEST(ProcessRunnerTest, EnvironmentIsExactlyTheGivenOne) {
  auto runner = NewProcessRunner(RealClock());
  ProcessSpec s;
  s.args = {"env"};
  s.env = {{"PATH", "/usr/bin:/bin"}, {"ONLY", "this"}};
  setenv("WAVEBOT_TEST_LEAK", "leaked", 1);
  auto out = runner->Run(s);
  unsetenv("WAVEBOT_TEST_LEAK");
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->head, "ONLY=this\nPATH=/usr/bin:/bin\n");
}

TEST(ProcessRunnerTest, SecretsAreCensoredEvenWhenSplitAcrossWrites) {
  TempDir tmp;
  auto runner = NewProcessRunner(RealClock());
  ProcessSpec s = Shell("printf 'token=ghs_abc'; sleep 0.05; printf 'def123 end\\n'");
  s.secrets = {"ghs_abcdef123"};
  s.log_path = (tmp.Dir() / "log.txt").string();
  auto out = runner->Run(s);
  ASSERT_TRUE(out.ok());
  std::string log = ReadAll(s.log_path);
  EXPECT_EQ(log, "token=[REDACTED] end\n");
  EXPECT_EQ(out->tail.find("ghs_abcdef123"), std::string::npos);
}

TEST(ProcessRunnerTest, LogIsCappedButOutputIsCounted) {
  TempDir tmp;
  auto runner = NewProcessRunner(RealClock());
  ProcessSpec s = Shell("i=0; while [ $i -lt 2000 ]; do echo 'line of output number'; i=$((i+1)); done");
  s.log_path = (tmp.Dir() / "log.txt").string();
  s.max_log_bytes = 1000;
  auto out = runner->Run(s);
  ASSERT_TRUE(out.ok());
  EXPECT_TRUE(out->log_truncated);
  EXPECT_EQ(out->output_bytes, 2000 * 22);
  auto size = fs::file_size(s.log_path);
  EXPECT_LE(size, 1100u);
  EXPECT_NE(ReadAll(s.log_path).find("log truncated"), std::string::npos);
}

TEST(ProcessRunnerTest, TimeoutOnAFakeClockKillsTheGroup) {
  TempDir tmp;
  FakeClock clock;
  auto runner = NewProcessRunner(&clock);
  ProcessSpec s = Shell("echo started; sleep 1000");
  s.timeout = std::chrono::hours(1);
  s.log_path = (tmp.Dir() / "log.txt").string();
  auto fut = std::async(std::launch::async, [&] { return runner->Run(s); });
  ASSERT_TRUE(WaitFor([&] { return ReadAll(s.log_path).find("started") != std::string::npos; }));
  EXPECT_EQ(fut.wait_for(std::chrono::milliseconds(0)), std::future_status::timeout);  // still running
  clock.Advance(std::chrono::hours(2));
  auto out = fut.get();
  ASSERT_TRUE(out.ok());
  EXPECT_TRUE(out->timed_out);
  EXPECT_EQ(out->term_signal, SIGTERM);
  EXPECT_LT(out->duration, std::chrono::seconds(30));
}

TEST(ProcessRunnerTest, HungProcessAndItsGrandchildrenAreGoneAfterTheTimeout) {
  TempDir tmp;
  FakeClock clock;
  auto runner = NewProcessRunner(&clock);
  fs::path pids = tmp.Dir() / "pids";
  // The grandchild ignores SIGTERM: only the SIGKILL after the (real) grace period ends it. The pids
  // are written once each process is set up, so the test knows when to let the timeout pass.
  ProcessSpec s = Shell("sh -c 'trap \"\" TERM; echo $$ >> " + pids.string() + "; while :; do sleep 1; done' & "
                        "sleep 1000 & echo $! >> " + pids.string() + "; echo $$ >> " + pids.string() + "; wait");
  s.timeout = std::chrono::minutes(10);
  s.kill_grace = std::chrono::milliseconds(200);
  auto fut = std::async(std::launch::async, [&] { return runner->Run(s); });
  auto pid_list = [&] {
    std::vector<int> v;
    std::istringstream in(ReadAll(pids));
    for (int pid; in >> pid;) v.push_back(pid);
    return v;
  };
  ASSERT_TRUE(WaitFor([&] { return pid_list().size() == 3; }));
  clock.Advance(std::chrono::minutes(11));
  auto out = fut.get();
  ASSERT_TRUE(out.ok());
  EXPECT_TRUE(out->timed_out);
  for (int pid : pid_list()) {
    EXPECT_TRUE(WaitFor([pid] { return ProcessGone(pid); }, std::chrono::seconds(5))) << "pid " << pid << " survived";
  }
}

TEST(ProcessRunnerTest, BackgroundProcessesLeftBehindDieWithTheAgent) {
  TempDir tmp;
  auto runner = NewProcessRunner(RealClock());
  fs::path pidfile = tmp.Dir() / "pid";
  ProcessSpec s = Shell("sleep 1000 & echo $! > " + pidfile.string() + "; exit 0");
  auto out = runner->Run(s);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->exit_code, 0);
  int pid = std::stoi(ReadAll(pidfile));
  EXPECT_TRUE(WaitFor([pid] { return ProcessGone(pid); }, std::chrono::seconds(5)));
}

TEST(ProcessRunnerTest, CancelKillsTheRun) {
  TempDir tmp;
  auto runner = NewProcessRunner(RealClock());
  std::atomic<bool> cancel{false};
  ProcessSpec s = Shell("echo started; sleep 1000");
  s.cancel = &cancel;
  s.log_path = (tmp.Dir() / "log.txt").string();
  auto fut = std::async(std::launch::async, [&] { return runner->Run(s); });
  ASSERT_TRUE(WaitFor([&] { return ReadAll(s.log_path).find("started") != std::string::npos; }));
  cancel = true;
  auto out = fut.get();
  ASSERT_TRUE(out.ok());
  EXPECT_TRUE(out->cancelled);
  EXPECT_FALSE(out->timed_out);
}

TEST(ProcessRunnerTest, MissingProgramIsNotFound) {
  auto runner = NewProcessRunner(RealClock());
  ProcessSpec s;
  s.args = {"wavebot-no-such-agent"};
  s.env = {{"PATH", "/usr/bin:/bin"}};
  auto out = runner->Run(s);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.error().code(), ErrorCode::kNotFound);
  EXPECT_FALSE(runner->Run(ProcessSpec{}).ok());
}

}  // namespace
}  // namespace wavebot::agents
