#include "git/file_lock.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include "test_util.h"

namespace wavebot::git {
namespace {

TEST(FileLockTest, ASecondHolderIsRefusedUntilTheFirstLetsGo) {
  testing::TempDir dir;
  const std::string path = (dir.path() / "wavebot.lock").string();
  auto first = FileLock::TryAcquire(path);
  ASSERT_TRUE(first.ok());
  ASSERT_NE(*first, nullptr);
  auto second = FileLock::TryAcquire(path);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(*second, nullptr);
  first->reset();
  auto third = FileLock::TryAcquire(path);
  ASSERT_TRUE(third.ok());
  EXPECT_NE(*third, nullptr);
}

TEST(FileLockTest, HoldersNamesTheProcessThatHasTheFileOpen) {
  testing::TempDir dir;
  const std::string path = (dir.path() / "wavebot.lock").string();
  EXPECT_EQ(FileLock::Holders(path), "");
  auto lock = FileLock::TryAcquire(path);
  ASSERT_TRUE(lock.ok() && *lock);
  const std::string holders = FileLock::Holders(path);
  EXPECT_NE(holders.find("pid " + std::to_string(::getpid()) + " ("), std::string::npos) << holders;
  EXPECT_NE(holders.find("git_file_lock_test"), std::string::npos) << holders;
}

}  // namespace
}  // namespace wavebot::git
