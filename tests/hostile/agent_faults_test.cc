// Misbehaving agents under `RunTicket` (what `wavebot run-ticket` runs): each ends in a clear outcome
// with a reason, and the runner is left clean: no process of the agent's group survives and the
// workspace's worktree pool serves the next run. Complements tests/agents/run_ticket_test.cc (hung,
// crashing, never-changing, git-tampering agents), listed together in docs/reliability.md.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "hostile/hostile_agent_fixture.h"

namespace wavebot::agents {
namespace {

namespace fs = std::filesystem;
using wavebot::testing::kToken;

using AgentFaultsTest = HostileAgentFixture;

TEST_F(AgentFaultsTest, OutputFloodIsCappedInTheLogAndTheRunEndsNormally) {
  auto req = Script(21, "head -c 67108864 /dev/zero | tr '\\0' 'x' | fold -w 100; echo done > out.txt");
  req.agent.max_log_bytes = 1 << 20;
  auto r = Run(req);
  EXPECT_EQ(r.outcome, Outcome::kDone) << r.reason;  // 64 MiB of output is not a failure by itself
  EXPECT_LE(fs::file_size(r.log_path), (1u << 20) + 4096u) << "the log grew past its cap";
  EXPECT_LE(r.log_tail.size(), 64u * 1024u);
  ExpectNextRunWorks(22);
}

TEST_F(AgentFaultsTest, DeletingGitIsAFailedRunAndThePoolRecovers) {
  auto r = Run(Script(23, "echo x > x.txt; rm -rf .git"));
  EXPECT_EQ(r.outcome, Outcome::kAgentFailed) << r.reason;
  EXPECT_FALSE(r.reason.empty());
  EXPECT_EQ(RemoteSha("wave/1-epic/23-t"), "");
  // The same ticket again (its worktree is the damaged one), then another ticket.
  auto again = Run(Script(23, "echo y > y.txt"));
  EXPECT_EQ(again.outcome, Outcome::kDone) << again.reason;
  ExpectNextRunWorks(24);
}

TEST_F(AgentFaultsTest, DeletingTheSharedRepositoryThroughGitdirIsAFailedRunAndThePoolRecovers) {
  // A worktree's .git file names the shared repository: an agent that follows it can delete objects.
  auto r = Run(Script(25, "echo x > x.txt; d=$(git rev-parse --git-common-dir) && rm -rf \"$d/refs\" \"$d/HEAD\""));
  EXPECT_NE(r.outcome, Outcome::kDone) << r.reason;
  EXPECT_FALSE(r.reason.empty());
  EXPECT_EQ(RemoteSha("wave/1-epic/25-t"), "");
  ExpectNextRunWorks(26);
}

TEST_F(AgentFaultsTest, DiskFillingAgentIsStoppedAtTheFileSizeCap) {
  auto req = Script(27, "head -c 67108864 /dev/zero > big.bin; echo wrote $? > status.txt");
  req.agent.max_file_bytes = 4 << 20;
  auto r = Run(req);
  EXPECT_EQ(r.outcome, Outcome::kAgentFailed) << r.reason;
  EXPECT_NE(r.reason.find("file size limit"), std::string::npos) << r.reason;
  EXPECT_EQ(RemoteSha("wave/1-epic/27-t"), "");
  ExpectNextRunWorks(28);
}

TEST_F(AgentFaultsTest, AgentThatNeverCommitsHasItsWorkCommittedOrIsNoChanges) {
  // Writes files and exits without committing: wavebot commits and pushes them.
  auto wrote = Run(Script(29, "mkdir -p src && echo ok > src/new.c"));
  EXPECT_EQ(wrote.outcome, Outcome::kDone) << wrote.reason;
  EXPECT_EQ(wrote.changed_files, (std::vector<std::string>{"A src/new.c"}));
  // Does nothing at all: no changes, nothing pushed.
  auto idle = Run(Script(30, "true"));
  EXPECT_EQ(idle.outcome, Outcome::kNoChanges) << idle.reason;
  EXPECT_EQ(RemoteSha("wave/1-epic/30-t"), "");
}

}  // namespace
}  // namespace wavebot::agents
