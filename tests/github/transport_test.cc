// The GitHub client against a server that behaves as GitHub and real HTTP servers may, byte for byte:
// 304 and 204 answers without Content-Length on kept-alive connections, connections closed without
// notice, writes carried out whose answers are lost, Retry-After on 5xx, and stopping mid-call.
#include <gtest/gtest.h>

#include <future>
#include <nlohmann/json.hpp>

#include "common/clock.h"
#include "github/client.h"
#include "github/rest.h"
#include "support/raw_http_server.h"
#include "support/subprocess.h"

namespace wavebot::github {
namespace {

using json = nlohmann::json;
using testing::RawAnswer;
using testing::RawHttpServer;
using testing::RawRequest;
using testing::RawResponse;
using namespace std::chrono_literals;

const RepoRef kRepo{"acme", "calc"};

ClientOptions PatOptions(const std::string& url, Clock* clock) {
  ClientOptions o;
  o.api_url = url;
  o.token = "ghp_test";
  o.clock = clock;
  o.jitter_seed = 7;
  return o;
}

// A RestClient whose transport gives up on a silent server after 3 s, so that a framing bug shows as
// a failed call instead of a long wait.
std::unique_ptr<RestClient> Rest(const ClientOptions& o) {
  TransportOptions t;
  t.stall_timeout = 3s;
  t.total_timeout = 10s;
  t.stop = o.stop;
  return std::make_unique<RestClient>(o, nullptr, NewCurlTransport(t));
}

RestRequest Get(const std::string& path) {
  RestRequest r;
  r.path = path;
  r.repo = kRepo;
  return r;
}

TEST(TransportTest, NotModifiedWithoutContentLengthEndsAtItsHeaders) {
  // RFC 9112 §6.3: a 304 has no body whatever its headers say. The server keeps the connection open
  // and sends no length; a client that reads on for a body stalls until the server or a timeout ends it.
  RawHttpServer server([](const RawRequest& r) {
    if (r.Header("if-none-match") == "\"v1\"") {
      return RawAnswer{RawResponse(304, "Not Modified", "", {"ETag: \"v1\""}, /*length=*/false)};
    }
    return RawAnswer{RawResponse(200, "OK", R"({"number":1})", {"ETag: \"v1\"", "Content-Type: application/json"})};
  });
  FakeClock clock;
  auto rest = Rest(PatOptions(server.url(), &clock));
  for (int i = 0; i < 3; ++i) {
    auto res = rest->Call(Get("/repos/acme/calc/issues/1"));
    ASSERT_TRUE(res.ok()) << res.error().ToString();
    EXPECT_EQ(res->status, 200);  // the cached answer
    EXPECT_EQ(res->body, R"({"number":1})");
  }
  ASSERT_EQ(server.requests().size(), 3u);
  EXPECT_EQ(server.requests()[2].Header("if-none-match"), "\"v1\"");
  EXPECT_EQ(server.connections(), 1) << "every answer was framed right, so one connection served all three";
}

TEST(TransportTest, NoContentWithoutLengthAndHeadEndAtTheirHeaders) {
  RawHttpServer server([](const RawRequest& r) {
    if (r.method == "DELETE") return RawAnswer{RawResponse(204, "No Content", "", {}, /*length=*/false)};
    // A HEAD answer carries the length of the body a GET would get, and no body.
    if (r.method == "HEAD") return RawAnswer{"HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n"};
    return RawAnswer{RawResponse(200, "OK", "[]")};
  });
  FakeClock clock;
  auto client = NewClient(PatOptions(server.url(), &clock));
  ASSERT_TRUE(client.ok());
  for (int i = 0; i < 2; ++i) {
    Status st = (*client)->RemoveLabel(kRepo, 3, "agent-ready");
    ASSERT_TRUE(st.ok()) << st.error().ToString();
  }
  TransportOptions topts;
  topts.stall_timeout = 3s;
  auto transport = NewCurlTransport(topts);
  bool landed = false;
  HttpRequest head_req;
  head_req.method = "HEAD";
  head_req.url = server.url() + "/x";
  auto head = transport->Send(head_req, &landed);
  ASSERT_TRUE(head.ok()) << head.error().ToString();
  EXPECT_EQ(head->status, 200);
  EXPECT_TRUE(head->body.empty());
  HttpRequest get_req;
  get_req.url = server.url() + "/y";
  auto after = transport->Send(get_req, &landed);
  ASSERT_TRUE(after.ok()) << after.error().ToString();
  EXPECT_EQ(after->body, "[]");
}

TEST(TransportTest, ConnectionClosedWhileIdleIsReplacedOnce) {
  // Servers close idle keep-alive connections without telling; the next request on it must not fail.
  RawHttpServer server([](const RawRequest&) {
    return RawAnswer{RawResponse(200, "OK", "{}"), RawAnswer::After::kClose};
  });
  FakeClock clock;
  auto rest = Rest(PatOptions(server.url(), &clock));
  for (int i = 0; i < 3; ++i) {
    auto res = rest->Call(Get("/repos/acme/calc"));
    ASSERT_TRUE(res.ok()) << res.error().ToString();
  }
  EXPECT_EQ(server.requests().size(), 3u);
  EXPECT_EQ(server.connections(), 3);
  EXPECT_EQ(clock.slept(), 0ms) << "a stale connection is not a server error to back off from";
}

// A tiny issue-comments service whose POST is carried out and then answered 502 (or not at all).
class LostAnswerServer {
 public:
  enum class Fault { k502, kDrop };
  explicit LostAnswerServer(Fault fault) : fault_(fault), server_([this](const RawRequest& r) { return Handle(r); }) {}

