// ActionsOidcVerifier against a fake key source and a FakeClock: a good token; every way a token can be
// forged, stale, or meant for something else; the JWKS cache (TTL, unknown kid).
#include "github/actions_oidc.h"

#include <gtest/gtest.h>

#include <mutex>
#include <nlohmann/json.hpp>

#include "github/jwt.h"

namespace wavebot::github {
namespace {

using nlohmann::json;
using std::chrono::seconds;

constexpr const char* kIssuer = "https://token.actions.githubusercontent.com";
constexpr const char* kAudience = "https://wavebot.example.com";

class FakeJwks final : public JwksSource {
 public:
  Result<std::string> Fetch() override {
    std::lock_guard lock(mu);
    ++fetches;
    if (down) return Error(ErrorCode::kUnavailable, "issuer down");
    return doc;
  }
  std::mutex mu;
  std::string doc;
  int fetches = 0;
  bool down = false;
};

std::shared_ptr<PrivateKey> NewKey() {
  auto k = PrivateKey::Generate();
  EXPECT_TRUE(k.ok());
  return *k;
}

// Keys are slow to make: one pair for the whole suite (plus a stranger's).
const std::shared_ptr<PrivateKey>& IssuerKey() {
  static auto key = NewKey();
  return key;
}
const std::shared_ptr<PrivateKey>& OtherKey() {
  static auto key = NewKey();
  return key;
}

class ActionsOidcTest : public ::testing::Test {
 protected:
  void SetUp() override {
    jwks_.doc = *JwksOf(*IssuerKey(), "key-1");
    OidcVerifierOptions o;
    o.issuer = kIssuer;
    o.audience = kAudience;
    o.leeway = seconds(60);
    o.jwks_ttl = seconds(3600);
    o.min_refetch_interval = seconds(10);
    verifier_ = std::make_unique<ActionsOidcVerifier>(o, &jwks_, &clock_);
  }
  int64_t Now() const {
    return std::chrono::duration_cast<seconds>(clock_.Now().time_since_epoch()).count();
  }
  // GitHub's claims for run 4242 of wavebot-agent.yml in acme/calc, dispatched on epic/1-e.
  json Claims() const {
    int64_t now = Now();
    return {{"jti", "7c1b3f0e-1"},
            {"sub", "repo:acme/calc:ref:refs/heads/epic/1-e"},
            {"aud", kAudience},
            {"ref", "refs/heads/epic/1-e"},
            {"sha", "0123456789abcdef0123456789abcdef01234567"},
            {"repository", "acme/calc"},
            {"repository_id", "77"},
            {"repository_owner", "acme"},
            {"run_id", "4242"},
            {"run_number", "9"},
            {"run_attempt", "1"},
            {"actor", "wavebot[bot]"},
            {"workflow", "wavebot agent"},
            {"workflow_ref", "acme/calc/.github/workflows/wavebot-agent.yml@refs/heads/epic/1-e"},
            {"job_workflow_ref", "acme/calc/.github/workflows/wavebot-agent.yml@refs/heads/epic/1-e"},
            {"event_name", "workflow_dispatch"},
            {"runner_environment", "self-hosted"},
            {"iss", kIssuer},
            {"nbf", now - 300},
            {"iat", now},
            {"exp", now + 300}};
  }
  static json Header(const std::string& kid = "key-1", const std::string& alg = "RS256") {
    return {{"typ", "JWT"}, {"alg", alg}, {"kid", kid}};
  }
  static std::string Sign(const json& claims, const json& header = Header(),
                          const std::shared_ptr<PrivateKey>& key = IssuerKey()) {
    auto t = SignJwtRs256(*key, header.dump(), claims.dump());
    EXPECT_TRUE(t.ok());
    return *t;
  }
  static ActionsRunBinding Want() { return {"acme/calc", ".github/workflows/wavebot-agent.yml", 4242}; }
  // The error's code and that its message names `what`.
  void ExpectRefused(const std::string& jwt, ErrorCode code, const std::string& what,
                     const ActionsRunBinding& want = Want()) {
    auto r = verifier_->Verify(jwt, want);
    ASSERT_FALSE(r.ok()) << "accepted: " << jwt;
    EXPECT_EQ(r.error().code(), code) << r.error().message();
    EXPECT_NE(r.error().message().find(what), std::string::npos) << r.error().message();
  }

