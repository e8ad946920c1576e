#include "core/branch.h"

#include <gtest/gtest.h>

#include <random>

#include "support/subprocess.h"

namespace wavebot::core {
namespace {

TEST(BranchTest, Names) {
  EXPECT_EQ(EpicBranch(7, "Ship the Query Language!"), "epic/7-ship-the-query-language");
  EXPECT_EQ(TicketBranch(7, "Ship the Query Language!", 12, "Parser: handle `x..y` & ~stuff~"),
            "wave/7-ship-the-query-language/12-parser-handle-x-y-stuff");
  EXPECT_EQ(TicketBranch(1, "", 2, "日本語"), "wave/1-epic/2-ticket");
}

TEST(BranchTest, SlugIsBounded) {
  std::string slug = Slugify(std::string(500, 'a') + " b", 40);
  EXPECT_EQ(slug.size(), 40u);
  EXPECT_EQ(Slugify("--a--b--"), "a-b");
  EXPECT_EQ(Slugify("abc def", 4), "abc");
}

TEST(BranchTest, Deterministic) {
  EXPECT_EQ(TicketBranch(3, "E", 4, "T"), TicketBranch(3, "E", 4, "T"));
}

TEST(BranchTest, ValidityRules) {
  EXPECT_TRUE(IsValidBranchName("wave/1-a/2-b"));
  for (const char* bad : {"", "a..b", "a/", "/a", "a//b", "a.lock", ".a", "a b", "a~b", "a^b", "a:b", "a?b",
                          "a*b", "a[b", "a\\b", "a@{b", "@", "a.", "-a"}) {
    EXPECT_FALSE(IsValidBranchName(bad)) << bad;
  }
}

// Hostile titles always give names git itself accepts.
TEST(BranchTest, GitAcceptsEveryGeneratedName) {
  std::mt19937 rng(11);
  const std::string alphabet = "aZ09 ./\\~^:?*[]@{}-_\"'`$;|&<>\n\t\x01\x7f\xc3\xa9..lock";
  for (int i = 0; i < 40; ++i) {
    std::string title;
    std::uniform_int_distribution<size_t> len(0, 60), pick(0, alphabet.size() - 1);
    for (size_t k = len(rng); k > 0; --k) title.push_back(alphabet[pick(rng)]);
    std::string name = TicketBranch(i + 1, title, i + 2, title);
    ASSERT_TRUE(IsValidBranchName(name)) << name;
    auto r = wavebot::testing::RunShell("git check-ref-format --branch '" + name + "' >/dev/null 2>&1");
    EXPECT_EQ(r.exit_code, 0) << name;
  }
}


// What a merge into a branch says it merged, as GitHub words its commits: a merge commit names the PR
// first, a squash merge ends its first line with it; anything else names none.
TEST(BranchTest, MergedPullNumberReadsGitHubsMergeCommits) {
  EXPECT_EQ(MergedPullNumber("Merge pull request #12 from acme/wave/1-2-x\n\nTitle"), 12);
  EXPECT_EQ(MergedPullNumber("Add a parser (#345)"), 345);
  EXPECT_EQ(MergedPullNumber("Add a parser (#345)\n\n* first\n* second (#7)"), 345);
  EXPECT_EQ(MergedPullNumber("Add a parser (#345) \r\nbody"), 345);
  EXPECT_EQ(MergedPullNumber("Fix #12 in the parser"), 0);
  EXPECT_EQ(MergedPullNumber("Add a parser (#34x)"), 0);
  EXPECT_EQ(MergedPullNumber("Add a parser (#)"), 0);
  EXPECT_EQ(MergedPullNumber("Merge pull request #"), 0);
  EXPECT_EQ(MergedPullNumber("Merge branch 'main' into epic/1-x"), 0);
  EXPECT_EQ(MergedPullNumber(""), 0);
  EXPECT_EQ(MergedPullNumber("(#9)"), 9);
}

}  // namespace
}  // namespace wavebot::core
