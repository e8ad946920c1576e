#include "webhook/router.h"

#include <gtest/gtest.h>

namespace wavebot::webhook {
namespace {

TEST(RouterTest, ExactActionBeatsWildcardAndUnknownIsNull) {
  Router r;
  std::string hit;
  r.Register("issues", "*", [&](const Event&) { hit = "any"; return OkStatus(); });
  r.Register("issues", "opened", [&](const Event&) { hit = "opened"; return OkStatus(); });
  Event e;
  EXPECT_TRUE((*r.Find("issues", "opened"))(e).ok());
  EXPECT_EQ(hit, "opened");
  EXPECT_TRUE((*r.Find("issues", "closed"))(e).ok());
  EXPECT_EQ(hit, "any");
  EXPECT_EQ(r.Find("push", ""), nullptr);
  ASSERT_EQ(r.Routes().size(), 2u);
  EXPECT_EQ(r.Routes()[0], std::make_pair(std::string("issues"), std::string("*")));
}

}  // namespace
}  // namespace wavebot::webhook
