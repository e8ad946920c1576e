// The stand-in's in-process reads give git's own answers (for-each-ref, merge-base --is-ancestor,
// cat-file -e), on a repository with loose and packed refs, an annotated tag and a symbolic ref.
#include "sandbox/sim_git_reads.h"

#include <gtest/gtest.h>

#include "support/subprocess.h"
#include "support/temp_dir.h"

namespace wavebot::sandbox::sim {
namespace {

class SimGitReadsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    git_dir_ = dir_.File("repo.git");
    Sh("git init -q --bare " + git_dir_ + " && git init -q " + dir_.File("work"));
    // Three commits on main; a side branch off the first; an annotated tag on the second.
    Sh("cd " + dir_.File("work") +
       " && git checkout -q -b main && echo 1 > f && git add f && git commit -qm one && git branch side"
       " && echo 2 > f && git commit -qam two && git tag -a v1 -m v1 && echo 3 > f && git commit -qam three"
       " && git checkout -q side && echo s > g && git add g && git commit -qm side"
       " && git push -q " +
       git_dir_ + " main side v1");
    Sh("git --git-dir=" + git_dir_ + " pack-refs --all && git --git-dir=" + git_dir_ +
       " update-ref refs/heads/loose refs/heads/main~1 && git --git-dir=" + git_dir_ +
       " symbolic-ref refs/heads/alias refs/heads/side");
  }
  std::string Sh(const std::string& cmd) {
    auto r = testing::RunShell("(" + cmd + ") 2>&1");
    EXPECT_EQ(r.exit_code, 0) << cmd << "\n" << r.out;
    while (!r.out.empty() && r.out.back() == '\n') r.out.pop_back();
    return r.out;
  }
  int GitExit(const std::string& args) {
    return testing::RunShell("git --git-dir=" + git_dir_ + " " + args + " >/dev/null 2>&1").exit_code;
  }
  std::string Rev(const std::string& rev) { return Sh("git --git-dir=" + git_dir_ + " rev-parse " + rev); }

  testing::TempDir dir_;
  std::string git_dir_;
};

TEST_F(SimGitReadsTest, RefsAreWhatForEachRefLists) {
  std::map<std::string, std::string> want;
  std::string listed = Sh("git --git-dir=" + git_dir_ + " for-each-ref --format='%(refname) %(objectname)'");
  for (size_t pos = 0; pos < listed.size();) {
    size_t eol = listed.find('\n', pos);
    if (eol == std::string::npos) eol = listed.size();
    std::string line = listed.substr(pos, eol - pos);
    want[line.substr(0, line.find(' '))] = line.substr(line.find(' ') + 1);
    pos = eol + 1;
  }
  std::string error;
  auto got = ListRefs(git_dir_, &error);
  EXPECT_EQ(error, "");
  EXPECT_EQ(got, want);
  // The cases that matter are there: packed, loose, a symbolic ref resolved, a tag as its own object.
  EXPECT_EQ(got["refs/heads/loose"], Rev("main~1"));
  EXPECT_EQ(got["refs/heads/alias"], Rev("side"));
  EXPECT_EQ(got["refs/tags/v1"], Rev("refs/tags/v1"));
  EXPECT_NE(got["refs/tags/v1"], Rev("v1^{commit}"));
  EXPECT_EQ(got.size(), 5u);
}

TEST_F(SimGitReadsTest, AncestryIsWhatMergeBaseIsAncestorSays) {
  const std::vector<std::string> revs = {Rev("main"), Rev("main~1"),      Rev("main~2"),       Rev("side"),
                                         "v1",        Rev("main^{tree}"), std::string(40, 'e')};
  for (const auto& a : revs) {
    for (const auto& b : revs) {
      EXPECT_EQ(IsAncestorExitCode(git_dir_, a, b), GitExit("merge-base --is-ancestor " + a + " " + b))
          << a << " " << b;
    }
  }
  EXPECT_EQ(IsAncestorExitCode(git_dir_, Rev("main~2"), Rev("main")), 0);
  EXPECT_EQ(IsAncestorExitCode(git_dir_, Rev("main"), Rev("main")), 0) << "a commit is its own ancestor";
  EXPECT_EQ(IsAncestorExitCode(git_dir_, Rev("side"), Rev("main")), 1);
  EXPECT_EQ(IsAncestorExitCode(dir_.File("missing.git"), Rev("main"), Rev("main")), 128);
}

TEST_F(SimGitReadsTest, ACommitIsThereWhenCatFileSaysSo) {
  for (const auto& rev : {Rev("main"), Rev("side"), std::string("v1"), Rev("main^{tree}"), Rev("main:f"),
                          std::string(40, 'e'), std::string("nonsense")}) {
    EXPECT_EQ(HasCommit(git_dir_, rev), GitExit("cat-file -e " + rev + "^{commit}") == 0) << rev;
  }
  EXPECT_TRUE(HasCommit(git_dir_, Rev("main~1")));
  EXPECT_FALSE(HasCommit(git_dir_, Rev("main^{tree}")));
}

}  // namespace
}  // namespace wavebot::sandbox::sim
