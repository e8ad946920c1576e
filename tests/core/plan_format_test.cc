#include "core/plan_format.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace wavebot::core {
namespace {

Plan SamplePlan() {
  PlanInput in;
  in.epic = 1;
  in.issues = {{1, "Epic", "- [ ] #2\n- [ ] #3\n- [ ] #4\n", true, false, {}},
               {2, "Tokenizer \"fast\" <b>", "", true, false, {"agent-ready"}},
               {3, "Parser", "Depends on #2", true, false, {"agent-ready"}},
               {4, "Blocked one", "Depends on #99", true, false, {"agent-ready"}}};
  return *BuildPlan(in);
}

TEST(PlanFormatTest, JsonHasTheDocumentedFields) {
  auto j = nlohmann::json::parse(PlanToJson(SamplePlan()));
  EXPECT_EQ(j["epic"], 1);
  EXPECT_EQ(j["waves"], nlohmann::json::parse("[[2],[3]]"));
  EXPECT_EQ(j["critical_path"], 2);
  EXPECT_EQ(j["max_width"], 1);
  ASSERT_EQ(j["blocked"].size(), 1u);
  EXPECT_EQ(j["blocked"][0]["ticket"], 4);
  EXPECT_EQ(j["blocked"][0]["reason"], "depends on #99, which does not exist");
  EXPECT_EQ(j["unknown_references"][0]["reference"], "#99");
  EXPECT_EQ(j["tickets"][1]["depends_on"], nlohmann::json::parse("[2]"));
  EXPECT_EQ(j["edges"], nlohmann::json::parse("[[2,3]]"));
}

TEST(PlanFormatTest, TextShowsWavesAndBlocked) {
  std::string text = PlanToText(SamplePlan());
  EXPECT_NE(text.find("WAVE  TICKET"), std::string::npos);
  EXPECT_NE(text.find("2     #3"), std::string::npos);
  EXPECT_NE(text.find("Blocked:"), std::string::npos);
  EXPECT_NE(text.find("depends on #99, which does not exist"), std::string::npos);
}

TEST(PlanFormatTest, MermaidHasSubgraphsEdgesAndEscapedLabels) {
  std::string m = PlanToMermaid(SamplePlan());
  EXPECT_EQ(m.rfind("graph TD\n", 0), 0u);
  EXPECT_NE(m.find("subgraph wave1[\"Wave 1\"]"), std::string::npos);
  EXPECT_NE(m.find("t2[\"#2 Tokenizer #quot;fast#quot; #lt;b#gt;\"]"), std::string::npos);
  EXPECT_NE(m.find("t2 --> t3"), std::string::npos);
  EXPECT_NE(m.find("subgraph blocked"), std::string::npos);
}

TEST(PlanFormatTest, EscapeNeutralisesBreakouts) {
  EXPECT_EQ(EscapeMermaidLabel("a\"]\n--> x"), "a#quot;] --#gt; x");
  EXPECT_EQ(EscapeMermaidLabel("`&`"), "#96;#amp;#96;");
}

TEST(PlanFormatTest, LongTitlesAreTruncatedOnCodePointBoundaries) {
  PlanInput in;
  in.epic = 1;
  std::string title;
  for (int i = 0; i < 80; ++i) title += "\u00e9";
  in.issues = {{1, "Epic", "- [ ] #2\n", true, false, {}}, {2, title, "", true, false, {"agent-ready"}}};
  std::string text = PlanToText(*BuildPlan(in));
  EXPECT_NE(text.find("\u2026"), std::string::npos);
  // Still valid UTF-8 round trip through JSON.
  EXPECT_NO_THROW(nlohmann::json::parse(nlohmann::json(text).dump()));
}

}  // namespace
}  // namespace wavebot::core
