#include "common/files.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>

namespace wavebot {
namespace {

TEST(SplitListTest, TrimsAndDropsEmptyItems) {
  EXPECT_EQ(SplitList("a, b,,c ", ','), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(SplitList("/usr/bin::/bin", ':'), (std::vector<std::string>{"/usr/bin", "/bin"}));
  EXPECT_TRUE(SplitList("", ',').empty());
  EXPECT_TRUE(SplitList(" , ", ',').empty());
}

TEST(WriteFileAtomicallyTest, WritesWholeAndPrivate) {
  const std::string path = (std::filesystem::temp_directory_path() / ("wavebot-files-test-" + std::to_string(::getpid()))).string();
  ASSERT_TRUE(WriteFileAtomically(path, "one\n").ok());
  ASSERT_TRUE(WriteFileAtomically(path, "two\n").ok());  // replaced whole
  EXPECT_EQ(ReadFileOrEmpty(path), "two\n");
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  std::filesystem::remove(path);
  EXPECT_EQ(ReadFileOrEmpty(path), "");
  EXPECT_FALSE(WriteFileAtomically("/nonexistent-dir/x", "y").ok());
}

// Restores the umask a test changed.
class ScopedUmask {
 public:
  explicit ScopedUmask(mode_t mask) : old_(::umask(mask)) {}
  ~ScopedUmask() { ::umask(old_); }

 private:
  mode_t old_;
};

mode_t Mode(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? st.st_mode & 0777 : 01000;
}

TEST(PrivateFilesTest, DirectoriesAre0700AndFiles0600WhateverTheUmask) {
  const auto root = std::filesystem::temp_directory_path() / ("wavebot-private-test-" + std::to_string(::getpid()));
  std::filesystem::remove_all(root);
  for (mode_t mask : {mode_t{0}, mode_t{022}, mode_t{077}}) {
    ScopedUmask scoped(mask);
    const std::string dir = (root / ("m" + std::to_string(mask)) / "data").string();
    ASSERT_TRUE(MakePrivateDirectory(dir).ok());
    EXPECT_EQ(Mode(dir), 0700u) << "umask " << mask;
    const std::string file = dir + "/log";
    ASSERT_TRUE(MakePrivateFile(file).ok());
    EXPECT_EQ(Mode(file), 0600u) << "umask " << mask;
  }
  // Existing ones made laxer are tightened; a file's content stays.
  const std::string lax_dir = (root / "lax").string();
  std::filesystem::create_directories(lax_dir);
  ::chmod(lax_dir.c_str(), 0755);
  ASSERT_TRUE(WriteFileAtomically(lax_dir + "/f", "kept").ok());
  ::chmod((lax_dir + "/f").c_str(), 0644);
  ASSERT_TRUE(MakePrivateDirectory(lax_dir).ok());
  ASSERT_TRUE(MakePrivateFile(lax_dir + "/f").ok());
  EXPECT_EQ(Mode(lax_dir), 0700u);
  EXPECT_EQ(Mode(lax_dir + "/f"), 0600u);
  EXPECT_EQ(ReadFileOrEmpty(lax_dir + "/f"), "kept");
  EXPECT_FALSE(MakePrivateFile("/nonexistent-dir/x").ok());
  std::filesystem::remove_all(root);
}

}  // namespace
}  // namespace wavebot
