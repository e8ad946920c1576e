#include "git/workspace.h"

#include <gtest/gtest.h>

#include <fstream>
#include <future>
#include <latch>
#include <set>
#include <thread>

#include "git/file_lock.h"
#include "git/git_fixture.h"
#include "git/ref_names.h"

namespace wavebot::git {
namespace {

namespace fs = std::filesystem;
using wavebot::testing::kToken;
using wavebot::testing::RunShell;
using wavebot::testing::ShellOutput;

void WriteFile(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << text;
}

class WorkspaceTest : public wavebot::testing::GitServerFixture {
 protected:
  WorkspaceOptions Options(const std::string& token = kToken) {
    WorkspaceOptions o;
    o.data_dir = data_.string();
    o.repo_key = "octo/demo";
    o.remote_url = remote_url_;
    o.token = token;
    return o;
  }
  std::unique_ptr<Workspace> Open(WorkspaceOptions o) {
    auto ws = OpenWorkspace(o);
    EXPECT_TRUE(ws.ok()) << ws.error().ToString();
    return ws.ok() ? std::move(*ws) : nullptr;
  }
  TicketSpec Spec(int64_t n) {
    TicketSpec s;
    s.ticket = n;
    s.branch = "wave/1-epic/" + std::to_string(n) + "-ticket";
    s.base_branch = "main";
    return s;
  }
};

TEST_F(WorkspaceTest, AcquireCommitPushWithToken) {
  auto ws = Open(Options());
  auto wt = ws->Acquire(Spec(7));
  ASSERT_TRUE(wt.ok()) << wt.error().ToString();
  auto& t = **wt;
  EXPECT_FALSE(t.reused());
  EXPECT_TRUE(fs::exists(fs::path(t.path()) / "README.md"));
  EXPECT_EQ(t.start_sha(), t.base_sha());
  EXPECT_EQ(t.base_sha(), RemoteSha("main"));
  WriteFile(fs::path(t.path()) / "feature.txt", "feature\n");
  fs::remove(fs::path(t.path()) / "README.md");
  auto head = t.CommitAll("Implement ticket 7");
  ASSERT_TRUE(head.ok()) << head.error().ToString();
  EXPECT_NE(*head, t.start_sha());
  auto changed = t.ChangedFiles();
  ASSERT_TRUE(changed.ok());
  ASSERT_EQ(changed->size(), 2u);
  ASSERT_TRUE(t.VerifyIntegrity(false).ok());
  ASSERT_TRUE(t.Push().ok());
  EXPECT_EQ(RemoteSha("wave/1-epic/7-ticket"), *head);
  std::string msg = ShellOutput("git -C " + t.path() + " log -1 --format='%an <%ae>|%B'");
  EXPECT_NE(msg.find("wavebot[bot] <wavebot[bot]@users.noreply.github.com>|Implement ticket 7"), std::string::npos);
  EXPECT_NE(msg.find("Wavebot-Ticket: #7"), std::string::npos);
  // Nothing left to commit: the head stays.
  auto again = t.CommitAll("again");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, *head);
  // The token is written nowhere under the data directory.
  EXPECT_NE(RunShell("grep -rq '" + std::string(kToken) + "' " + data_.string()), 0);
}

TEST_F(WorkspaceTest, AgentsOwnCommitsAreKept) {
  auto ws = Open(Options());
  auto wt = ws->Acquire(Spec(8));
  ASSERT_TRUE(wt.ok());
  std::string p = (*wt)->path();
  ASSERT_EQ(RunShell("cd " + p + " && echo a > a.txt && git add a.txt && git -c user.name=Agent -c "
                     "user.email=agent@x commit -qm 'agent commit'"), 0);
  WriteFile(fs::path(p) / "b.txt", "b\n");
  ASSERT_TRUE((*wt)->CommitAll("Leftovers").ok());
  EXPECT_EQ(ShellOutput("git -C " + p + " log --format=%s " + (*wt)->start_sha() + "..HEAD"),
            "Leftovers\nagent commit");
}

// A process killed while git wrote the mirror's configuration or a remote-tracking ref leaves git's lock
// file behind; the next process to open the workspace (holding mirror.lock) removes it instead of
// failing every write after ("failed to lock file ... config.lock"), as the kill -9 chaos test found.
TEST_F(WorkspaceTest, LockFilesLeftByAKilledProcessAreCleared) {
  {
    auto ws = Open(Options());
    ASSERT_TRUE(ws->Acquire(Spec(31)).ok());
  }
  const fs::path mirror = data_ / "git" / "octo" / "demo" / "mirror.git";
  ASSERT_EQ(RunShell("git --git-dir=" + mirror.string() + " remote remove origin"), 0);
  WriteFile(mirror / "config.lock", "[remote \"origin\"]\n");
  WriteFile(mirror / "refs" / "remotes" / "origin" / "main.lock", "0000\n");
  auto ws = Open(Options());  // creates the remote again: needs the configuration
  ASSERT_NE(ws, nullptr);
  auto wt = ws->Acquire(Spec(32));  // fetches: updates refs/remotes/origin/main
  ASSERT_TRUE(wt.ok()) << wt.error().ToString();
  EXPECT_FALSE(fs::exists(mirror / "config.lock"));
  EXPECT_FALSE(fs::exists(mirror / "refs" / "remotes" / "origin" / "main.lock"));
}

// A process killed while libgit2 created the mirror leaves it without HEAD and with HEAD.lock, which
// failed every later init ("init mirror: failed to lock file ... HEAD.lock"), every run of the epic with
// it, as the kill -9 chaos test found. The next process to open the workspace clears the lock and completes
// it.
TEST_F(WorkspaceTest, AMirrorWhoseCreationWasKilledIsCompleted) {
  const fs::path mirror = data_ / "git" / "octo" / "demo" / "mirror.git";
  fs::create_directories(mirror / "refs" / "heads");
  fs::create_directories(mirror / "objects");
  WriteFile(mirror / "config", "[core]\n\tbare = true\n");
  WriteFile(mirror / "HEAD.lock", "");
  auto ws = Open(Options());
  ASSERT_NE(ws, nullptr);
  auto wt = ws->Acquire(Spec(33));
  ASSERT_TRUE(wt.ok()) << wt.error().ToString();
  EXPECT_EQ((*wt)->base_sha(), RemoteSha("main"));
  EXPECT_TRUE(fs::exists(mirror / "HEAD"));
  EXPECT_FALSE(fs::exists(mirror / "HEAD.lock"));
}

// A run killed while its commit moved the ticket branch (kill -9, the OOM killer, a power cut) leaves
// the branch's lock file in the mirror. The next run of the ticket, finding the branch checked out by no
// worktree, removes it instead of failing on it ("create branch ...: failed to lock file") for good.
TEST_F(WorkspaceTest, ABranchLockLeftByAKilledRunIsClearedByTheTicketsNextRun) {
  auto ws = Open(Options());
  const TicketSpec s34 = Spec(34);
  {
    auto wt = ws->Acquire(s34);
    ASSERT_TRUE(wt.ok()) << wt.error().ToString();
  }
  const fs::path lock =
      data_ / "git" / "octo" / "demo" / "mirror.git" / "refs" / "heads" / (s34.branch + ".lock");
  WriteFile(lock, "0000000000000000000000000000000000000000\n");
  auto wt = ws->Acquire(s34);
  ASSERT_TRUE(wt.ok()) << wt.error().ToString();
  WriteFile(fs::path((*wt)->path()) / "x.txt", "x\n");
  auto head = (*wt)->CommitAll("x");
  ASSERT_TRUE(head.ok()) << head.error().ToString();
  ASSERT_TRUE((*wt)->Push().ok());
  EXPECT_EQ(RemoteSha(s34.branch), *head);
  EXPECT_FALSE(fs::exists(lock));
}

// A run killed while it wrote its worktree's index leaves index.lock in the worktree's git directory: the
// pooled worktree then cannot be reset, and the next run gets a fresh one instead of an error.
TEST_F(WorkspaceTest, APooledWorktreeWithALockedIndexIsReplaced) {
  auto ws = Open(Options());
  std::string first;
  {
    auto wt = ws->Acquire(Spec(35));
    ASSERT_TRUE(wt.ok()) << wt.error().ToString();
    first = (*wt)->path();
  }
  const fs::path gitdir =
      data_ / "git" / "octo" / "demo" / "mirror.git" / "worktrees" / fs::path(first).filename();
  ASSERT_TRUE(fs::is_directory(gitdir));
  WriteFile(gitdir / "index.lock", "");
  auto wt = ws->Acquire(Spec(36));
  ASSERT_TRUE(wt.ok()) << wt.error().ToString();
  EXPECT_FALSE((*wt)->reused());
  WriteFile(fs::path((*wt)->path()) / "y.txt", "y\n");
  auto head = (*wt)->CommitAll("y");
  ASSERT_TRUE(head.ok()) << head.error().ToString();
  ASSERT_TRUE((*wt)->Push().ok());
  EXPECT_EQ(RemoteSha(Spec(36).branch), *head);
}

TEST_F(WorkspaceTest, WrongTokenIsRefused) {
  auto ws = Open(Options("ghs_wrong_token_value"));
  auto wt = ws->Acquire(Spec(9));  // reads are public on this server
  ASSERT_TRUE(wt.ok()) << wt.error().ToString();
  WriteFile(fs::path((*wt)->path()) / "x.txt", "x\n");
  ASSERT_TRUE((*wt)->CommitAll("x").ok());
  auto st = (*wt)->Push();
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code(), ErrorCode::kUnauthenticated) << st.error().ToString();
  EXPECT_EQ(RemoteSha("wave/1-epic/9-ticket"), "");
}

