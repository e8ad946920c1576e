#include "sandbox/sim_closing.h"

#include <gtest/gtest.h>

namespace wavebot::sandbox::sim {
namespace {

using V = std::vector<int64_t>;

TEST(ClosingReferencesTest, EachKeywordLinksTheOneReferenceAfterIt) {
  EXPECT_EQ(ClosingReferences("Closes #1, closes #2, fixes #3 and resolved #4.", "octo/demo"), (V{1, 2, 3, 4}));
  EXPECT_EQ(ClosingReferences("This PR FIXES #7 and Resolves: #8", "octo/demo"), (V{7, 8}));
  EXPECT_EQ(ClosingReferences("close #5\nfixed #6\r\nresolve #9", "octo/demo"), (V{5, 6, 9}));
  EXPECT_EQ(ClosingReferences("Closes #1, #2 and #3", "octo/demo"), (V{1})) << "one reference per keyword";
  EXPECT_EQ(ClosingReferences("Closes #2. Also closes #2.", "octo/demo"), (V{2}));
  EXPECT_EQ(ClosingReferences("Closes Octo/Demo#12, closes other/repo#13", "octo/demo"), (V{12}));
}

TEST(ClosingReferencesTest, NotAKeywordOrNotAReferenceLinksNothing) {
  EXPECT_TRUE(ClosingReferences("Implements #2. Part of #1.", "octo/demo").empty());
  EXPECT_TRUE(ClosingReferences("unfixed #3, prefixes #4, closest #5", "octo/demo").empty());
  EXPECT_TRUE(ClosingReferences("Closes#3, closes # 4, fixes #5a, closes issue #6", "octo/demo").empty());
  EXPECT_TRUE(ClosingReferences("", "octo/demo").empty());
  EXPECT_TRUE(ClosingReferences("closes", "octo/demo").empty());
}

// GitHub links nothing from a list item; the stand-in links nothing from quotes or code blocks either.
TEST(ClosingReferencesTest, ListItemsQuotesAndCodeBlocksLinkNothing) {
  EXPECT_TRUE(ClosingReferences("- Closes #1\n* closes #2\n+ fixes #3\n1. fixes #4\n> closes #5\n", "octo/demo").empty());
  EXPECT_EQ(ClosingReferences("```\nCloses #1\n```\nCloses #2\n~~~\nfixes #3", "octo/demo"), (V{2}));
}

}  // namespace
}  // namespace wavebot::sandbox::sim
