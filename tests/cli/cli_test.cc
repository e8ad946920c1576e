#include <gtest/gtest.h>

#include "support/subprocess.h"

namespace wavebot {
namespace {

using testing::RunShell;
const std::string kBin = WAVEBOT_BINARY;

TEST(CliTest, HelpListsEverySubcommand) {
  auto r = RunShell(kBin + " --help 2>&1");
  EXPECT_EQ(r.exit_code, 0);
  for (const char* cmd : {"plan", "serve", "sandbox", "run-ticket", "doctor", "version"}) {
    EXPECT_NE(r.out.find(cmd), std::string::npos) << cmd;
  }
}

TEST(CliTest, EverySubcommandHasHelp) {
  for (const char* cmd : {"plan", "serve", "sandbox", "run-ticket", "doctor", "version"}) {
    auto r = RunShell(kBin + " " + cmd + " --help 2>&1");
    EXPECT_EQ(r.exit_code, 0) << cmd << ": " << r.out;
  }
}

TEST(CliTest, NoSubcommandIsAUsageError) {
  auto r = RunShell(kBin + " 2>&1");
  EXPECT_EQ(r.exit_code, 2);
  r = RunShell(kBin + " frobnicate 2>&1");
  EXPECT_EQ(r.exit_code, 2);
}

TEST(CliTest, VersionPrintsTheProjectVersion) {
  auto r = RunShell(kBin + " version");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out, std::string("wavebot ") + WAVEBOT_VERSION + "\n");
}

TEST(CliTest, BadLogLevelIsAUsageError) {
  auto r = RunShell(kBin + " --log-level loud version 2>&1");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.out.find("unknown log level 'loud'"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace wavebot