TEST_F(WorkspaceTest, LeaseRefusesToOverwriteAForeignPush) {
  auto ws = Open(Options());
  std::string pushed;
  {
    auto wt = ws->Acquire(Spec(10));
    ASSERT_TRUE(wt.ok());
    WriteFile(fs::path((*wt)->path()) / "x.txt", "x\n");
    pushed = *(*wt)->CommitAll("x");
    ASSERT_TRUE((*wt)->Push().ok());
    // A human pushes to the ticket branch after wavebot did.
    Human("git fetch -q origin && git checkout -q -b t10 origin/wave/1-epic/10-ticket && echo human > h.txt && "
          "git add h.txt && git commit -qm human && git push -q origin t10:wave/1-epic/10-ticket");
    std::string human_sha = RemoteSha("wave/1-epic/10-ticket");
    ASSERT_NE(human_sha, pushed);
    // wavebot (same run) amends and tries to push: refused, the human's commit stays.
    ASSERT_EQ(RunShell("cd " + (*wt)->path() + " && git -c user.name=a -c user.email=a@b commit -q --amend -m y"), 0);
    auto st = (*wt)->Push();
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.error().code(), ErrorCode::kConflict);
    EXPECT_NE(st.error().message().find("someone else pushed"), std::string::npos);
    EXPECT_EQ(RemoteSha("wave/1-epic/10-ticket"), human_sha);
  }
  // The next run, told where wavebot last pushed, stops before doing any work.
  TicketSpec spec = Spec(10);
  spec.expected_remote_head = pushed;
  auto next = ws->Acquire(spec);
  ASSERT_FALSE(next.ok());
  EXPECT_EQ(next.error().code(), ErrorCode::kConflict);
}

