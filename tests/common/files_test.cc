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

}  // namespace
}  // namespace wavebot
