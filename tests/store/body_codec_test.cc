#include "store/body_codec.h"

#include <gtest/gtest.h>

namespace wavebot::store {
namespace {

std::string GitHubLikePayload() {
  std::string s = "{\"action\":\"created\",\"comments\":[";
  for (int i = 0; i < 60; ++i) {
    if (i) s += ',';
    s += "{\"id\":" + std::to_string(1000 + i) +
         ",\"url\":\"https://api.github.com/repos/octo-org/hello-world/issues/comments/" + std::to_string(1000 + i) +
         "\",\"user\":{\"login\":\"octocat\",\"type\":\"User\"}}";
  }
  return s + "]}";
}

TEST(BodyCodecTest, ZstdRoundTripsExactlyAndShrinksAGitHubPayload) {
  const std::string body = GitHubLikePayload();
  const std::string packed = CompressBody(body);
  ASSERT_FALSE(packed.empty());
  EXPECT_LT(packed.size() * 4, body.size());
  auto back = DecodeBody(packed, kBodyZstd, body.size());
  ASSERT_TRUE(back.ok()) << back.error().ToString();
  EXPECT_EQ(*back, body);

  const std::string binary("{\0\xff\x01}", 5);
  auto b = DecodeBody(CompressBody(binary), kBodyZstd, 100);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(*b, binary);
  auto empty = DecodeBody(CompressBody(""), kBodyZstd, 100);
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(*empty, "");
}

TEST(BodyCodecTest, IdentityIsTheStoredBytes) {
  auto b = DecodeBody(std::string("{\"a\":1}\0x", 9), kBodyIdentity, 0);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(*b, std::string("{\"a\":1}\0x", 9));
}

TEST(BodyCodecTest, CorruptOrUnknownIsAnErrorThatSaysWhy) {
  const std::string packed = CompressBody(GitHubLikePayload());
  auto unknown = DecodeBody(packed, "gzip", 1 << 20);
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.error().message().find("unknown encoding 'gzip'"), std::string::npos);

  auto garbage = DecodeBody("{\"not\":\"zstd\"}", kBodyZstd, 1 << 20);
  ASSERT_FALSE(garbage.ok());
  EXPECT_NE(garbage.error().message().find("not a complete zstd frame"), std::string::npos);

  auto truncated = DecodeBody(packed.substr(0, packed.size() / 2), kBodyZstd, 1 << 20);
  EXPECT_FALSE(truncated.ok());

  std::string flipped = packed;
  flipped[flipped.size() / 2] = static_cast<char>(flipped[flipped.size() / 2] ^ 0x5a);
  EXPECT_FALSE(DecodeBody(flipped, kBodyZstd, 1 << 20).ok());  // the frame's checksum: never other JSON

  // A frame that says it holds more than the limit is refused before anything is allocated for it.
  auto big = DecodeBody(CompressBody(std::string(4096, 'a')), kBodyZstd, 4095);
  ASSERT_FALSE(big.ok());
  EXPECT_NE(big.error().message().find("over the 4095-byte limit"), std::string::npos);
}

}  // namespace
}  // namespace wavebot::store