// The runs of a wave start together from the same epic head: when the mirror already holds the base
// (and the branch) where the caller saw them on the remote, Acquire does not fetch; otherwise it does.
TEST_F(WorkspaceTest, NoFetchWhenTheMirrorHoldsWhatTheCallerSawOnTheRemote) {
  auto ws = Open(Options());
  const std::string seen = RemoteSha("main");
  { ASSERT_TRUE(ws->Acquire(Spec(41)).ok()); }  // fetches: the mirror now holds main at `seen`
  Human("echo later > later.txt && git add later.txt && git commit -qm later && git push -q origin main");
  const std::string moved = RemoteSha("main");
  ASSERT_NE(moved, seen);
  TicketSpec current = Spec(42);
  current.expected_remote_head = "";
  current.expected_base_head = seen;  // what the caller saw: the mirror holds it, so no fetch
  {
    auto wt = ws->Acquire(current);
    ASSERT_TRUE(wt.ok()) << wt.error().ToString();
    EXPECT_EQ((*wt)->base_sha(), seen) << "it fetched";
  }
  TicketSpec stale = Spec(43);
  stale.expected_remote_head = "";
  stale.expected_base_head = moved;  // the mirror does not hold it: fetched
  auto wt = ws->Acquire(stale);
  ASSERT_TRUE(wt.ok()) << wt.error().ToString();
  EXPECT_EQ((*wt)->base_sha(), moved);
}

