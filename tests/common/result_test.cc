#include "common/result.h"

#include <gtest/gtest.h>

namespace wavebot {
namespace {

Result<int> Half(int x) {
  if (x % 2 != 0) return Error(ErrorCode::kInvalidArgument, "odd");
  return x / 2;
}

Status HalfTwice(int x, int* out) {
  auto a = Half(x);
  if (!a.ok()) return a.error();
  WAVEBOT_RETURN_IF_ERROR(Half(*a));
  *out = *Half(*a);
  return OkStatus();
}

TEST(ResultTest, HoldsValueOrError) {
  auto ok = Half(4);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(*ok, 2);
  auto bad = Half(3);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(bad.error().ToString(), "invalid argument: odd");
  EXPECT_EQ(bad.value_or(7), 7);
}

TEST(ResultTest, ReturnIfErrorPropagates) {
  int out = 0;
  EXPECT_TRUE(HalfTwice(8, &out).ok());
  EXPECT_EQ(out, 2);
  Status st = HalfTwice(6, &out);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().message(), "odd");
}

TEST(ResultTest, WrapAddsContext) {
  Error e(ErrorCode::kNotFound, "issue #3");
  EXPECT_EQ(e.Wrap("plan").message(), "plan: issue #3");
  EXPECT_EQ(e.Wrap("plan").code(), ErrorCode::kNotFound);
}

}  // namespace
}  // namespace wavebot
