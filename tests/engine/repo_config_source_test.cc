// RepoConfigSource: each repository's .github/wavebot.yml through the GitHub client, cached for a while,
// with mistakes reported and the last good configuration kept. FakeClient and FakeClock: no waiting.
#include "engine/repo_config_source.h"

#include <gtest/gtest.h>

#include "github/fake_client.h"

namespace wavebot::engine {
namespace {

using std::chrono::seconds;

const github::RepoRef kRef{"acme", "calc"};

class RepoConfigSourceTest : public ::testing::Test {
 protected:
  RepoConfigSourceTest() { gh_.PutRepository(kRef, github::Repository{1, "acme/calc", "main", false}); }
  github::FakeClient gh_;
  FakeClock clock_;
  RepoConfigSource source_{&gh_, &clock_, seconds(30)};
};

TEST_F(RepoConfigSourceTest, NoFileMeansTheDefaults) {
  auto e = source_.Get("acme/calc");
  EXPECT_TRUE(e.error.empty());
  EXPECT_EQ(e.config.max_parallel, config::RepoConfig().max_parallel);
}

TEST_F(RepoConfigSourceTest, ReadsTheFileAndCachesItForTheTtl) {
  gh_.PutFile(kRef, ".github/wavebot.yml", "max_parallel: 7\n");
  EXPECT_EQ(source_.Get("acme/calc").config.max_parallel, 7);
  gh_.PutFile(kRef, ".github/wavebot.yml", "max_parallel: 9\n");
  clock_.Advance(seconds(29));
  EXPECT_EQ(source_.Get("acme/calc").config.max_parallel, 7);  // cached
  clock_.Advance(seconds(2));
  EXPECT_EQ(source_.Get("acme/calc").config.max_parallel, 9);  // read again after the TTL
}

TEST_F(RepoConfigSourceTest, InvalidateReadsAgainAtOnce) {
  gh_.PutFile(kRef, ".github/wavebot.yml", "max_parallel: 7\n");
  EXPECT_EQ(source_.Get("acme/calc").config.max_parallel, 7);
  gh_.PutFile(kRef, ".github/wavebot.yml", "max_parallel: 2\n");
  source_.Invalidate("acme/calc");
  EXPECT_EQ(source_.Get("acme/calc").config.max_parallel, 2);
}

TEST_F(RepoConfigSourceTest, AMistakeKeepsTheLastGoodConfigurationAndSaysWhy) {
  gh_.PutFile(kRef, ".github/wavebot.yml", "max_parallel: 7\n");
  EXPECT_EQ(source_.Get("acme/calc").config.max_parallel, 7);
  gh_.PutFile(kRef, ".github/wavebot.yml", "max_parallel: 7\nagent:\n  timeout: soon\n");
  source_.Invalidate("acme/calc");
  auto e = source_.Get("acme/calc");
  EXPECT_EQ(e.config.max_parallel, 7);
  EXPECT_NE(e.error.find(".github/wavebot.yml:3"), std::string::npos) << e.error;
  EXPECT_NE(e.error.find("agent.timeout"), std::string::npos) << e.error;
}

TEST_F(RepoConfigSourceTest, AMistakeWithNothingBeforeGivesTheDefaultsAndSaysWhy) {
  gh_.PutFile(kRef, ".github/wavebot.yml", "max_paralel: 3\n");
  auto e = source_.Get("acme/calc");
  EXPECT_EQ(e.config.max_parallel, config::RepoConfig().max_parallel);
  EXPECT_NE(e.error.find("max_paralel"), std::string::npos) << e.error;
}

TEST_F(RepoConfigSourceTest, GitHubUnavailableKeepsWhatWasReadAndTriesAgain) {
  gh_.PutFile(kRef, ".github/wavebot.yml", "max_parallel: 7\n");
  EXPECT_EQ(source_.Get("acme/calc").config.max_parallel, 7);
  clock_.Advance(seconds(31));
  gh_.FailNext("GetFileContent", Error(ErrorCode::kUnavailable, "502"));
  auto e = source_.Get("acme/calc");
  EXPECT_EQ(e.config.max_parallel, 7);
  EXPECT_TRUE(e.error.empty());
  EXPECT_FALSE(e.unavailable);
  gh_.PutFile(kRef, ".github/wavebot.yml", "max_parallel: 5\n");
  EXPECT_EQ(source_.Get("acme/calc").config.max_parallel, 5);  // not cached after the failure
}

TEST_F(RepoConfigSourceTest, GitHubUnavailableAtFirstGivesTheDefaultsWithTheReason) {
  gh_.FailNext("GetFileContent", Error(ErrorCode::kUnavailable, "502"));
  auto e = source_.Get("acme/calc");
  EXPECT_EQ(e.config.max_parallel, config::RepoConfig().max_parallel);
  EXPECT_TRUE(e.unavailable);
  EXPECT_NE(e.error.find("cannot read"), std::string::npos);
  gh_.PutFile(kRef, ".github/wavebot.yml", "max_parallel: 5\n");
  EXPECT_EQ(source_.Get("acme/calc").config.max_parallel, 5);  // nothing cached: read again
}

TEST_F(RepoConfigSourceTest, InvalidateKeepsTheOldConfigurationAsFallback) {
  gh_.PutFile(kRef, ".github/wavebot.yml", "max_parallel: 7\n");
  EXPECT_EQ(source_.Get("acme/calc").config.max_parallel, 7);
  source_.Invalidate("acme/calc");
  gh_.FailNext("GetFileContent", Error(ErrorCode::kUnavailable, "502"));
  auto e = source_.Get("acme/calc");
  EXPECT_FALSE(e.unavailable);
  EXPECT_EQ(e.config.max_parallel, 7);
}

}  // namespace
}  // namespace wavebot::engine
