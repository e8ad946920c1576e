#include "webhook/payload_scan.h"

#include <gtest/gtest.h>

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
