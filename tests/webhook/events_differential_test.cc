// ParseEvent (JSON index, json_index.h) against the nlohmann DOM parse it replaced
// (events_dom_reference.cc): for every input both give the same Event, field by field, or the same error.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "events_dom_reference.h"
#include "common/files.h"
#include "support/webhook_examples.h"
#include "webhook/events.h"

namespace wavebot::webhook {
namespace {

using nlohmann::json;

const char* const kExamples = testing::kWebhookExamples;

// Returns "" when both parses agree, else what differs.
std::string Compare(const std::string& name, const std::string& body) {
  auto fast = ParseEvent(name, "delivery-1", body);
  auto dom = ParseEventWithDom(name, "delivery-1", body);
  if (fast.ok() != dom.ok()) {
    return "one parse failed: index " + (fast.ok() ? std::string("ok") : fast.error().ToString()) + ", DOM " +
           (dom.ok() ? std::string("ok") : dom.error().ToString());
  }
  if (!fast.ok()) {
    if (fast.error().code() != dom.error().code() || fast.error().message() != dom.error().message()) {
      return "different errors: index " + fast.error().ToString() + ", DOM " + dom.error().ToString();
    }
    return "";
  }
  return *fast == *dom ? "" : "different events";
}

// Every example of every event in @octokit/webhooks-examples, parsed as its own event and as every other
// handled event (which exercises the missing-field errors), gives identical results.
TEST(EventsDifferentialTest, EveryWebhooksExampleUnderEveryEventName) {
  ASSERT_TRUE(std::filesystem::exists(kExamples))
      << kExamples << " is missing: run `npm ci` in tests/contract (scripts/test.sh does)";
  json index = json::parse(ReadFileOrEmpty(kExamples));
  int own = 0, ok = 0, compared = 0;
  for (const json& entry : index) {
    const std::string event = entry["name"];
    for (const json& example : entry["examples"]) {
      const std::string compact = example.dump();
      const std::string pretty = example.dump(2);
      std::vector<std::string> names = HandledEventNames();
      names.push_back(event);  // also unhandled events: both refuse them alike
      for (const std::string& name : names) {
        for (const std::string* body : {&compact, &pretty}) {
          EXPECT_EQ(Compare(name, *body), "") << name << " parsing an example of " << event;
          ++compared;
        }
        if (name == event && IsHandledEvent(name)) {
          ++own;
          if (ParseEvent(name, "d", compact).ok()) ++ok;
        }
      }
    }
  }
  EXPECT_GT(own, 100);
  EXPECT_EQ(ok, own) << "every example of a handled event parses";
  EXPECT_GT(compared, 10000);
}

TEST(EventsDifferentialTest, SchemaDerivedPayloads) {
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(WAVEBOT_TEST_DATA "/webhooks")) {
    if (entry.path().extension() != ".json") continue;
    const std::string body = ReadFileOrEmpty(entry.path().string());
    for (const std::string& name : HandledEventNames())
      EXPECT_EQ(Compare(name, body), "") << entry.path() << " as " << name;
    ++files;
  }
  EXPECT_EQ(files, 8);
}

// Inputs at the edges of JSON and of the field rules, where a hand-written parser could differ.
TEST(EventsDifferentialTest, EdgeCases) {
  using namespace std::string_literals;
  const std::vector<std::string> bodies = {
      "",
      " ",
      "{}",
      "[]",
      "null",
      "\"s\"",
      "12",
      "{} x",
      "{}   \n",
      "\xEF\xBB\xBF{\"action\":\"opened\",\"issue\":{\"number\":1}}",  // BOM: nlohmann skips it
      "\xEF\xBB{}",
      R"({"action":"opened","issue":{"number":1},"action":"closed"})",  // duplicate key: the last wins
      R"({"action":"opened","issue":{"number":1,"number":null}})",
      R"({"\u0061ction":"opened","issue":{"numb\u0065r":5,"title":"caf\u00e9 \ud83d\ude00 \n\t\"\\\/"}})",
      R"({"action":"opened","issue":{"number":1,"title":"\ud83d"}})",  // lone high surrogate
      R"({"action":"opened","issue":{"number":1,"title":"\udc00"}})",  // lone low surrogate
      "{\"action\":\"opened\",\"issue\":{\"number\":1,\"title\":\"\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80\"}}",
      "{\"action\":\"opened\",\"issue\":{\"number\":1,\"title\":\"\xC0\xAF\"}}",          // overlong
      "{\"action\":\"opened\",\"issue\":{\"number\":1,\"title\":\"\xED\xA0\x80\"}}",      // UTF-8 surrogate
      "{\"action\":\"opened\",\"issue\":{\"number\":1,\"title\":\"\xF4\x90\x80\x80\"}}",  // > U+10FFFF
      "{\"action\":\"opened\",\"issue\":{\"number\":1,\"title\":\"a\x01\"}}",             // control character
      "{\"action\":\"opened\",\"issue\":{\"number\":1,\"title\":\"a\\u0000b\"}}",
      R"({"action":"opened","issue":{"number":-0}})",
      R"({"action":"opened","issue":{"number":9223372036854775807,"id":-9223372036854775808}})",
      R"({"action":"opened","issue":{"number":9223372036854775808,"id":18446744073709551615}})",
      R"({"action":"opened","issue":{"number":18446744073709551616,"id":-9223372036854775809}})",
      R"({"action":"opened","issue":{"number":1.9,"id":-2.5e3}})",
      R"({"action":"opened","issue":{"number":1e19,"id":1E2}})",
      R"({"action":"opened","issue":{"number":1e400}})",
      R"({"action":"opened","issue":{"number":1e-400}})",
      R"({"action":"opened","issue":{"number":01}})",
      R"({"action":"opened","issue":{"number":1.}})",
      R"({"action":"opened","issue":{"number":-}})",
      R"({"action":"opened","issue":{"number":"1"}})",
      R"({"action":"opened","issue":{"number":true}})",
      R"({"action":7,"issue":{"number":1,"labels":[{"name":"a"},"b",3,null,{"name":null},{}],"user":[]}})",
      R"({"action":"opened","issue":{"number":1,"labels":{"name":"a"},"pull_request":null}})",
      R"({"action":"opened","issue":{"number":1,"pull_request":false},"label":{"name":"x"}})",
      R"({"action":"opened","issue":{"number":1},"installation":{"id":1.5},"repository":"r"})",
      R"({"action":"opened","issue":{"number":1},"installation":null,"repository":{"full_name":null}})",
      R"({"action":"opened","issue":{"number":1,}})",
      R"({"action":"opened","issue":{"number":1}]})",
      R"({"action":"opened","issue":{"number" 1}})",
      R"({"action":"opened","issue":{"number":1}} {})",
      R"({"action":tru})",
      R"({"action":nul})",
      std::string("{\"action\":\"opened\"\0}", 20),  // a NUL byte
      // A NUL byte after the document ends it for nlohmann (found by fuzz_events).
      "false\0\0\n  x"s,
      "{\"action\":\"opened\",\"issue\":{\"number\":3}}  \0 trailing"s,
      "12\0"s,
      R"({"ref":"refs/heads/main","after":"abc","commits":[{"id":"1"},{"id":2},[],{"id":"3"}],"pusher":{"name":"p"},"forced":1})",
      R"({"check_run":{"id":1,"head_sha":"s","pull_requests":[{"number":2},{"number":"3"},5],"app":{"id":9}}})",
      R"({"workflow_job":{"id":1,"head_sha":"s","labels":["self-hosted",{"name":"x"}]}})",
      R"({"pull_request":{"number":3,"head":{"ref":"h","sha":"s","repo":null},"base":{"ref":"main"},"merged":true}})",
      R"({"review":{"id":1,"state":"CHANGES_REQUESTED"},"pull_request":{"number":3,"head":{"ref":"h","sha":"s"},"base":{"ref":"b"}}})",
  };
  for (const std::string& body : bodies) {
    for (const std::string& name : HandledEventNames())
      EXPECT_EQ(Compare(name, body), "") << name << ": " << body;
  }
  // Nesting far deeper than any payload: both parse it (neither recurses).
  std::string deep = R"({"action":"opened","issue":{"number":1},"x":)" + std::string(20000, '[') +
                     std::string(20000, ']') + "}";
  EXPECT_EQ(Compare("issues", deep), "");
  ASSERT_TRUE(ParseEvent("issues", "d", deep).ok());
}

}  // namespace
}  // namespace wavebot::webhook
