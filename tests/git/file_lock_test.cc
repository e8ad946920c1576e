#include "git/file_lock.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <thread>

#include "test_util.h"

namespace wavebot::git {
namespace {

TEST(FileLockTest, ASecondHolderIsRefusedUntilTheFirstLetsGo) {
  testing::TempDir dir;
  const std::string path = (dir.Dir() / "wavebot.lock").string();
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

// A lock released while a forked child still shares its file description (until that child execs) is
// taken once the child lets go, within the patience given.
TEST(FileLockTest, TryAcquireForWaitsForALockReleasedMomentsLater) {
  testing::TempDir dir;
  const std::string path = (dir.Dir() / "wavebot.lock").string();
  auto held = FileLock::TryAcquire(path);
  ASSERT_TRUE(held.ok() && *held);
  std::thread releaser([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // the holder, not the test, waits here
    held->reset();
  });
  auto got = FileLock::TryAcquireFor(path, std::chrono::seconds(10));
  releaser.join();
  ASSERT_TRUE(got.ok());
  EXPECT_NE(*got, nullptr);
  auto busy = FileLock::TryAcquireFor(path, std::chrono::milliseconds(50));
  ASSERT_TRUE(busy.ok());
  EXPECT_EQ(*busy, nullptr) << "a lock still held is refused once the patience is spent";
}

TEST(FileLockTest, HoldersNamesTheProcessThatHasTheFileOpen) {
  testing::TempDir dir;
  const std::string path = (dir.Dir() / "wavebot.lock").string();
  EXPECT_EQ(FileLock::Holders(path), "");
  auto lock = FileLock::TryAcquire(path);
  ASSERT_TRUE(lock.ok() && *lock);
  const std::string holders = FileLock::Holders(path);
  EXPECT_NE(holders.find("pid " + std::to_string(::getpid()) + " ("), std::string::npos) << holders;
  EXPECT_NE(holders.find("git_file_lock_test"), std::string::npos) << holders;
}

}  // namespace
}  // namespace wavebot::git
