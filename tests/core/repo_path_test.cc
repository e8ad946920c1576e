#include "core/repo_path.h"

#include <gtest/gtest.h>

namespace wavebot::core {
namespace {

TEST(RepoPathTest, OneDirectoryPerRepositoryThatStaysInside) {
  EXPECT_EQ(RepoPath("acme/calc"), "acme/calc");
  EXPECT_EQ(RepoPath("Acme-Org/my.repo_2"), "Acme-Org/my.repo_2");
  EXPECT_NE(RepoPath("acme/a"), RepoPath("acme/b"));
  EXPECT_NE(RepoPath("a_b/c"), RepoPath("a/b_c"));  // components, not one joined name
  EXPECT_EQ(RepoPath("../etc"), "_/etc");
  EXPECT_EQ(RepoPath("acme/.."), "acme/_");
  EXPECT_EQ(RepoPath("acme/."), "acme/_");
  EXPECT_EQ(RepoPath("/"), "_/_");
  EXPECT_EQ(RepoPath("acme/x/../../y"), "acme/x_.._.._y");
  EXPECT_EQ(RepoPath("noslash"), "noslash/_");
  EXPECT_EQ(RepoPath("a b/c;d"), "a_b/c_d");
}

}  // namespace
}  // namespace wavebot::core
