#include "webhook/signature.h"

#include <gtest/gtest.h>

namespace wavebot::webhook {
namespace {

// GitHub's documented test vector (docs: "Validating webhook deliveries").
constexpr char kSecret[] = "It's a Secret to Everybody";
constexpr char kBody[] = "Hello, World!";
constexpr char kSignature[] = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

TEST(SignatureTest, GithubTestVector) {
  EXPECT_EQ(ComputeSignature(kSecret, kBody), kSignature);
  EXPECT_TRUE(VerifySignature(kSecret, kBody, kSignature));
}

TEST(SignatureTest, RejectsWrongMalformedAndMissing) {
  EXPECT_FALSE(VerifySignature("other secret", kBody, kSignature));
  EXPECT_FALSE(VerifySignature(kSecret, "Hello, World?", kSignature));
  EXPECT_FALSE(VerifySignature(kSecret, kBody, ""));
  EXPECT_FALSE(VerifySignature(kSecret, kBody, "sha1=757107ea0eb2509fc211221cce984b8a37570b6d"));
  std::string truncated(kSignature);
  truncated.pop_back();
  EXPECT_FALSE(VerifySignature(kSecret, kBody, truncated));
  std::string not_hex(kSignature);
  not_hex.back() = 'g';
  EXPECT_FALSE(VerifySignature(kSecret, kBody, not_hex));
  std::string flipped(kSignature);
  flipped[10] = flipped[10] == '0' ? '1' : '0';
  EXPECT_FALSE(VerifySignature(kSecret, kBody, flipped));
  // Upper-case hex is the same digest.
  std::string upper(kSignature);
  for (size_t i = 7; i < upper.size(); ++i) upper[i] = static_cast<char>(std::toupper(upper[i]));
  EXPECT_TRUE(VerifySignature(kSecret, kBody, upper));
}

}  // namespace
}  // namespace wavebot::webhook
