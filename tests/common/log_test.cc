#include "common/log.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace wavebot::log {
namespace {

TEST(LogTest, RedactsRegisteredSecrets) {
  AddSecret("ghs_supersecrettoken123\n");
  EXPECT_EQ(Redact("token=ghs_supersecrettoken123 done"), "token=[REDACTED] done");
  EXPECT_EQ(Redact("nothing here"), "nothing here");
}

TEST(LogTest, RedactsEachLineOfAPemKey) {
  const std::string pem =
      "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAx1234567890abcdefghij\n"
      "ZZZZ0987654321qwertyuiopasdf\n-----END RSA PRIVATE KEY-----\n";
  AddSecret(pem);
  EXPECT_EQ(Redact("leaked ZZZZ0987654321qwertyuiopasdf!"), "leaked [REDACTED]!");
}

// Tokens of known formats are redacted though nobody registered them (a token an agent printed, a key
// in a CI log); look-alikes that are words, or too short to be keys, stay.
TEST(LogTest, RedactsKnownTokenFormatsUnregistered) {
  const std::string ghs = "ghs_" + std::string(36, 'A');
  const std::string pat = "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz";
  const std::string ant = "sk-ant-api03-" + std::string(40, 'x') + "-yyAA";
  const std::string oai = "sk-proj-" + std::string(30, 'Z');
  EXPECT_EQ(Redact("push with " + ghs + "!"), "push with [REDACTED]!");
  EXPECT_EQ(Redact("GITHUB_TOKEN=" + pat), "GITHUB_TOKEN=[REDACTED]");
  EXPECT_EQ(Redact("x-api-key: " + ant + "\nnext"), "x-api-key: [REDACTED]\nnext");
  EXPECT_EQ(Redact("\"" + oai + "\" and ghp_" + std::string(36, '9')), "\"[REDACTED]\" and [REDACTED]");
  EXPECT_EQ(Redact("uses sk-learn and ghs_short and task-" + std::string(30, 'a')),
            "uses sk-learn and ghs_short and task-" + std::string(30, 'a'));
  EXPECT_EQ(Redact("mask" + ghs), "mask" + ghs) << "a prefix inside a word is not a token's start";
}

// A server registers a token per agent run for as long as it runs: the list of short-lived secrets stays
// bounded (oldest dropped), the newest are redacted, and the long-lived ones are never dropped.
TEST(LogTest, ShortLivedSecretsAreBoundedWhileLongLivedOnesStay) {
  AddSecret("long-lived-webhook-secret-0001");
  const size_t before = SecretCount();
  auto token = [](size_t i) { return "run-token-" + std::to_string(i) + "-zzzz"; };
  const size_t n = kMaxShortLivedSecrets * 3;
  for (size_t i = 0; i < n; ++i) AddShortLivedSecret(token(i));
  EXPECT_LE(SecretCount(), before + kMaxShortLivedSecrets);
  EXPECT_EQ(Redact("push " + token(n - 1)), "push [REDACTED]");
  EXPECT_EQ(Redact("push " + token(n - kMaxShortLivedSecrets)), "push [REDACTED]");
  EXPECT_EQ(Redact("old " + token(0)), "old " + token(0)) << "the oldest was dropped";
  EXPECT_EQ(Redact("hook long-lived-webhook-secret-0001"), "hook [REDACTED]");
  // Registering a kept one again makes it the newest: it survives the next wave of registrations.
  AddShortLivedSecret(token(n - kMaxShortLivedSecrets));
  for (size_t i = n; i < n + kMaxShortLivedSecrets - 1; ++i) AddShortLivedSecret(token(i));
  EXPECT_EQ(Redact(token(n - kMaxShortLivedSecrets)), "[REDACTED]");
  EXPECT_EQ(Redact(token(n - kMaxShortLivedSecrets + 1)), token(n - kMaxShortLivedSecrets + 1));
  // A long-lived secret registered as short-lived too is still never dropped.
  AddShortLivedSecret("long-lived-webhook-secret-0001");
  for (size_t i = 0; i < kMaxShortLivedSecrets + 1; ++i) AddShortLivedSecret(token(10 * n + i));
  EXPECT_EQ(Redact("long-lived-webhook-secret-0001"), "[REDACTED]");
  EXPECT_LE(SecretCount(), before + kMaxShortLivedSecrets);
}

TEST(LogTest, IgnoresTooShortSecrets) {
  AddSecret("ab");
  EXPECT_EQ(Redact("about"), "about");
}

TEST(LogTest, JsonLineIsValidJsonWithEscapes) {
  std::string line = FormatJsonLine("2026-01-01T00:00:00.000Z", "info", "wavebot", "a \"quoted\"\nline\x01");
  auto j = nlohmann::json::parse(line);
  EXPECT_EQ(j["msg"], "a \"quoted\"\nline\x01");
  EXPECT_EQ(j["level"], "info");
}

TEST(LogTest, ParseFormatRejectsUnknown) {
  EXPECT_TRUE(ParseFormat("json").ok());
  EXPECT_FALSE(ParseFormat("xml").ok());
  EXPECT_FALSE(Init(Format::kText, "loud").ok());
  EXPECT_TRUE(Init(Format::kText, "info").ok());
}

}  // namespace
}  // namespace wavebot::log
