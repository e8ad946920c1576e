// The local answer to GitHub's comparison must be GitHub's answer: checked against what git itself says
// for the same commits (`git diff -M <merge-base> <head>`, `git rev-list --count head..base`), which is
// what the simulator's compare serves.
#include "git/mirror_compare.h"

#include <gtest/gtest.h>

#include <sstream>

#include "engine/local_compare.h"
#include "git/test_util.h"

namespace wavebot::git {
namespace {

using testing::RunShell;
using testing::ShellOutput;
using testing::TempDir;

class MirrorCompareTest : public ::testing::Test {
 protected:
  void SetUp() override {
    work_ = (tmp_.Dir() / "work").string();
    mirror_ = MirrorPath((tmp_.Dir() / "runner").string(), "octo/demo");
    Sh("git init -q -b main " + work_);
    In("git config user.name T && git config user.email t@example.com && mkdir -p src docs && "
       "printf 'a\\nb\\nc\\nd\\ne\\nf\\ng\\nh\\n' > src/long.c && echo one > README.md && "
       "echo doc > docs/guide.md && echo gone > old.txt && git add -A && git commit -qm seed");
  }
  void Sh(const std::string& cmd) { ASSERT_EQ(RunShell(cmd), 0) << cmd; }
  void In(const std::string& cmd) { Sh("cd " + work_ + " && (" + cmd + ")"); }
  std::string Head(const std::string& rev = "HEAD") { return ShellOutput("git -C " + work_ + " rev-parse " + rev); }
  // The runner's mirror: a bare clone of what was committed so far.
  void Mirror() {
    Sh("rm -rf " + mirror_ + " && mkdir -p $(dirname " + mirror_ + ") && git clone -q --bare " + work_ + " " + mirror_);
  }
  // git's own list of the same comparison, as "<status> <path>" (a rename under its new path).
  std::vector<std::string> GitSays(const std::string& base, const std::string& head) {
    const std::string mb = ShellOutput("git -C " + work_ + " merge-base " + base + " " + head);
    std::istringstream in(ShellOutput("git -C " + work_ + " diff --name-status -M " + mb + " " + head));
    std::vector<std::string> out;
    for (std::string line; std::getline(in, line);) {
      std::istringstream fields(line);
      std::string status, path, renamed_to;
      fields >> status >> path >> renamed_to;
      out.push_back(std::string(1, status[0] == 'T' ? 'M' : status[0]) + " " + (renamed_to.empty() ? path : renamed_to));
    }
    return out;
  }