  FakeClock clock_;
  FakeJwks jwks_;
  std::unique_ptr<ActionsOidcVerifier> verifier_;
};

TEST_F(ActionsOidcTest, AGoodTokenVerifiesAndItsClaimsAreRead) {
  auto r = verifier_->Verify(Sign(Claims()), Want());
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->repository, "acme/calc");
  EXPECT_EQ(r->run_id, 4242);
  EXPECT_EQ(r->run_attempt, 1);
  EXPECT_EQ(r->event_name, "workflow_dispatch");
  EXPECT_EQ(r->runner_environment, "self-hosted");
  EXPECT_EQ(r->jti, "7c1b3f0e-1");
  // run_id as a number, aud as an array holding ours, the repository in another case: all GitHub's.
  json c = Claims();
  c["run_id"] = 4242;
  c["aud"] = {"sts.amazonaws.com", kAudience};
  c["repository"] = "Acme/Calc";
  c["workflow_ref"] = "Acme/Calc/.github/workflows/wavebot-agent.yml@refs/heads/epic/1-e";
  EXPECT_TRUE(verifier_->Verify(Sign(c), Want()).ok());
  EXPECT_EQ(jwks_.fetches, 1) << "the keys are cached";
}

TEST_F(ActionsOidcTest, ABadSignatureIsRefused) {
  std::string jwt = Sign(Claims());
  // One claim changed after signing.
  json c = Claims();
  c["run_id"] = "4243";
  std::string forged = jwt.substr(0, jwt.find('.')) + "." + Base64UrlEncode(c.dump()) + jwt.substr(jwt.rfind('.'));
  ExpectRefused(forged, ErrorCode::kUnauthenticated, "signature");
  // Signed by a key of our own under the issuer's key id (a self-signed token).
  ExpectRefused(Sign(Claims(), Header("key-1"), OtherKey()), ErrorCode::kUnauthenticated, "signature");
  // The signature cut short.
  ExpectRefused(jwt.substr(0, jwt.size() - 8), ErrorCode::kUnauthenticated, "signature");
}

TEST_F(ActionsOidcTest, AnUnknownKeyIdIsRefusedAfterOneRefetch) {
  ExpectRefused(Sign(Claims(), Header("key-9"), OtherKey()), ErrorCode::kUnauthenticated, "unknown key id 'key-9'");
  EXPECT_EQ(jwks_.fetches, 2) << "an unknown kid fetches the keys again once";
  // Within the refetch interval another unknown kid does not hammer the issuer.
  ExpectRefused(Sign(Claims(), Header("key-8"), OtherKey()), ErrorCode::kUnauthenticated, "unknown key id");
  EXPECT_EQ(jwks_.fetches, 2);
  ExpectRefused(Sign(Claims(), Header(""), IssuerKey()), ErrorCode::kUnauthenticated, "no key id");
}

TEST_F(ActionsOidcTest, ARotatedKeyIsFetchedWhenATokenNamesIt) {
  ASSERT_TRUE(verifier_->Verify(Sign(Claims()), Want()).ok());
  // The issuer rotates to key-2 (held by OtherKey); tokens signed with it verify after one refetch.
  {
    std::lock_guard lock(jwks_.mu);
    jwks_.doc = *JwksOf(*OtherKey(), "key-2");
  }
  clock_.Advance(seconds(11));
  auto r = verifier_->Verify(Sign(Claims(), Header("key-2"), OtherKey()), Want());
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(jwks_.fetches, 2);
}

TEST_F(ActionsOidcTest, TheKeysAreFetchedAgainAfterTheirTtlAndStaleOnesServeWhenTheIssuerIsDown) {
  ASSERT_TRUE(verifier_->Verify(Sign(Claims()), Want()).ok());
  clock_.Advance(seconds(3599));
  ASSERT_TRUE(verifier_->Verify(Sign(Claims()), Want()).ok());
  EXPECT_EQ(jwks_.fetches, 1);
  clock_.Advance(seconds(1));
  {
    std::lock_guard lock(jwks_.mu);
    jwks_.down = true;
  }
  EXPECT_TRUE(verifier_->Verify(Sign(Claims()), Want()).ok());
  EXPECT_EQ(jwks_.fetches, 2);
}

TEST_F(ActionsOidcTest, WithoutKeysTheClaimIsUnavailableNotAccepted) {
  {
    std::lock_guard lock(jwks_.mu);
    jwks_.down = true;
  }
  ExpectRefused(Sign(Claims()), ErrorCode::kUnavailable, "issuer down");
}

TEST_F(ActionsOidcTest, AlgNoneHs256AndOtherAlgorithmsAreRefused) {
  json c = Claims();
  std::string body = Base64UrlEncode(c.dump());
  // alg none, with and without a signature.
  ExpectRefused(Base64UrlEncode(Header("key-1", "none").dump()) + "." + body + ".", ErrorCode::kUnauthenticated,
                "alg 'none' refused");
  ExpectRefused(Base64UrlEncode(R"({"alg":"none"})") + "." + body + "." + Base64UrlEncode("x"),
                ErrorCode::kUnauthenticated, "refused");
  // HS256 keyed with the issuer's public key: the classic confusion.
  std::string input = Base64UrlEncode(Header("key-1", "HS256").dump()) + "." + body;
  std::string mac = HubSignature256(IssuerKey()->PublicPem(), input);  // hex; any bytes will do
  ExpectRefused(input + "." + Base64UrlEncode(mac), ErrorCode::kUnauthenticated, "alg 'HS256' refused");
  // RS512 and PS256, correctly signed or not, are not what wavebot accepts.
  ExpectRefused(Sign(c, Header("key-1", "RS512")), ErrorCode::kUnauthenticated, "alg 'RS512' refused");
  ExpectRefused(Sign(c, Header("key-1", "PS256")), ErrorCode::kUnauthenticated, "alg 'PS256' refused");
  json no_alg = {{"kid", "key-1"}};
  ExpectRefused(Sign(c, no_alg), ErrorCode::kUnauthenticated, "refused");
}

TEST_F(ActionsOidcTest, ExpiredNotYetValidAndFutureTokensAreRefusedWithinTheLeeway) {
  json c = Claims();
  std::string jwt = Sign(c);
  clock_.Advance(seconds(300 + 60));
  EXPECT_TRUE(verifier_->Verify(jwt, Want()).ok()) << "within the leeway";
  clock_.Advance(seconds(1));
  ExpectRefused(jwt, ErrorCode::kUnauthenticated, "expired");
  json later = Claims();
  later["nbf"] = Now() + 120;
  later["iat"] = Now() + 120;
  ExpectRefused(Sign(later), ErrorCode::kUnauthenticated, "not valid before");
  json future = Claims();
  future["iat"] = Now() + 120;
  ExpectRefused(Sign(future), ErrorCode::kUnauthenticated, "issued in the future");
  json no_exp = Claims();
  no_exp.erase("exp");
  ExpectRefused(Sign(no_exp), ErrorCode::kUnauthenticated, "no expiry");
  json no_iat = Claims();
  no_iat.erase("iat");
  ExpectRefused(Sign(no_iat), ErrorCode::kUnauthenticated, "no issue time");
  json text_exp = Claims();
  text_exp["exp"] = "tomorrow";
  ExpectRefused(Sign(text_exp), ErrorCode::kUnauthenticated, "'exp' is not a number");
}

TEST_F(ActionsOidcTest, AnotherIssuerOrAudienceIsRefused) {
  json c = Claims();
  c["iss"] = "https://token.actions.example.com";
  ExpectRefused(Sign(c), ErrorCode::kUnauthenticated, "issuer");
  c = Claims();
  c["aud"] = "https://github.com/acme";  // GitHub's default audience: a token meant for a cloud provider
  ExpectRefused(Sign(c), ErrorCode::kUnauthenticated, "audience");
  c["aud"] = json::array({"sts.amazonaws.com"});
  ExpectRefused(Sign(c), ErrorCode::kUnauthenticated, "audience");
  c.erase("aud");
  ExpectRefused(Sign(c), ErrorCode::kUnauthenticated, "audience");
}

TEST_F(ActionsOidcTest, ATokenOfAnotherRepositoryRunEventOrWorkflowIsDenied) {
  json c = Claims();
  c["repository"] = "mallory/calc";
  c["workflow_ref"] = "mallory/calc/.github/workflows/wavebot-agent.yml@refs/heads/epic/1-e";
  ExpectRefused(Sign(c), ErrorCode::kPermissionDenied, "repository 'mallory/calc'");
  c = Claims();
  c["run_id"] = "4241";  // another run of the same workflow in the same repository
  ExpectRefused(Sign(c), ErrorCode::kPermissionDenied, "run 4241, not to run 4242");
  c.erase("run_id");
  ExpectRefused(Sign(c), ErrorCode::kPermissionDenied, "not to run 4242");
  c = Claims();
  c["run_attempt"] = "2";  // a re-run of the dispatch's own run
  ExpectRefused(Sign(c), ErrorCode::kPermissionDenied, "re-run");
  c = Claims();
  c["event_name"] = "push";
  ExpectRefused(Sign(c), ErrorCode::kPermissionDenied, "'push'");
  c = Claims();
  c["workflow_ref"] = "acme/calc/.github/workflows/other.yml@refs/heads/epic/1-e";
  ExpectRefused(Sign(c), ErrorCode::kPermissionDenied, "workflow");
  c["workflow_ref"] = "acme/calc/.github/workflows/wavebot-agent.yml.evil@refs/heads/x";
  ExpectRefused(Sign(c), ErrorCode::kPermissionDenied, "workflow");
  c["workflow_ref"] = "acme/calc-fork/.github/workflows/wavebot-agent.yml@refs/heads/x";
  ExpectRefused(Sign(c), ErrorCode::kPermissionDenied, "workflow");
  c["workflow_ref"] = "acme/calc/.github/workflows/wavebot-agent.yml@";
  ExpectRefused(Sign(c), ErrorCode::kPermissionDenied, "workflow");
  // A binding with no run id (a dispatch whose run is unknown) accepts nothing.
  ExpectRefused(Sign(Claims()), ErrorCode::kPermissionDenied, "run", {"acme/calc", ".github/workflows/wavebot-agent.yml", 0});
}

TEST_F(ActionsOidcTest, MalformedTokensAreRefused) {
  std::string jwt = Sign(Claims());
  for (const std::string& bad :
       {std::string(""), std::string("abc"), std::string("a.b"), jwt + ".x", std::string("..."),
        std::string("!!!.") + jwt.substr(jwt.find('.') + 1),                       // not base64url
        jwt.substr(0, jwt.find('.')) + ".e30=." + jwt.substr(jwt.rfind('.') + 1),  // padding
        Base64UrlEncode("not json") + jwt.substr(jwt.find('.')),                   // header not JSON
        Base64UrlEncode("[1]") + jwt.substr(jwt.find('.')),                        // header not an object
        std::string(20000, 'a')}) {
    auto r = verifier_->Verify(bad, Want());
    ASSERT_FALSE(r.ok()) << bad.substr(0, 60);
    EXPECT_EQ(r.error().code(), ErrorCode::kUnauthenticated) << bad.substr(0, 60) << ": " << r.error().message();
  }
  // Claims that are not a JSON object, correctly signed.
  auto not_object = SignJwtRs256(*IssuerKey(), Header().dump(), "[\"acme/calc\"]");
  ASSERT_TRUE(not_object.ok());
  ExpectRefused(*not_object, ErrorCode::kUnauthenticated, "not a JSON object");
  auto not_json = SignJwtRs256(*IssuerKey(), Header().dump(), "{run_id: 4242");
  ASSERT_TRUE(not_json.ok());
  ExpectRefused(*not_json, ErrorCode::kUnauthenticated, "not a JSON object");
  // A critical header extension wavebot does not understand.
  json crit = Header();
  crit["crit"] = {"exp"};
  ExpectRefused(Sign(Claims(), crit), ErrorCode::kUnauthenticated, "critical");
}

TEST_F(ActionsOidcTest, ABrokenOrWeakJwksIsNotTrusted) {
  {
    std::lock_guard lock(jwks_.mu);
    jwks_.doc = R"({"keys":[{"kty":"RSA","kid":"key-1","n":"AQAB","e":"AQAB"},{"kty":"oct","kid":"k2","k":"c2VjcmV0"}]})";
  }
  ExpectRefused(Sign(Claims()), ErrorCode::kUnauthenticated, "unknown key id");
  {
    std::lock_guard lock(jwks_.mu);
    jwks_.doc = "<html>";
  }
  clock_.Advance(seconds(3600));
  ExpectRefused(Sign(Claims()), ErrorCode::kUnauthenticated, "unknown key id");
}

TEST(ActionsOidcIssuerTest, TheIssuerFollowsTheApi) {
  EXPECT_EQ(DefaultActionsOidcIssuer("https://api.github.com"), "https://token.actions.githubusercontent.com");
  EXPECT_EQ(DefaultActionsOidcIssuer("https://api.github.com/"), "https://token.actions.githubusercontent.com");
  EXPECT_EQ(DefaultActionsOidcIssuer("https://ghe.example.com/api/v3"), "https://ghe.example.com/_services/token");
  EXPECT_EQ(DefaultActionsOidcIssuer("http://127.0.0.1:4000"), "http://127.0.0.1:4000/_services/token");
  EXPECT_EQ(JwksUrlOf("https://token.actions.githubusercontent.com"),
            "https://token.actions.githubusercontent.com/.well-known/jwks");
}

}  // namespace
}  // namespace wavebot::github