TEST_F(WorkspaceTest, RebaseOntoMovedBaseCleanly) {
  auto ws = Open(Options());
  auto wt = ws->Acquire(Spec(11));
  ASSERT_TRUE(wt.ok());
  WriteFile(fs::path((*wt)->path()) / "ticket.txt", "ticket\n");
  ASSERT_TRUE((*wt)->CommitAll("ticket").ok());
  ASSERT_TRUE((*wt)->Push().ok());
  Human("echo other > other.txt && git add other.txt && git commit -qm other && git push -q origin main");
  std::string main_sha = RemoteSha("main");
  auto r = (*wt)->Rebase("main");
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_FALSE(r->conflict);
  EXPECT_EQ(ShellOutput("git -C " + (*wt)->path() + " rev-parse HEAD~1"), main_sha);
  EXPECT_TRUE(fs::exists(fs::path((*wt)->path()) / "other.txt"));
  ASSERT_TRUE((*wt)->Push().ok());  // the rewritten branch replaces wavebot's own earlier push
  EXPECT_EQ(RemoteSha("wave/1-epic/11-ticket"), r->head);
}

TEST_F(WorkspaceTest, RebaseConflictIsAbortedAndReported) {
  auto ws = Open(Options());
  auto wt = ws->Acquire(Spec(12));
  ASSERT_TRUE(wt.ok());
  WriteFile(fs::path((*wt)->path()) / "README.md", "ticket version\n");
  auto before = (*wt)->CommitAll("ticket edits README");
  ASSERT_TRUE(before.ok());
  Human("echo 'human version' > README.md && git commit -qam human && git push -q origin main");
  auto r = (*wt)->Rebase("main");
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_TRUE(r->conflict);
  EXPECT_EQ(r->conflicting_paths, std::vector<std::string>{"README.md"});
  EXPECT_EQ(r->head, *before);
  EXPECT_EQ(ShellOutput("git -C " + (*wt)->path() + " status --porcelain"), "");
  std::string rebase_dir = ShellOutput("cd " + (*wt)->path() + " && git rev-parse --path-format=absolute --git-path rebase-merge");
  EXPECT_FALSE(fs::exists(rebase_dir)) << rebase_dir;
}

