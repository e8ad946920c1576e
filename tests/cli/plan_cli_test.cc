// `wavebot plan` as a user runs it: the real binary, real files, exit codes.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "support/subprocess.h"

namespace wavebot {
namespace {

using testing::RunShell;

const std::string kBin = WAVEBOT_BINARY;
const std::string kExample = std::string(WAVEBOT_SOURCE_DIR) + "/examples/epic.json";

class PlanCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("wavebot-plan-cli-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string Write(const std::string& name, const std::string& text) {
    auto p = (dir_ / name).string();
    std::ofstream(p) << text;
    return p;
  }
  std::filesystem::path dir_;
};

TEST_F(PlanCliTest, ExampleAsJson) {
  auto r = RunShell(kBin + " plan --from " + kExample + " --epic 1 --format json 2>/dev/null");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["epic"], 1);
  EXPECT_EQ(j["waves"], nlohmann::json::parse("[[2,5,9],[3],[4,7],[6],[8]]"));
  EXPECT_EQ(j["critical_path"], 5);
  EXPECT_EQ(j["max_width"], 3);
  ASSERT_EQ(j["blocked"].size(), 1u);
  EXPECT_EQ(j["blocked"][0]["ticket"], 10);
  EXPECT_EQ(j["done"], nlohmann::json::parse("[11]"));
}

TEST_F(PlanCliTest, TextAndMermaid) {
  auto text = RunShell(kBin + " plan --from " + kExample + " --epic 1 2>&1");
  ASSERT_EQ(text.exit_code, 0) << text.out;
  EXPECT_NE(text.out.find("9 tickets, 5 waves, critical path 5, max width 3"), std::string::npos) << text.out;
  auto mermaid = RunShell(kBin + " plan --from " + kExample + " --epic 1 --format mermaid 2>&1");
  ASSERT_EQ(mermaid.exit_code, 0);
  EXPECT_EQ(mermaid.out.rfind("graph TD", 0), 0u);
  EXPECT_NE(mermaid.out.find("t3[\"#3 Parser\"]"), std::string::npos);
}

TEST_F(PlanCliTest, ReadsStdinAndGhApiArray) {
  auto path = Write("issues.json",
                    R"([{"number": 1, "title": "E", "body": "- [ ] #2\n- [ ] #3", "state": "open", "labels": []},
                        {"number": 2, "title": "A", "body": "", "state": "open", "labels": [{"name": "agent-ready"}]},
                        {"number": 3, "title": "B", "body": "Depends on #2", "state": "open", "labels": [{"name": "agent-ready"}]}])");
  auto r = RunShell(kBin + " plan --from - --epic 1 --format json < " + path + " 2>/dev/null");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_EQ(nlohmann::json::parse(r.out)["waves"], nlohmann::json::parse("[[2],[3]]"));
}

TEST_F(PlanCliTest, CycleExitsThreeAndPrintsIt) {
  auto path = Write("cycle.json",
                    R"({"issues": [{"number": 1, "body": "- [ ] #3\n- [ ] #5"},
                        {"number": 3, "body": "Depends on #5", "labels": ["agent-ready"]},
                        {"number": 5, "body": "Depends on #3", "labels": ["agent-ready"]}]})");
  auto r = RunShell(kBin + " plan --from " + path + " --epic 1 2>&1");
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.out.find("dependency cycle: #3 \u2192 #5 \u2192 #3"), std::string::npos) << r.out;
}

TEST_F(PlanCliTest, BadInputExitsTwoWithClearError) {
  auto bad = Write("bad.json", "[{\"number\": 1,");
  auto r = RunShell(kBin + " plan --from " + bad + " --epic 1 2>&1");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.out.find("invalid JSON"), std::string::npos) << r.out;

  r = RunShell(kBin + " plan --from " + kExample + " --epic 99 2>&1");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.out.find("epic #99 is not among the issues"), std::string::npos) << r.out;

  r = RunShell(kBin + " plan --from /nonexistent/file.json --epic 1 2>&1");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.out.find("cannot read /nonexistent/file.json"), std::string::npos) << r.out;

  r = RunShell(kBin + " plan --from " + kExample + " --epic 1 --format yaml 2>&1");
  EXPECT_EQ(r.exit_code, 2);
  r = RunShell(kBin + " plan --from " + kExample + " 2>&1");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.out.find("--epic is required"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace wavebot