  TempDir tmp_;
  std::string work_, mirror_;
};

TEST_F(MirrorCompareTest, ListsWhatGitListsForTheHeadSinceItsMergeBase) {
  const std::string start = Head();
  // The ticket: an added, a modified, a removed and a renamed file (a rename git finds by similarity).
  In("git checkout -q -b ticket && echo new > src/new.c && echo two >> README.md && git rm -q old.txt && "
     "git mv src/long.c src/renamed.c && echo i >> src/renamed.c && git add -A && git commit -qm ticket");
  const std::string head = Head();
  // The base moved on after the ticket branched: its own change is not the ticket's.
  In("git checkout -q main && echo more >> docs/guide.md && git commit -qam moved");
  const std::string base = Head();
  Mirror();

  auto files = ChangedFilesInMirror(mirror_, base, head);
  ASSERT_TRUE(files.ok()) << files.error().ToString();
  ASSERT_TRUE(files->has_value());
  EXPECT_EQ(**files, GitSays(base, head));
  EXPECT_EQ(**files, (std::vector<std::string>{"M README.md", "D old.txt", "A src/new.c", "R src/renamed.c"}));

  // Against the start, where no merge base differs, the same list.
  auto from_start = ChangedFilesInMirror(mirror_, start, head);
  ASSERT_TRUE(from_start.ok() && from_start->has_value());
  EXPECT_EQ(**from_start, GitSays(start, head));
}

TEST_F(MirrorCompareTest, SaysWhetherTheHeadLacksCommitsOfTheBase) {
  In("git checkout -q -b ticket && echo x > x.c && git add x.c && git commit -qm ticket");
  const std::string head = Head();
  In("git checkout -q main && echo 1 >> README.md && git commit -qam m1 && echo 2 >> README.md && git commit -qam m2");
  const std::string base = Head();
  Mirror();

  auto behind = BehindInMirror(mirror_, base, head);
  ASSERT_TRUE(behind.ok()) << behind.error().ToString();
  ASSERT_TRUE(behind->has_value());
  EXPECT_EQ(std::stoll(ShellOutput("git -C " + work_ + " rev-list --count " + head + ".." + base)), 2);
  EXPECT_TRUE(**behind);
  // Rebased onto the base: behind by nothing.
  In("git checkout -q ticket && git rebase -q main");
  const std::string rebased = Head();
  Mirror();
  EXPECT_EQ(ShellOutput("git -C " + work_ + " rev-list --count " + rebased + ".." + base), "0");
  auto after = BehindInMirror(mirror_, base, rebased);
  ASSERT_TRUE(after.ok() && after->has_value());
  EXPECT_FALSE(**after);
  // The base moves on to a commit the mirror has not fetched (a merge on GitHub): the head, whose whole
  // history the mirror holds, cannot contain it, so behind, with no fetch.
  In("git checkout -q main && echo 3 >> README.md && git commit -qam m3");
  const std::string moved = Head();
  auto unfetched = BehindInMirror(mirror_, moved, rebased);
  ASSERT_TRUE(unfetched.ok() && unfetched->has_value());
  EXPECT_TRUE(**unfetched);
}

TEST_F(MirrorCompareTest, NoAnswerWithoutTheMirrorOrOneOfTheCommits) {
  const std::string base = Head();
  // No mirror at all.
  auto none = ChangedFilesInMirror(mirror_, base, base);
  ASSERT_TRUE(none.ok()) << none.error().ToString();
  EXPECT_FALSE(none->has_value());
  Mirror();
  // A commit made after the mirror was cloned is not in it (a push the mirror has not fetched).
  In("echo later > later.txt && git add later.txt && git commit -qm later");
  const std::string later = Head();
  auto missing = ChangedFilesInMirror(mirror_, base, later);
  ASSERT_TRUE(missing.ok()) << missing.error().ToString();
  EXPECT_FALSE(missing->has_value());
  auto missing_head = BehindInMirror(mirror_, base, later);
  ASSERT_TRUE(missing_head.ok()) << missing_head.error().ToString();
  EXPECT_FALSE(missing_head->has_value());
  // Not a SHA: a branch name would be the mirror's possibly stale idea of the branch.
  auto by_name = ChangedFilesInMirror(mirror_, "main", base);
  ASSERT_TRUE(by_name.ok());
  EXPECT_FALSE(by_name->has_value());
  // Present: an answer (nothing changed).
  auto same = ChangedFilesInMirror(mirror_, base, base);
  ASSERT_TRUE(same.ok() && same->has_value());
  EXPECT_TRUE((*same)->empty());
}

// The engine asks the runs' mirror and its own rebases' mirror: the first holding both commits answers.
TEST_F(MirrorCompareTest, TheEnginesCompareAsksEachMirrorInTurn) {
  const std::string base = Head();
  const std::string runner = (tmp_.Dir() / "runner").string(),
                    engine_git = (tmp_.Dir() / "engine-git").string();
  auto compare = engine::MirrorCompare({runner, engine_git});
  EXPECT_FALSE(compare->ChangedFiles("octo/demo", base, base).has_value());  // no mirror yet
  Mirror();  // the runner's mirror, without the rebased head below
  In("git checkout -q -b ticket && echo r > rebased.c && git add rebased.c && git commit -qm rebased");
  const std::string rebased = Head();
  EXPECT_FALSE(compare->Behind("octo/demo", base, rebased).has_value());
  Sh("mkdir -p " + engine_git + "/git/octo && git clone -q --bare " + work_ + " " + MirrorPath(engine_git, "octo/demo"));
  EXPECT_EQ(compare->ChangedFiles("octo/demo", base, rebased), std::vector<std::string>{"A rebased.c"});
  EXPECT_EQ(compare->Behind("octo/demo", base, rebased), false);
  EXPECT_FALSE(compare->ChangedFiles("other/repo", base, rebased).has_value());
  // A repository name that would lead out of the data directories is never a path.
  ASSERT_EQ(MirrorPath(runner, "../escaped"), runner + "/git/../escaped/mirror.git");
  Sh("mkdir -p " + runner + "/escaped && cp -r " + MirrorPath(engine_git, "octo/demo") + " " + runner +
     "/escaped/mirror.git");
  EXPECT_FALSE(compare->ChangedFiles("../escaped", base, rebased).has_value());
}

// With the actions executor the runs push from other machines: a question no mirror can answer fetches
// the engine's mirror and is asked again, once per head; a head the fetch did not bring goes to GitHub.
TEST_F(MirrorCompareTest, TheEnginesCompareFetchesOnceForAHeadNoMirrorHolds) {
  const std::string engine_git = (tmp_.Dir() / "engine-git").string();
  const std::string mirror = MirrorPath(engine_git, "octo/demo");
  int fetches = 0;
  bool fail = false;
  auto compare = engine::MirrorCompare({engine_git}, [&](const std::string& repo) -> Status {
    EXPECT_EQ(repo, "octo/demo");
    ++fetches;
    if (fail) return Error(ErrorCode::kUnavailable, "the git server is away");
    if (RunShell("test -d " + mirror) != 0) {
      Sh("mkdir -p $(dirname " + mirror + ") && git clone -q --bare " + work_ + " " + mirror);
    } else {
      Sh("git -C " + mirror + " fetch -q " + work_ + " '+refs/heads/*:refs/heads/*'");
    }
    return OkStatus();
  });
  const std::string base = Head();
  In("git checkout -q -b ticket && echo t > t.c && git add t.c && git commit -qm ticket");
  const std::string head = Head();
  // No mirror yet: one fetch, then the answer.
  EXPECT_EQ(compare->ChangedFiles("octo/demo", base, head), std::vector<std::string>{"A t.c"});
  EXPECT_EQ(fetches, 1);
  EXPECT_EQ(compare->Behind("octo/demo", base, head), false);  // the mirror holds it now: no fetch
  EXPECT_EQ(fetches, 1);
  // A head pushed later: fetched for.
  In("echo u > u.c && git add u.c && git commit -qm more");
  const std::string pushed = Head();
  EXPECT_EQ(compare->ChangedFiles("octo/demo", base, pushed), (std::vector<std::string>{"A t.c", "A u.c"}));
  EXPECT_EQ(fetches, 2);
  // A commit no branch holds (force-pushed away): one fetch, no answer, and no second fetch for it.
  In("echo v > v.c && git add v.c && git commit -qm gone");
  const std::string gone = Head();
  In("git reset -q --hard HEAD~1");
  EXPECT_FALSE(compare->ChangedFiles("octo/demo", base, gone).has_value());
  EXPECT_FALSE(compare->Behind("octo/demo", base, gone).has_value());
  EXPECT_EQ(fetches, 3);
  // A fetch that fails: no answer (GitHub is asked), nothing else.
  fail = true;
  In("echo w > w.c && git add w.c && git commit -qm w");
  EXPECT_FALSE(compare->ChangedFiles("octo/demo", base, Head()).has_value());
  EXPECT_EQ(fetches, 4);
  // Without a fetch function a miss is only a miss.
  auto plain = engine::MirrorCompare({engine_git});
  EXPECT_FALSE(plain->ChangedFiles("octo/demo", base, Head()).has_value());
  EXPECT_EQ(fetches, 4);
}

}  // namespace
}  // namespace wavebot::git
