#include "webhook/payload_scan.h"

#include "webhook/json_plain_run.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <random>

namespace wavebot::webhook {
namespace {

TEST(PayloadScanTest, ExtractsRoutingFields) {
  auto s = ScanPayload(R"({"action":"created","issue":{"number":1,"id":99,"repository":{"full_name":"no/pe"}},
    "installation":{"id":12345,"node_id":"x"},"repository":{"id":5,"full_name":"octo/cat","owner":{"id":1}}})");
  ASSERT_TRUE(s.ok()) << s.error().ToString();
  EXPECT_EQ(s->action, "created");
  EXPECT_EQ(s->installation_id, 12345);
  EXPECT_EQ(s->repository, "octo/cat");
}

TEST(PayloadScanTest, RejectsNonObjectsAndInvalidJson) {
  for (const char* body : {"[]", "42", "\"s\"", "null", "", "{", "{\"a\":1} trailing", "{\"a\":}"}) {
    auto s = ScanPayload(body);
    EXPECT_FALSE(s.ok()) << body;
  }
  EXPECT_NE(ScanPayload("[1]").error().message().find("not a JSON object"), std::string::npos);
  EXPECT_NE(ScanPayload("{\"a\":").error().message().find("not valid JSON"), std::string::npos);
}

TEST(PayloadScanTest, RefusesDeepNestingWithoutRecursion) {
  // 100,000 levels: a recursive parser would overflow the stack; the scanner stops at the limit.
  std::string deep = "{\"a\":" + std::string(100000, '[') + std::string(100000, ']') + "}";
  auto s = ScanPayload(deep);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().message(), "JSON nesting deeper than 64 levels");
  std::string objects;
  for (int i = 0; i < 100000; ++i) objects += "{\"a\":";
  auto o = ScanPayload(objects);
  ASSERT_FALSE(o.ok());
  EXPECT_EQ(o.error().message(), "JSON nesting deeper than 64 levels");
  // Exactly at the limit is fine.
  std::string ok = std::string(63, '[');
  ok = "{\"a\":" + ok + std::string(63, ']') + "}";
  EXPECT_TRUE(ScanPayload(ok).ok());
}

}  // namespace
}  // namespace wavebot::webhook

namespace wavebot::webhook {
namespace {

// Differential check against nlohmann's validating parser: the scanner accepts exactly the JSON
// objects nlohmann accepts, on every webhooks example and on thousands of seeded mutations.
TEST(PayloadScanTest, AgreesWithNlohmannOnExamplesAndMutations) {
  std::ifstream in(WAVEBOT_SOURCE_DIR "/tests/contract/node_modules/@octokit/webhooks-examples/api.github.com/index.json");
  ASSERT_TRUE(in.good()) << "run npm ci in tests/contract";
  nlohmann::json index = nlohmann::json::parse(in);
  int examples = 0;
  for (const auto& entry : index) {
    for (const auto& ex : entry["examples"]) {
      std::string body = ex.dump(examples % 2 ? 2 : -1);
      auto s = ScanPayload(body);
      ASSERT_TRUE(s.ok()) << entry["name"] << ": " << s.error().message();
      EXPECT_EQ(s->action, ex.value("action", ""));
      if (ex.contains("installation") && ex["installation"].is_object() && ex["installation"].contains("id")) {
        EXPECT_EQ(s->installation_id, ex["installation"]["id"].get<int64_t>());
      }
      if (ex.contains("repository") && ex["repository"].is_object()) {
        EXPECT_EQ(s->repository, ex["repository"]["full_name"].get<std::string>());
      }
      ++examples;
    }
  }
  EXPECT_GT(examples, 300);

  const std::string seed_doc =
      R"({"action":"x\u00e9\ud83d\ude00","n":[1,-2.5e+3,0,true,false,null],"o":{"k":"v\"\\\/\n"},"é":"ü"})";
  const std::string alphabet = "{}[]\":,\\ -+.0123456789eEtrufalsn\x01\xc3\xa9\xff\xed\xa0\x80u";
  std::mt19937 rng(12345);
  int accepted = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string doc = seed_doc;
    int edits = 1 + static_cast<int>(rng() % 3);
    for (int e = 0; e < edits; ++e) {
      size_t pos = rng() % (doc.size() + 1);
      char ch = alphabet[rng() % alphabet.size()];
      switch (rng() % 3) {
        case 0: doc.insert(pos, 1, ch); break;
        case 1: if (pos < doc.size()) doc.erase(pos, 1); break;
        default: if (pos < doc.size()) doc[pos] = ch; break;
      }
    }
    bool nlohmann_ok = nlohmann::json::accept(doc) && nlohmann::json::parse(doc).is_object();
    bool ours = ScanPayload(doc).ok();
    ASSERT_EQ(ours, nlohmann_ok) << "disagree on: " << doc;
    accepted += ours;
  }
  EXPECT_GT(accepted, 100);  // the mutations exercise both sides
}

// The word-at-a-time skip stops exactly where the byte-by-byte table would, for every byte value at
// every offset of a run (in and across the 8-byte words).
TEST(JsonPlainRunTest, StopsAtTheFirstByteThatIsNotPlain) {
  for (int b = 0; b < 256; ++b) {
    for (size_t pos = 0; pos < 24; ++pos) {
      std::string run(24, 'a');
      run[pos] = static_cast<char>(b);
      const bool plain = b >= 0x20 && b < 0x80 && b != '"' && b != '\\';
      const char* stop = SkipJsonPlainRun(run.data(), run.data() + run.size());
      EXPECT_EQ(stop - run.data(), plain ? 24 : static_cast<ptrdiff_t>(pos)) << "byte " << b << " at " << pos;
    }
  }
  const std::string empty;
  EXPECT_EQ(SkipJsonPlainRun(empty.data(), empty.data()), empty.data());
}

}  // namespace
}  // namespace wavebot::webhook