TEST_F(WorkspaceTest, PooledWorktreeKeepsNothingOfThePreviousTicket) {
  auto ws = Open(Options());
  std::string first_path;
  {
    auto wt = ws->Acquire(Spec(13));
    ASSERT_TRUE(wt.ok());
    first_path = (*wt)->path();
    WriteFile(fs::path(first_path) / "committed.txt", "c\n");
    ASSERT_TRUE((*wt)->CommitAll("c").ok());
    WriteFile(fs::path(first_path) / "untracked.txt", "u\n");
    WriteFile(fs::path(first_path) / "build" / "cache.o", "ignored\n");
    WriteFile(fs::path(first_path) / "src" / "main.c", "modified\n");
  }
  auto wt = ws->Acquire(Spec(14));
  ASSERT_TRUE(wt.ok()) << wt.error().ToString();
  EXPECT_TRUE((*wt)->reused());
  EXPECT_EQ((*wt)->path(), first_path);
  EXPECT_FALSE(fs::exists(fs::path(first_path) / "committed.txt"));
  EXPECT_FALSE(fs::exists(fs::path(first_path) / "untracked.txt"));
  EXPECT_FALSE(fs::exists(fs::path(first_path) / "build" / "cache.o"));
  EXPECT_EQ(ShellOutput("cat " + first_path + "/src/main.c"), "int main() {}");
  EXPECT_EQ(ShellOutput("git -C " + first_path + " status --porcelain --ignored"), "");
  EXPECT_EQ(ShellOutput("git -C " + first_path + " symbolic-ref HEAD"), "refs/heads/wave/1-epic/14-ticket");
}

TEST_F(WorkspaceTest, CheckoutFiltersApplyWhenTheRepositoryHasAttributes) {
  Human("printf 'crlf.txt text eol=crlf\\n' > .gitattributes && printf 'a\\nb\\n' > crlf.txt && git add -A && "
        "git commit -qm attrs && git push -q origin main");
  auto ws = Open(Options());
  std::string path;
  {
    auto wt = ws->Acquire(Spec(17));  // fresh
    ASSERT_TRUE(wt.ok());
    path = (*wt)->path();
    EXPECT_EQ(ShellOutput("od -c " + path + "/crlf.txt | head -1"), "0000000   a  \\r  \\n   b  \\r  \\n");
    fs::remove(fs::path(path) / "crlf.txt");
  }
  auto wt = ws->Acquire(Spec(18));  // pooled
  ASSERT_TRUE(wt.ok());
  ASSERT_TRUE((*wt)->reused());
  EXPECT_EQ(ShellOutput("od -c " + path + "/crlf.txt | head -1"), "0000000   a  \\r  \\n   b  \\r  \\n");
}

TEST_F(WorkspaceTest, ARunThatDiedOnItsBranchDoesNotBlockTheTicket) {
  auto ws = Open(Options());
  std::string path;
  {
    auto wt = ws->Acquire(Spec(19));
    ASSERT_TRUE(wt.ok());
    path = (*wt)->path();
  }
  // What a killed run leaves: an unlocked worktree whose HEAD is still the ticket branch.
  ASSERT_EQ(RunShell("git -C " + path + " checkout -q wave/1-epic/19-ticket"), 0);
  auto again = ws->Acquire(Spec(19));
  ASSERT_TRUE(again.ok()) << again.error().ToString();
  // While a live run holds the branch, a second run of the same ticket is refused.
  auto twice = ws->Acquire(Spec(19));
  ASSERT_FALSE(twice.ok());
  EXPECT_EQ(twice.error().code(), ErrorCode::kConflict);
}

TEST_F(WorkspaceTest, KeepIgnoredFilesKeepsBuildCaches) {
  auto opts = Options();
  opts.keep_ignored_files = true;
  auto ws = Open(opts);
  std::string path;
  {
    auto wt = ws->Acquire(Spec(15));
    ASSERT_TRUE(wt.ok());
    path = (*wt)->path();
    WriteFile(fs::path(path) / "build" / "cache.o", "ignored\n");
    WriteFile(fs::path(path) / "untracked.txt", "u\n");
  }
  auto wt = ws->Acquire(Spec(16));
  ASSERT_TRUE(wt.ok());
  EXPECT_TRUE(fs::exists(fs::path(path) / "build" / "cache.o"));
  EXPECT_FALSE(fs::exists(fs::path(path) / "untracked.txt"));
}