  RawAnswer Handle(const RawRequest& r) {
    std::lock_guard lock(mu_);
    if (r.method == "POST" && r.path == "/repos/acme/calc/issues/5/comments") {
      ++posts_;
      json c = {{"id", 100 + static_cast<int>(comments_.size())},
                {"body", json::parse(r.body).at("body")},
                {"user", {{"login", "wavebot[bot]"}}}};
      comments_.push_back(c);
      if (posts_ == 1) {
        if (fault_ == Fault::kDrop) return RawAnswer{"", RawAnswer::After::kClose, /*drop=*/true};
        return RawAnswer{RawResponse(502, "Bad Gateway", R"({"message":"Server Error"})")};
      }
      return RawAnswer{RawResponse(201, "Created", c.dump())};
    }
    if (r.method == "GET" && r.path.rfind("/repos/acme/calc/issues/5/comments", 0) == 0) {
      return RawAnswer{RawResponse(200, "OK", json(comments_).dump())};
    }
    if (r.method == "POST" && r.path == "/repos/acme/calc/actions/workflows/agent.yml/dispatches") {
      ++posts_;
      return RawAnswer{RawResponse(502, "Bad Gateway", R"({"message":"Server Error"})")};
    }
    return RawAnswer{RawResponse(404, "Not Found", R"({"message":"Not Found"})")};
  }
  int posts() {
    std::lock_guard lock(mu_);
    return posts_;
  }
  size_t comments() {
    std::lock_guard lock(mu_);
    return comments_.size();
  }
  std::string url() const { return server_.url(); }

