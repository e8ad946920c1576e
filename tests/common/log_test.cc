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
