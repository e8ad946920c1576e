// The real Codex CLI (@openai/codex, pinned) through `wavebot run-ticket` against the fake OpenAI
// Responses API: the bare preset commits the agent's work; each failure Codex reports in its --json
// events ends as its own outcome (docs/agents.md, "Failures").
#include <gtest/gtest.h>

#include "agents/real_cli_fixture.h"

namespace wavebot::testing {
namespace {

using nlohmann::json;

TEST_F(RealCliTest, CodexBarePresetCommitsWhatTheAgentWroteWithTokensAndTurns) {
  StartApi({{"steps",
             {{{"bash", "mkdir -p src && echo 'hello from codex' > src/hello.txt"},
               {"usage", {{"input_tokens", 900}, {"output_tokens", 60}}}},
              {{"text", "Created src/hello.txt."}, {"usage", {{"input_tokens", 1000}, {"output_tokens", 25}}}}}}});
  auto r = RunTicket("codex", 61, "# Ticket #61\n\nCreate src/hello.txt saying hello.\n");
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_EQ(r.result["result"], "done");
  EXPECT_EQ(r.result["head_sha"], RemoteSha(Branch(61)));
  EXPECT_EQ(r.result["changed_files"], json::array({"A src/hello.txt"}));
  EXPECT_EQ(ShellOutput("git --git-dir=" + (root_ / "octo/demo.git").string() + " show " + Branch(61) +
                        ":src/hello.txt"),
            "hello from codex");
  // Codex reports tokens (summed over the turn's responses) but no cost.
  EXPECT_EQ(r.result["input_tokens"], 1900);
  EXPECT_EQ(r.result["output_tokens"], 85);
  EXPECT_EQ(r.result["turns"], 2);  // one command, one answer
  EXPECT_FALSE(r.result["cost_reported"].get<bool>());
  EXPECT_NE(r.result["log_tail"].get<std::string>().find("$ "), std::string::npos) << Describe(r);
  EXPECT_EQ(r.log.find(kFakeKey), std::string::npos);
  auto reqs = Requests();
  ASSERT_GE(reqs.size(), 2u);
  for (const auto& q : reqs) {
    EXPECT_EQ(q["path"], "/v1/responses");
    EXPECT_EQ(q["headers"].value("authorization", ""), std::string("Bearer ") + kFakeKey);
  }
}

struct FailureCase {
  const char* name;
  int status;
  json body;
  const char* result;
  int exit_code;
};

class CodexFailureTest : public RealCliTest, public ::testing::WithParamInterface<FailureCase> {};

TEST_P(CodexFailureTest, EndsAsItsOwnOutcomeAndPushesNothing) {
  const auto& c = GetParam();
  StartApi(Error(c.status, c.body, {{"retry-after", "0"}}));
  auto r = RunTicket("codex", 70, "# Ticket #70\n\nCreate a.txt.\n");
  EXPECT_EQ(r.exit_code, c.exit_code) << Describe(r);
  EXPECT_EQ(r.result["result"], c.result) << Describe(r);
  EXPECT_EQ(RemoteSha(Branch(70)), "");
  EXPECT_GE(Requests().size(), 1u);
}

json OpenAiError(const char* type, const char* code, const char* message) {
  return {{"error", {{"type", type}, {"code", code}, {"message", message}}}};
}

INSTANTIATE_TEST_SUITE_P(
    Codex, CodexFailureTest,
    ::testing::Values(
        FailureCase{"RateLimited429", 429, OpenAiError("requests", "rate_limit_exceeded", "Rate limit reached"),
                    "rate_limited", 13},
        FailureCase{"AtCapacity503", 503,
                    OpenAiError("server_error", "server_is_overloaded", "Selected model is at capacity"),
                    "api_unavailable", 18},
        FailureCase{"ServerError500", 500, OpenAiError("server_error", "server_error", "internal"), "api_unavailable",
                    18},
        FailureCase{"BadKey401", 401, OpenAiError("invalid_request_error", "invalid_api_key", "Incorrect API key"),
                    "auth_failed", 19},
        FailureCase{"Quota429", 429,
                    OpenAiError("insufficient_quota", "insufficient_quota",
                                "You exceeded your current quota, please check your plan and billing details."),
                    "quota_exhausted", 20}),
    [](const ::testing::TestParamInfo<FailureCase>& i) { return std::string(i.param.name); });

// The case: a ticket about rate limits whose run fails on HTTP 500s is not rate-limited.
TEST_F(RealCliTest, CodexTicketAboutRateLimitsFailingOn500IsApiUnavailable) {
  StartApi(Error(500, OpenAiError("server_error", "server_error", "internal")));
  auto r = RunTicket("codex", 71,
                     "# Ticket #71\n\nHandle rate limits: on 429 Too Many Requests (rate limit exceeded, "
                     "quota exceeded, usage limit) back off.\n");
  EXPECT_EQ(r.exit_code, 18) << Describe(r);
  EXPECT_EQ(r.result["result"], "api_unavailable");
}

TEST_F(RealCliTest, CodexWithoutAKeyIsAuthFailedBeforeItRuns) {
  StartApi({{"steps", {{{"text", "never asked"}}}}});
  auto r = RunTicket("codex", 72, "# Ticket #72\n", {}, /*with_key=*/false);
  EXPECT_EQ(r.exit_code, 19) << Describe(r);
  EXPECT_NE(r.result["reason"].get<std::string>().find("OPENAI_API_KEY or CODEX_API_KEY"), std::string::npos);
  EXPECT_TRUE(Requests().empty());
}

}  // namespace
}  // namespace wavebot::testing
