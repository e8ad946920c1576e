#include "github/jwt.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "github/fake_client.h"
#include "github/redelivery.h"
#include "common/clock.h"

namespace wavebot::github {
namespace {

TEST(JwtTest, ClaimsAndSignature) {
  auto key = PrivateKey::Generate();
  ASSERT_TRUE(key.ok());
  auto now = std::chrono::system_clock::time_point(std::chrono::seconds(1'700'000'000));
  auto jwt = MakeAppJwt(**key, "12345", now);
  ASSERT_TRUE(jwt.ok());
  auto claims = VerifyAppJwt(**key, *jwt);
  ASSERT_TRUE(claims.ok()) << claims.error().ToString();
  EXPECT_EQ(claims->iat, 1'700'000'000 - 60);
  EXPECT_LE(claims->exp, 1'700'000'000 + 600);
  EXPECT_GT(claims->exp, 1'700'000'000);
  EXPECT_EQ(claims->iss, "12345");
  auto payload = nlohmann::json::parse(*Base64UrlDecode(jwt->substr(jwt->find('.') + 1,
                                                                    jwt->rfind('.') - jwt->find('.') - 1)));
  EXPECT_TRUE(payload["iss"].is_number_integer()) << "an app id is sent as a number";
  auto client_id = MakeAppJwt(**key, "Iv1.abc", now);
  EXPECT_EQ(VerifyAppJwt(**key, *client_id)->iss, "Iv1.abc");
  // Another key does not verify it; a tampered token does not either.
  auto other = PrivateKey::Generate();
  EXPECT_FALSE(VerifyAppJwt(**other, *jwt).ok());
  std::string tampered = *jwt;
  tampered[tampered.find('.') + 3] ^= 1;
  EXPECT_FALSE(VerifyAppJwt(**key, tampered).ok());
  EXPECT_FALSE(MakeAppJwt(**key, "", now).ok());
}

TEST(JwtTest, KeyErrorsAreClear) {
  EXPECT_EQ(PrivateKey::FromPem("hello").error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(PrivateKey::FromPem("-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n")
                .error().code(),
            ErrorCode::kInvalidArgument);
  auto missing = PrivateKey::FromFile("/nonexistent/key.pem");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code(), ErrorCode::kIo);
  EXPECT_NE(missing.error().message().find("/nonexistent/key.pem"), std::string::npos);
  auto key = PrivateKey::Generate();
  auto round = PrivateKey::FromPem((*key)->PrivatePem());
  ASSERT_TRUE(round.ok());
  EXPECT_EQ((*round)->PublicPem(), (*key)->PublicPem());
}

TEST(JwtTest, HubSignatureMatchesGitHubsExample) {
  // From GitHub's "Validating webhook deliveries" documentation.
  EXPECT_EQ(HubSignature256("It's a Secret to Everybody", "Hello, World!"),
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17");
  EXPECT_EQ(Base64UrlEncode("\xff\xfe"), "__4");
  EXPECT_EQ(*Base64UrlDecode("__4"), "\xff\xfe");
}

TEST(FakeClientTest, RecordsTypedActionsAndScriptedFailures) {
  FakeClient fake;
  RepoRef repo{"o", "r"};
  fake.PutIssue(repo, Issue{1, 11, "", "Epic", "", "open", {}, "alice", "", false, std::nullopt});
  fake.FailNext("CreateComment", Error(ErrorCode::kUnavailable, "boom"));
  EXPECT_EQ(fake.CreateComment(repo, 1, "x").error().code(), ErrorCode::kUnavailable);
  auto c = fake.CreateComment(repo, 1, "hello");
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(fake.UpdateComment(repo, c->id, "edited", WritePriority::kUrgent).ok());
  fake.PutRef(repo, "heads/main", "abc");
  fake.PutRef(repo, "heads/t", "def");
  auto pr1 = fake.CreatePull(repo, {"t", "t", "main", "", false});
  auto pr2 = fake.CreatePull(repo, {"t", "t", "main", "", false});
  EXPECT_EQ(pr1->number, pr2->number);
  auto created = fake.actions_of<CommentCreated>();
  ASSERT_EQ(created.size(), 1u);
  EXPECT_EQ(created[0].body, "hello");
  EXPECT_EQ(fake.actions_of<CommentUpdated>().size(), 1u);
  EXPECT_EQ(fake.actions_of<PullCreated>().size(), 1u);
  EXPECT_EQ(fake.comments(repo, 1)[0].body, "edited");
}

TEST(RedelivererTest, AsksOncePerFailedGuidAndSkipsDelivered) {
  FakeClient fake;
  FakeClock clock;
  fake.PutDelivery(HookDelivery{1, "g1", "", false, "failed to connect to host", 0, "issues", "opened", 1, 1});
  fake.PutDelivery(HookDelivery{2, "g2", "", false, "Invalid HTTP Response: 503", 503, "issues", "opened", 1, 1});
  fake.PutDelivery(HookDelivery{3, "g2", "", true, "OK", 200, "issues", "opened", 1, 1});
  fake.PutDelivery(HookDelivery{4, "g3", "", false, "Invalid HTTP Response: 500", 500, "push", "", 1, 1});
  fake.PutDelivery(HookDelivery{5, "g3", "", true, "Invalid HTTP Response: 500", 500, "push", "", 1, 1});
  Redeliverer r(&fake, &clock);
  auto stats = r.RunOnce();
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->redelivered, 2);
  auto asked = fake.actions_of<DeliveryRedelivered>();
  ASSERT_EQ(asked.size(), 2u);
  EXPECT_EQ(asked[0].delivery_id, 1);
  EXPECT_EQ(asked[1].delivery_id, 5) << "the newest failed attempt of g3";
  auto again = r.RunOnce();
  EXPECT_EQ(again->redelivered, 0);
  EXPECT_EQ(again->already_asked, 2);
  fake.FailNext("ListDeliveries", Error(ErrorCode::kUnavailable, "down"));
  EXPECT_FALSE(r.RunOnce().ok());
}

// A redelivery that fails again is asked for again, after 1, 2, 4, 8 minutes, then given up.
TEST(RedelivererTest, AsksAgainWithBackoffWhileItFailsThenGivesUp) {
  FakeClient fake;
  FakeClock clock;
  fake.PutDelivery(HookDelivery{1, "g1", "", false, "failed to connect to host", 0, "issues", "opened", 1, 1});
  Redeliverer r(&fake, &clock);
  int64_t next_id = 2;
  std::vector<int> asked_at_minute;
  for (int minute = 0; minute <= 40; ++minute) {
    auto stats = r.RunOnce();
    ASSERT_TRUE(stats.ok());
    if (stats->redelivered == 1) {
      asked_at_minute.push_back(minute);
      // GitHub's redelivery fails too: a new failed attempt of the same guid.
      fake.PutDelivery(HookDelivery{next_id++, "g1", "", true, "timed out", 0, "issues", "opened", 1, 1});
    }
    if (minute == 40) {
      EXPECT_EQ(stats->given_up, 1);
    }
    clock.Advance(std::chrono::minutes(1));
  }
  EXPECT_EQ(asked_at_minute, (std::vector<int>{0, 1, 3, 7, 15}));
  auto asked = fake.actions_of<DeliveryRedelivered>();
  ASSERT_EQ(asked.size(), 5u);
  EXPECT_EQ(asked[1].delivery_id, 2) << "each time the newest failed attempt";
  EXPECT_EQ(asked[4].delivery_id, 5);
}

TEST(RedelivererTest, ASuccessfulRedeliveryEndsTheAsking) {
  FakeClient fake;
  FakeClock clock;
  fake.PutDelivery(HookDelivery{1, "g1", "", false, "failed to connect to host", 0, "issues", "opened", 1, 1});
  Redeliverer r(&fake, &clock);
  ASSERT_EQ(r.RunOnce()->redelivered, 1);
  fake.PutDelivery(HookDelivery{2, "g1", "", true, "OK", 202, "issues", "opened", 1, 1});
  clock.Advance(std::chrono::hours(1));
  auto stats = r.RunOnce();
  EXPECT_EQ(stats->redelivered, 0);
  EXPECT_EQ(stats->failed, 0);
}

}  // namespace
}  // namespace wavebot::github
