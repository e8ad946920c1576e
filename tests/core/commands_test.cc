#include "core/commands.h"

#include <gtest/gtest.h>

namespace wavebot::core {
namespace {

struct CmdCase {
  const char* name;
  const char* comment;
  std::vector<CommandKind> want;
};

class CommandParserTest : public ::testing::TestWithParam<CmdCase> {};

TEST_P(CommandParserTest, Recognises) {
  std::vector<CommandKind> got;
  for (const auto& c : ParseCommands(GetParam().comment)) got.push_back(c.kind);
  EXPECT_EQ(got, GetParam().want) << GetParam().comment;
}

const CmdCase kCmdCases[] = {
    {"start", "/wave start", {CommandKind::kStart}},
    {"start_trailing_space", "/wave start   ", {CommandKind::kStart}},
    {"case_insensitive", "/Wave Start", {CommandKind::kStart}},
    {"after_text_line", "Thanks!\n/wave start", {CommandKind::kStart}},
    {"plan", "/wave plan", {CommandKind::kPlan}},
    {"status", "/wave status", {CommandKind::kStatus}},
    {"pause_resume", "/wave pause\n\n/wave resume", {CommandKind::kPause, CommandKind::kResume}},
    {"cancel", "/wave cancel", {CommandKind::kCancel}},
    {"retry", "/wave retry #12", {CommandKind::kRetry}},
    {"fix", "/wave fix", {CommandKind::kFix}},
    {"rebase", "/wave rebase", {CommandKind::kRebase}},
    {"help", "/wave help", {CommandKind::kHelp}},
    {"bare_wave_is_help", "/wave", {CommandKind::kHelp}},
    {"unknown_is_help", "/wave dance", {CommandKind::kHelp}},
    {"mid_line_ignored", "please /wave start now", {}},
    {"prefix_word_ignored", "/waves start", {}},
    {"inline_code_ignored", "`/wave start`", {}},
    {"fenced_code_ignored", "```\n/wave start\n```", {}},
    {"indented_code_ignored", "text\n\n    /wave start\n", {}},
    {"quote_ignored", "> /wave start", {}},
    {"html_comment_ignored", "<!-- /wave start -->", {}},
    {"list_item_counts", "- /wave start", {CommandKind::kStart}},
    {"no_command", "LGTM, ship it", {}},
    {"retry_without_ticket", "/wave retry", {CommandKind::kHelp}},
    {"retry_bad_ticket", "/wave retry 12", {CommandKind::kHelp}},
    {"extra_args", "/wave pause now", {CommandKind::kHelp}},
    {"start_bad_option", "/wave start --fast", {CommandKind::kHelp}},
};

INSTANTIATE_TEST_SUITE_P(Cases, CommandParserTest, ::testing::ValuesIn(kCmdCases),
                         [](const ::testing::TestParamInfo<CmdCase>& p) { return p.param.name; });

TEST(CommandParserTest, StartOptions) {
  auto cmds = ParseCommands("/wave start --eager --max-parallel 3");
  ASSERT_EQ(cmds.size(), 1u);
  EXPECT_TRUE(cmds[0].eager);
  EXPECT_EQ(cmds[0].max_parallel, 3);
  cmds = ParseCommands("/wave start --max-parallel=7");
  EXPECT_EQ(cmds[0].max_parallel, 7);
  cmds = ParseCommands("/wave start --max-parallel 0");
  EXPECT_EQ(cmds[0].kind, CommandKind::kHelp);
  EXPECT_NE(cmds[0].problem.find("from 1 to 256"), std::string::npos);
  cmds = ParseCommands("/wave start --max-parallel");
  EXPECT_EQ(cmds[0].kind, CommandKind::kHelp);
}

TEST(CommandParserTest, RetryTicketAndProblems) {
  auto cmds = ParseCommands("/wave retry #42");
  EXPECT_EQ(cmds[0].ticket, 42);
  cmds = ParseCommands("/wave frobnicate");
  EXPECT_EQ(cmds[0].problem, "unknown command 'frobnicate'");
  EXPECT_EQ(cmds[0].line, "/wave frobnicate");
}

TEST(CommandTargetTest, CommandsApplyWhereTheyMakeSense) {
  EXPECT_TRUE(CommandAppliesTo(CommandKind::kStart, CommandTarget::kEpic));
  EXPECT_FALSE(CommandAppliesTo(CommandKind::kStart, CommandTarget::kBotPullRequest));
  EXPECT_TRUE(CommandAppliesTo(CommandKind::kFix, CommandTarget::kBotPullRequest));
  EXPECT_FALSE(CommandAppliesTo(CommandKind::kFix, CommandTarget::kEpic));
  EXPECT_TRUE(CommandAppliesTo(CommandKind::kHelp, CommandTarget::kOther));
  EXPECT_FALSE(CommandAppliesTo(CommandKind::kRetry, CommandTarget::kOther));
}

TEST(AuthorisationTest, WriteOrAboveByDefault) {
  EXPECT_TRUE(MayCommand("a", ParsePermission("admin"), "write", {}));
  EXPECT_TRUE(MayCommand("a", ParsePermission("maintain"), "write", {}));
  EXPECT_TRUE(MayCommand("a", ParsePermission("write"), "write", {}));
  EXPECT_TRUE(MayCommand("a", ParsePermission("push"), "write", {}));
  EXPECT_FALSE(MayCommand("a", ParsePermission("triage"), "write", {}));
  EXPECT_FALSE(MayCommand("a", ParsePermission("read"), "write", {}));
  EXPECT_FALSE(MayCommand("a", ParsePermission("none"), "write", {}));
  EXPECT_FALSE(MayCommand("a", ParsePermission("bogus"), "write", {}));
}

TEST(AuthorisationTest, StricterMinimumAndAllowList) {
  EXPECT_FALSE(MayCommand("bob", Permission::kWrite, "maintain", {}));
  EXPECT_TRUE(MayCommand("bob", Permission::kMaintain, "maintain", {}));
  EXPECT_FALSE(MayCommand("bob", Permission::kMaintain, "admin", {}));
  EXPECT_TRUE(MayCommand("Bob", Permission::kRead, "admin", {"bob"}));
  // A configured minimum below write is raised to write.
  EXPECT_FALSE(MayCommand("eve", Permission::kRead, "read", {}));
}

TEST(HelpTextTest, ListsEveryCommand) {
  std::string help = CommandHelpText();
  for (const char* c : {"start", "plan", "status", "pause", "resume", "cancel", "retry", "fix", "rebase"}) {
    EXPECT_NE(help.find(std::string("/wave ") + c), std::string::npos) << c;
  }
}

}  // namespace
}  // namespace wavebot::core