TEST_F(WorkspaceTest, ConcurrentTicketsOnOneRepository) {
  constexpr int kTickets = 4;
  std::vector<std::thread> threads;
  std::vector<std::string> results(kTickets), paths(kTickets);
  std::latch all_acquired(kTickets);  // every ticket holds its worktree at the same time
  for (int i = 0; i < kTickets; ++i) {
    threads.emplace_back([&, i] {
      auto ws = OpenWorkspace(Options());  // each thread its own handle, as separate processes would
      auto wt = ws.ok() ? (*ws)->Acquire(Spec(20 + i)) : Result<std::unique_ptr<TicketWorktree>>(ws.error());
      all_acquired.arrive_and_wait();
      if (!wt.ok()) {
        results[i] = wt.error().ToString();
        return;
      }
      paths[i] = (*wt)->path();
      WriteFile(fs::path((*wt)->path()) / ("t" + std::to_string(i) + ".txt"), "x\n");
      auto head = (*wt)->CommitAll("t");
      if (!head.ok()) {
        results[i] = head.error().ToString();
        return;
      }
      auto st = (*wt)->Push();
      results[i] = st.ok() ? *head : st.error().ToString();
    });
  }
  for (auto& t : threads) t.join();
  std::set<std::string> distinct(paths.begin(), paths.end());
  EXPECT_EQ(distinct.size(), static_cast<size_t>(kTickets));
  for (int i = 0; i < kTickets; ++i) {
    EXPECT_EQ(RemoteSha("wave/1-epic/" + std::to_string(20 + i) + "-ticket"), results[i]) << results[i];
    EXPECT_EQ(ShellOutput("git --git-dir=" + (root_ / "octo/demo.git").string() + " ls-tree --name-only wave/1-epic/" +
                          std::to_string(20 + i) + "-ticket t" + std::to_string(i) + ".txt"),
              "t" + std::to_string(i) + ".txt");
  }
}

// A push talks to the remote without the mirror's lock (runs that finish together push at once); only
// its remote-tracking ref waits for it.
TEST_F(WorkspaceTest, APushReachesTheRemoteWhileAnotherHoldsTheMirrorLock) {
  auto ws = Open(Options());
  auto wt = ws->Acquire(Spec(31));
  ASSERT_TRUE(wt.ok()) << wt.error().ToString();
  WriteFile(fs::path((*wt)->path()) / "p.txt", "p\n");
  auto head = (*wt)->CommitAll("p");
  ASSERT_TRUE(head.ok());
  auto held = FileLock::Acquire((data_ / "git" / "octo" / "demo" / "mirror.lock").string());
  ASSERT_TRUE(held.ok());
  std::promise<Status> pushed;
  std::thread pusher([&] { pushed.set_value((*wt)->Push()); });
  const std::string branch = "wave/1-epic/31-ticket";
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (RemoteSha(branch) != *head && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::yield();
  }
  EXPECT_EQ(RemoteSha(branch), *head) << "the push waited for the mirror's lock";
  held->reset();  // the tracking ref can be written now
  pusher.join();
  Status st = pushed.get_future().get();
  ASSERT_TRUE(st.ok()) << st.error().ToString();
  EXPECT_EQ(ShellOutput("git --git-dir=" + (data_ / "git" / "octo" / "demo" / "mirror.git").string() +
                        " rev-parse refs/remotes/origin/" + branch),
            *head);
}

TEST_F(WorkspaceTest, IntegrityViolationsAreDetected) {
  auto ws = Open(Options());
  auto wt = ws->Acquire(Spec(30));
  ASSERT_TRUE(wt.ok());
  std::string p = (*wt)->path();
  ASSERT_EQ(RunShell("cd " + p + " && git config core.hooksPath /tmp/evil"), 0);
  auto st = (*wt)->VerifyIntegrity(false);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message().find("config"), std::string::npos);
  ASSERT_EQ(RunShell("cd " + p + " && git config --unset core.hooksPath && git checkout -q -b elsewhere"), 0);
  st = (*wt)->VerifyIntegrity(false);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message().find("ticket branch"), std::string::npos);
  ASSERT_EQ(RunShell("cd " + p + " && git checkout -q wave/1-epic/30-ticket && echo 'gitdir: /tmp' > .git"), 0);
  st = (*wt)->VerifyIntegrity(false);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message().find(".git"), std::string::npos);
}

