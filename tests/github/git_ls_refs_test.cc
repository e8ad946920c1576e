#include "github/git_ls_refs.h"

#include <gtest/gtest.h>

namespace wavebot::github {
namespace {

const std::string kA(40, 'a'), kB(40, 'b');

std::string Pkt(const std::string& line) {
  char len[5];
  std::snprintf(len, sizeof(len), "%04zx", line.size() + 4);
  return std::string(len) + line;
}

TEST(GitLsRefsTest, TheRequestAsksForEachBranchByPrefix) {
  EXPECT_EQ(LsRefsRequest({"main", "epic/1-x"}),
            "0014command=ls-refs\n" "0012agent=wavebot\n" "0001"
            "001fref-prefix refs/heads/main\n" "0023ref-prefix refs/heads/epic/1-x\n" "0000");
}

TEST(GitLsRefsTest, TheAnswerGivesEachRefsObjectIdIgnoringAttributes) {
  auto refs = ParseLsRefs(Pkt(kA + " refs/heads/main\n") + Pkt(kB + " refs/heads/x symref-target:refs/heads/main\n") +
                          Pkt(std::string(64, 'c') + " refs/heads/sha256") + "0000");
  ASSERT_TRUE(refs.ok()) << refs.error().ToString();
  EXPECT_EQ(refs->size(), 3u);
  EXPECT_EQ(refs->at("refs/heads/main"), kA);
  EXPECT_EQ(refs->at("refs/heads/x"), kB);
  EXPECT_EQ(refs->at("refs/heads/sha256"), std::string(64, 'c'));
  auto none = ParseLsRefs("0000");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

TEST(GitLsRefsTest, AnythingElseIsAClearError) {
  EXPECT_EQ(ParseLsRefs("").error().code(), ErrorCode::kParse);                                  // no flush
  EXPECT_EQ(ParseLsRefs(Pkt(kA + " refs/heads/main\n")).error().code(), ErrorCode::kParse);    // no flush
  EXPECT_EQ(ParseLsRefs("zzzz0000").error().code(), ErrorCode::kParse);                          // not hex
  EXPECT_EQ(ParseLsRefs("00ff" + kA).error().code(), ErrorCode::kParse);                         // runs past
  EXPECT_EQ(ParseLsRefs("0003").error().code(), ErrorCode::kParse);                              // too short
  EXPECT_EQ(ParseLsRefs(Pkt("nothex refs/heads/x\n") + "0000").error().code(), ErrorCode::kParse);
  EXPECT_EQ(ParseLsRefs(Pkt(kA + " \n") + "0000").error().code(), ErrorCode::kParse);
  EXPECT_EQ(ParseLsRefs(Pkt(kA + "\n") + "0000").error().code(), ErrorCode::kParse);
  auto err = ParseLsRefs(Pkt("ERR upload-pack: not our ref\n"));
  ASSERT_FALSE(err.ok());
  EXPECT_EQ(err.error().code(), ErrorCode::kUnavailable);
  EXPECT_NE(err.error().message().find("not our ref"), std::string::npos);
}

}  // namespace
}  // namespace wavebot::github