 private:
  Fault fault_;
  std::mutex mu_;
  int posts_ = 0;                // guarded by mu_
  std::vector<json> comments_;   // guarded by mu_
  RawHttpServer server_;
};

class LostAnswerTest : public ::testing::TestWithParam<LostAnswerServer::Fault> {};

TEST_P(LostAnswerTest, CommentWhoseAnswerWasLostIsLookedUpNotPostedAgain) {
  LostAnswerServer server(GetParam());
  FakeClock clock;
  auto client = NewClient(PatOptions(server.url(), &clock));
  ASSERT_TRUE(client.ok());
  const std::string body = "<!-- wavebot:merged -->\nMerged into `epic/1-x` with #7.";
  auto c = (*client)->CreateComment(kRepo, 5, body);
  ASSERT_TRUE(c.ok()) << c.error().ToString();
  EXPECT_EQ(c->id, 100);
  EXPECT_EQ(c->body, body);
  EXPECT_EQ(server.posts(), 1) << "the write had landed; sending it again would duplicate the comment";
  EXPECT_EQ(server.comments(), 1u);
  EXPECT_GE(clock.slept(), 500ms) << "the lookup waits a backoff first (GitHub's reads can lag its writes)";
}

TEST_P(LostAnswerTest, WriteThatCannotBeLookedUpIsNotSentAgain) {
  LostAnswerServer server(GetParam());
  FakeClock clock;
  auto client = NewClient(PatOptions(server.url(), &clock));
  ASSERT_TRUE(client.ok());
  auto st = (*client)->DispatchWorkflow(kRepo, "agent.yml", "main", {});
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code(), ErrorCode::kUnavailable);
  EXPECT_NE(st.error().message().find("not sent again"), std::string::npos) << st.error().message();
  EXPECT_EQ(server.posts(), 1);
}

INSTANTIATE_TEST_SUITE_P(Faults, LostAnswerTest,
                         ::testing::Values(LostAnswerServer::Fault::k502, LostAnswerServer::Fault::kDrop));

TEST(TransportTest, RetryAfterOnServerErrorsIsHonoured) {
  std::atomic<int> calls{0};
  RawHttpServer server([&calls](const RawRequest&) {
    if (++calls == 1) {
      return RawAnswer{RawResponse(503, "Service Unavailable", R"({"message":"busy"})", {"Retry-After: 7"})};
    }
    return RawAnswer{RawResponse(200, "OK", "{}")};
  });
  FakeClock clock;
  auto rest = Rest(PatOptions(server.url(), &clock));
  auto res = rest->Call(Get("/repos/acme/calc"));
  ASSERT_TRUE(res.ok()) << res.error().ToString();
  EXPECT_GE(clock.slept(), 7s) << "a 503 with Retry-After: 7 was retried after " << clock.slept().count() << " ms";
  EXPECT_LT(clock.slept(), 9s);
}

TEST(TransportTest, RetryAfterHoldsItsCredentialOnly) {
  // The App's own calls (JWT) and an installation's calls are different credentials with different
  // limits: a pause of one must not hold the other.
  std::atomic<int> repo_calls{0};
  RawHttpServer server([&repo_calls](const RawRequest& r) {
    if (r.path == "/repos/acme/calc/installation") return RawAnswer{RawResponse(200, "OK", R"({"id":11})")};
    if (r.path == "/app/installations/11/access_tokens") {
      return RawAnswer{RawResponse(201, "Created", R"({"token":"ghs_x","expires_at":"2099-01-01T00:00:00Z"})")};
    }
    if (r.path == "/repos/acme/calc") {
      ++repo_calls;
      return RawAnswer{RawResponse(503, "Service Unavailable", R"({"message":"busy"})", {"Retry-After: 120"})};
    }
    return RawAnswer{RawResponse(200, "OK", "[]")};
  });
  FakeClock clock;
  auto key = testing::RunShell("openssl genrsa 2048 2>/dev/null");
  ASSERT_EQ(key.exit_code, 0);
  ClientOptions o;
  o.api_url = server.url();
  o.app_id = "1";
  o.private_key_pem = key.out;
  o.clock = &clock;
  o.call_deadline = 60s;
  auto client = NewClient(o);
  ASSERT_TRUE(client.ok()) << client.error().ToString();
  auto repo = (*client)->GetRepository(kRepo);
  ASSERT_FALSE(repo.ok());
  EXPECT_EQ(repo.error().code(), ErrorCode::kUnavailable) << repo.error().ToString();
  EXPECT_EQ(repo_calls.load(), 1);
  // Same credential: refused without a request while the pause lasts.
  auto again = (*client)->GetRepository(kRepo);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(repo_calls.load(), 1) << "a second request was sent during the server's Retry-After";
  // Another credential (the App's JWT): not held.
  const auto before = clock.slept();
  auto installs = (*client)->ListInstallations();
  ASSERT_TRUE(installs.ok()) << installs.error().ToString();
  EXPECT_EQ(clock.slept(), before);
}

TEST(TransportTest, StopEndsACallThatWaitsOnAServerThatNeverAnswers) {
  RawHttpServer server([](const RawRequest&) { return RawAnswer{"", RawAnswer::After::kKeepOpen, false, /*hang=*/true}; });
  StopSignal stop;
  ClientOptions o = PatOptions(server.url(), RealClock());
  o.stop = &stop;
  auto client = NewClient(o);
  ASSERT_TRUE(client.ok());
  auto call = std::async(std::launch::async, [&] { return (*client)->GetRepository(kRepo); });
  ASSERT_TRUE(server.WaitForRequests(1));
  stop.Stop();
  ASSERT_EQ(call.wait_for(10s), std::future_status::ready) << "the call did not notice the stop";
  auto res = call.get();
  ASSERT_FALSE(res.ok());
  EXPECT_EQ(res.error().code(), ErrorCode::kCancelled) << res.error().ToString();
}

TEST(TransportTest, StopEndsARetryBackoff) {
  RawHttpServer server([](const RawRequest&) {
    return RawAnswer{RawResponse(503, "Service Unavailable", R"({"message":"down"})", {"Retry-After: 600"})};
  });
  StopSignal stop;
  ClientOptions o = PatOptions(server.url(), RealClock());
  o.stop = &stop;
  o.call_deadline = 3600s;
  auto client = NewClient(o);
  ASSERT_TRUE(client.ok());
  auto call = std::async(std::launch::async, [&] { return (*client)->GetRepository(kRepo); });
  ASSERT_TRUE(server.WaitForRequests(1));
  stop.Stop();
  ASSERT_EQ(call.wait_for(10s), std::future_status::ready) << "the call kept waiting out Retry-After";
  auto res = call.get();
  ASSERT_FALSE(res.ok());
  EXPECT_EQ(res.error().code(), ErrorCode::kCancelled);
  auto after = (*client)->GetRepository(kRepo);
  EXPECT_EQ(after.error().code(), ErrorCode::kCancelled) << "a stopped client sends nothing more";
  EXPECT_EQ(server.requests().size(), 1u);
}

}  // namespace
}  // namespace wavebot::github