TEST_F(WorkspaceTest, PruneRemovesIdleWorktreesBeyondThePoolAndFinishedBranches) {
  auto opts = Options();
  opts.max_idle_worktrees = 1;
  auto ws = Open(opts);
  {
    auto a = ws->Acquire(Spec(40));
    auto b = ws->Acquire(Spec(41));
    auto c = ws->Acquire(Spec(42));
    ASSERT_TRUE(a.ok() && b.ok() && c.ok());
    auto busy = ws->Usage();
    ASSERT_TRUE(busy.ok());
    EXPECT_EQ(busy->worktrees, 3);
    EXPECT_EQ(busy->idle_worktrees, 0);
    EXPECT_GT(busy->mirror_bytes, 0);
    EXPECT_GT(busy->worktree_bytes, 0);
  }
  auto removed = ws->Prune({"wave/1-epic/40-ticket", "wave/1-epic/41-ticket"});
  ASSERT_TRUE(removed.ok());
  EXPECT_EQ(*removed, 2);
  auto u = ws->Usage();
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->worktrees, 1);
  std::string mirror = ws->mirror_path();
  EXPECT_EQ(ShellOutput("git --git-dir=" + mirror + " branch --list 'wave/*'"), "  wave/1-epic/42-ticket");
  EXPECT_EQ(ShellOutput("git --git-dir=" + mirror + " worktree list --porcelain | grep -c '^worktree'"), "2");
}

TEST_F(WorkspaceTest, BadInputsAreClearErrors) {
  auto o = Options();
  o.repo_key = "../etc";
  auto bad_key = OpenWorkspace(o);
  ASSERT_FALSE(bad_key.ok());
  EXPECT_EQ(bad_key.error().code(), ErrorCode::kInvalidArgument);
  o = Options();
  o.remote_url = "http://x-access-token:secret@127.0.0.1:1/o/r.git";
  auto creds = OpenWorkspace(o);
  ASSERT_FALSE(creds.ok());
  EXPECT_NE(creds.error().message().find("credentials"), std::string::npos);
  auto ws = Open(Options());
  TicketSpec s = Spec(50);
  s.branch = "wave/../../escape";
  auto bad_branch = ws->Acquire(s);
  ASSERT_FALSE(bad_branch.ok());
  EXPECT_EQ(bad_branch.error().code(), ErrorCode::kInvalidArgument);
  s = Spec(50);
  s.base_branch = "epic/404-missing";
  auto missing = ws->Acquire(s);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);
}

TEST(RefNamesTest, SanitizedComponentsPassGitCheckRefFormat) {
  for (std::string text : {"Add login form", "  ..weird//name.lock~^:?*[\\ ", "Ünïcödé ticket", "", "-", "a",
                           "very long title that goes on and on and on and on and on forever"}) {
    std::string c = SanitizeRefComponent(text);
    EXPECT_FALSE(c.empty());
    EXPECT_LE(c.size(), 40u);
    std::string branch = "wave/12-" + c + "/34-" + c;
    EXPECT_TRUE(IsValidBranchName(branch)) << branch;
    EXPECT_EQ(RunShell("git check-ref-format --branch '" + branch + "' >/dev/null"), 0) << branch;
  }
  EXPECT_EQ(SanitizeRefComponent("Add login form!"), "add-login-form");
  EXPECT_FALSE(IsValidBranchName("a..b"));
  EXPECT_FALSE(IsValidBranchName("-x"));
  EXPECT_FALSE(IsValidBranchName("x.lock"));
  EXPECT_FALSE(IsValidRepoKey("a/b/c"));
  EXPECT_FALSE(IsValidRepoKey(".a/b"));
  EXPECT_TRUE(IsValidRepoKey("octo-org/my.repo_1"));
}

}  // namespace
}  // namespace wavebot::git
