// Reading the agent CLIs' own reports (src/agents/agent_output.h) on recorded event lines. The same
// parser runs against the real CLIs in real_cli_*_test.cc; these cover the corners cheaply.
#include "agents/agent_output.h"

#include <gtest/gtest.h>

namespace wavebot::agents {
namespace {

TEST(AgentOutputTest, ClaudeResultGivesTurnsTokensCostAndTranscript) {
  std::string out =
      "warning: something on stderr\n"
      R"j({"type":"assistant","message":{"content":[{"type":"text","text":"Let me look."},{"type":"tool_use","name":"Bash","input":{"command":"ls"}}]}})j" "\n"
      R"j({"type":"result","subtype":"success","is_error":false,"num_turns":3,"total_cost_usd":0.0125,"usage":{"input_tokens":10,"cache_read_input_tokens":90,"cache_creation_input_tokens":0,"output_tokens":7},"result":"All done","api_error_status":null})j" "\n";
  auto r = ParseAgentOutput("claude", out);
  EXPECT_EQ(r.end, AgentEnd::kSuccess);
  EXPECT_EQ(r.turns, 3);
  EXPECT_EQ(r.input_tokens, 100);
  EXPECT_EQ(r.output_tokens, 7);
  EXPECT_DOUBLE_EQ(r.cost_usd, 0.0125);
  EXPECT_TRUE(r.cost_reported);
  EXPECT_EQ(r.transcript, (std::vector<std::string>{"agent: Let me look.", "[Bash] $ ls", "result: All done"}));
}

TEST(AgentOutputTest, ClaudeErrorsByStatusSubtypeAndWording) {
  auto end = [](const std::string& result_line) { return ParseAgentOutput("claude", result_line).end; };
  EXPECT_EQ(end(R"j({"type":"result","subtype":"error_max_turns","is_error":true})j"), AgentEnd::kMaxTurns);
  EXPECT_EQ(end(R"j({"type":"result","subtype":"error_max_budget_usd","is_error":true})j"), AgentEnd::kBudgetExhausted);
  EXPECT_EQ(end(R"j({"type":"result","subtype":"success","is_error":true,"api_error_status":429,"result":"x"})j"),
            AgentEnd::kRateLimited);
  EXPECT_EQ(end(R"j({"type":"result","subtype":"success","is_error":true,"result":"Not logged in · Please run /login"})j"),
            AgentEnd::kAuthFailed);
  EXPECT_EQ(end(R"j({"type":"result","subtype":"success","is_error":true,"result":"Claude AI usage limit reached|1767225600"})j"),
            AgentEnd::kRateLimited);
  EXPECT_EQ(end(R"j({"type":"result","subtype":"error_during_execution","is_error":true,"result":"tool crashed"})j"),
            AgentEnd::kError);
  // No result event (killed, or the CLI died first): unknown, left to the exit status.
  EXPECT_EQ(end(R"j({"type":"assistant","message":{"content":[]}})j"), AgentEnd::kUnknown);
}

TEST(AgentOutputTest, CodexTransientErrorThenCompletedTurnIsSuccess) {
  std::string out =
      R"j({"type":"error","message":"Reconnecting... 1/5 (stream disconnected before completion)"})j" "\n"
      R"j({"type":"item.completed","item":{"type":"command_execution","command":"bash -lc ls","exit_code":0}})j" "\n"
      R"j({"type":"item.completed","item":{"type":"agent_message","text":"Done"}})j" "\n"
      R"j({"type":"turn.completed","usage":{"input_tokens":50,"output_tokens":5}})j" "\n";
  auto r = ParseAgentOutput("codex", out);
  EXPECT_EQ(r.end, AgentEnd::kSuccess);
  EXPECT_EQ(r.turns, 2);
  EXPECT_EQ(r.input_tokens, 50);
  EXPECT_FALSE(r.cost_reported);
}

TEST(AgentOutputTest, CodexFailedTurnTakesItsStatusFromTheMessage) {
  auto r = ParseAgentOutput("codex", R"j({"type":"turn.failed","error":{"message":"unexpected status 403 Forbidden: nope"}})j");
  EXPECT_EQ(r.end, AgentEnd::kAuthFailed);
  EXPECT_EQ(r.api_status, 403);
  r = ParseAgentOutput("codex", R"j({"type":"turn.failed","error":{"message":"exceeded retry limit, last status: 502 Bad Gateway"}})j");
  EXPECT_EQ(r.end, AgentEnd::kApiUnavailable);
  EXPECT_EQ(r.api_status, 502);
}

// "429" in a message is a rate limit only as a status code of its own: Claude Code names the gateway it
// called, whose port may end in 429 (a real CLI's 529 against a fake model API on port 34429 was taken
// for a rate limit).
TEST(AgentOutputTest, A429InsideAnAddressOrNumberIsNotARateLimit) {
  EXPECT_EQ(ClassifyApiError(529, "API Error: 529 Overloaded. This is a server-side issue, usually temporary — try "
                                  "again in a moment. If it persists, check your inference gateway (127.0.0.1:34429)."),
            AgentEnd::kApiUnavailable);
  EXPECT_EQ(ClassifyApiError(0, "request 1429 failed: internal server error"), AgentEnd::kApiUnavailable);
  EXPECT_EQ(ClassifyApiError(0, "API Error: 429 {\"type\":\"error\"}"), AgentEnd::kRateLimited);
  EXPECT_EQ(ClassifyApiError(0, "upstream answered (429)"), AgentEnd::kRateLimited);
  EXPECT_EQ(ClassifyApiError(0, "429"), AgentEnd::kRateLimited);
  EXPECT_EQ(ClassifyApiError(0, "the API answered HTTP 429."), AgentEnd::kRateLimited);
}

TEST(AgentOutputTest, QuotaWinsOverItsOwn429AndOtherPresetsAreNotParsed) {
  EXPECT_EQ(ClassifyApiError(429, "You exceeded your current quota, please check your plan and billing details."),
            AgentEnd::kQuotaExhausted);
  EXPECT_EQ(ClassifyApiError(0, "segfault in tool"), AgentEnd::kError);
  EXPECT_EQ(ParseAgentOutput("script", R"j({"type":"result","subtype":"success"})j").end, AgentEnd::kUnknown);
}

}  // namespace
}  // namespace wavebot::agents
