#include "core/links.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace wavebot::core {
namespace {

struct LinkCase {
  const char* name;
  const char* markdown;
  std::vector<std::string> want;  // FormatRef of each dependency, in order
};

std::vector<std::string> Deps(const std::string& md) {
  std::vector<std::string> out;
  for (const auto& r : ParseLinks(md).depends_on) out.push_back(FormatRef(r));
  return out;
}

class LinkParserTest : public ::testing::TestWithParam<LinkCase> {};

TEST_P(LinkParserTest, FindsExactlyTheDependencies) {
  const LinkCase& c = GetParam();
  EXPECT_EQ(Deps(c.markdown), c.want) << "markdown:\n" << c.markdown;
}

const LinkCase kCases[] = {
    {"plain", "Depends on #12", {"#12"}},
    {"lowercase", "depends on #12", {"#12"}},
    {"uppercase", "DEPENDS ON #12", {"#12"}},
    {"colon_list", "depends on: #12, #14", {"#12", "#14"}},
    {"and_list", "Depends on #1 and #2", {"#1", "#2"}},
    {"ampersand", "Depends on #1 & #2", {"#1", "#2"}},
    {"semicolon", "Depends on #1; #2", {"#1", "#2"}},
    {"oxford", "Depends on #1, #2, and #3.", {"#1", "#2", "#3"}},
    {"blocked_by", "Blocked by #7", {"#7"}},
    {"blocked_by_cross_repo", "Blocked by owner/repo#7", {"owner/repo#7"}},
    {"requires", "Requires #3", {"#3"}},
    {"after", "After #5", {"#5"}},
    {"after_period", "After #5.", {"#5"}},
    {"depend_on", "We depend on #4", {"#4"}},
    {"hyphenated", "depends-on: #4", {"#4"}},
    {"blocked_hyphen", "blocked-by #9", {"#9"}},
    {"full_url", "Depends on https://github.com/acme/widgets/issues/12", {"acme/widgets#12"}},
    {"pull_url", "Depends on https://github.com/acme/widgets/pull/13", {"acme/widgets#13"}},
    {"ghes_url", "Requires https://ghe.example.com/acme/widgets/issues/5#issuecomment-1", {"acme/widgets#5"}},
    {"url_trailing_slash", "After https://github.com/a/b/issues/6/", {"a/b#6"}},
    {"markdown_link_to_issue", "Depends on [the parser](https://github.com/a/b/issues/8)", {"a/b#8"}},
    {"angle_autolink", "Depends on <https://github.com/a/b/issues/9>", {"a/b#9"}},
    {"inline_code_ignored", "`Depends on #12`", {}},
    {"inline_code_partial", "Depends on `#12`", {}},
    {"fenced_code_ignored", "```\nDepends on #12\n```", {}},
    {"indented_code_ignored", "Text\n\n    Depends on #12\n", {}},
    {"quote_ignored", "> Depends on #12", {}},
    {"nested_quote_ignored", "> > Blocked by #3", {}},
    {"html_comment_ignored", "<!-- Depends on #12 -->", {}},
    {"inline_html_comment_ignored", "Some text <!-- Depends on #12 --> here", {}},
    {"strikethrough_ignored", "~~Depends on #12~~", {}},
    {"no_keyword", "See #12 for context", {}},
    {"afterwards_is_not_after", "Afterwards #5 may help", {}},
    {"requirement_is_not_requires", "Requirement #5", {}},
    {"keyword_inside_word", "Undepends on #5", {}},
    {"number_with_letters", "Depends on #12abc", {}},
    {"zero_is_not_an_issue", "Depends on #0", {}},
    {"duplicates_once", "Depends on #3\n\nAlso depends on #3 and #4", {"#3", "#4"}},
    {"multiple_sentences", "Blocked by #1. Requires #2. After #3.", {"#1", "#2", "#3"}},
    {"list_items", "- Depends on #1\n- Blocked by #2", {"#1", "#2"}},
    {"bold_keyword", "**Depends on:** #11", {"#11"}},
    {"heading", "## Depends on #4", {"#4"}},
    {"softbreak_between", "Depends on\n#4", {"#4"}},
    {"stops_at_prose", "Depends on #4 because of the parser, not #5", {"#4"}},
    {"after_prose_not_ref", "After the merge of #5", {}},
    {"non_issue_url", "Depends on https://github.com/a/b/wiki/Page", {}},
    {"table_cell", "| Depends on #7 | x |\n|---|---|\n| a | b |", {"#7"}},
    {"empty", "", {}},
    {"or_list", "Depends on #1 or #2", {"#1", "#2"}},
    {"cross_repo_dotted", "Requires my-org/my.repo_x#42", {"my-org/my.repo_x#42"}},
    {"crlf_lines", "Depends on #1\r\nBlocked by #2\r\n", {"#1", "#2"}},
};

INSTANTIATE_TEST_SUITE_P(Cases, LinkParserTest, ::testing::ValuesIn(kCases),
                         [](const ::testing::TestParamInfo<LinkCase>& p) { return p.param.name; });

TEST(TaskListTest, ItemsStartingWithAReferenceAreMembers) {
  auto links = ParseLinks(
      "Epic\n\n- [ ] #12 Parser\n- [x] #13\n- [X] other/repo#4 thing\n- [ ] no ref here #14\n"
      "- plain item #15\n* [ ] https://github.com/a/b/issues/16\n\n```\n- [ ] #17\n```\n> - [ ] #18\n");
  std::vector<std::string> got;
  for (const auto& r : links.task_list) got.push_back(FormatRef(r));
  EXPECT_EQ(got, (std::vector<std::string>{"#12", "#13", "other/repo#4", "a/b#16"}));
}

TEST(TaskListTest, NestedListsAndDuplicates) {
  auto links = ParseLinks("- [ ] #1\n  - [ ] #2\n- [ ] #1\n");
  ASSERT_EQ(links.task_list.size(), 2u);
  EXPECT_EQ(links.task_list[0].number, 1);
  EXPECT_EQ(links.task_list[1].number, 2);
}

TEST(IssueUrlTest, ParsesAndRejects) {
  IssueRef ref;
  EXPECT_TRUE(ParseIssueUrl("https://github.com/o/r/issues/3", &ref));
  EXPECT_EQ(ref, (IssueRef{"o/r", 3}));
  EXPECT_FALSE(ParseIssueUrl("https://github.com/o/r/issues/", &ref));
  EXPECT_FALSE(ParseIssueUrl("https://github.com/o/r/issues/3/comments", &ref));
  EXPECT_FALSE(ParseIssueUrl("ftp://github.com/o/r/issues/3", &ref));
  EXPECT_FALSE(ParseIssueUrl("https://github.com/o/r/commit/3", &ref));
}

TEST(SameRepoTest, IsCaseInsensitive) {
  EXPECT_TRUE(SameRepo("Acme/Widgets", "acme/widgets"));
  EXPECT_FALSE(SameRepo("acme/widgets", "acme/widget"));
}

}  // namespace
}  // namespace wavebot::core
