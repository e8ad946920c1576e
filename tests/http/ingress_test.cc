#include "http/ingress.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "http/raw_socket.h"
#include "store/database.h"
#include "support/temp_dir.h"
#include "webhook/signature.h"

namespace wavebot::http {
namespace {

using nlohmann::json;

constexpr char kSecret[] = "test-secret-123";

std::string ExamplePayload(const std::string& name, const std::string& action) {
  std::ifstream in(WAVEBOT_SOURCE_DIR "/tests/contract/node_modules/@octokit/webhooks-examples/api.github.com/index.json");
  EXPECT_TRUE(in.good()) << "webhooks-examples missing: run npm ci in tests/contract";
  json index = json::parse(in);
  for (const json& e : index) {
    if (e["name"] != name) continue;
    for (const json& ex : e["examples"]) {
      if (ex.value("action", "") == action) return ex.dump(2);
    }
  }
  ADD_FAILURE() << "no example " << name << "." << action;
  return "{}";
}

class IngressTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = store::Database::Open({.path = dir_.File("w.db")});
    ASSERT_TRUE(db.ok()) << db.error().ToString();
    db_ = std::move(*db);
    store_ = store::NewSqliteDeliveryStore(db_.get());
    ingress_ = std::make_unique<Ingress>(IngressOptions{.webhook_secret = kSecret, .max_pending_age = std::chrono::seconds(60),
                                                        .more_metrics = [] { return std::string("wavebot_more 1\n"); }},
                                         store_.get(), &metrics_, &clock_, [this] { ++notified_; });
    server_ = NewServer({.port = 0, .max_body_bytes = 1024 * 1024});
    ingress_->RegisterPublic(server_.get());
    ingress_->RegisterPrivate(server_.get());
    ASSERT_TRUE(server_->Start().ok());
    client_ = std::make_unique<httplib::Client>("127.0.0.1", server_->port());
  }
  void TearDown() override { server_->Stop(); }

  httplib::Result Post(const std::string& event, const std::string& delivery, const std::string& body,
                       std::string signature = "") {
    httplib::Headers h;
    if (!event.empty()) h.emplace("X-GitHub-Event", event);
    if (!delivery.empty()) h.emplace("X-GitHub-Delivery", delivery);
    if (signature.empty()) signature = webhook::ComputeSignature(kSecret, body);
    if (signature != "none") h.emplace("X-Hub-Signature-256", signature);
    return client_->Post("/webhook", h, body, "application/json");
  }
  int64_t Stored() {
    auto all = store_->List(std::nullopt, 1000);
    EXPECT_TRUE(all.ok());
    return all.ok() ? static_cast<int64_t>(all->size()) : -1;
  }

  wavebot::testing::TempDir dir_;
  FakeClock clock_;
  webhook::Metrics metrics_;
  std::unique_ptr<store::Database> db_;
  std::unique_ptr<store::DeliveryStore> store_;
  std::unique_ptr<Ingress> ingress_;
  std::unique_ptr<Server> server_;
  std::unique_ptr<httplib::Client> client_;
  std::atomic<int> notified_{0};
};

TEST_F(IngressTest, SignedDeliveryIsStoredBeforeTheAnswerAndOnlyOnce) {
  const std::string body = ExamplePayload("issue_comment", "created");
  auto r = Post("issue_comment", "72d3162e-cc78-11e3-81ab-4c9367dc0958", body);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 202);
  EXPECT_EQ(r->body, "stored delivery 72d3162e-cc78-11e3-81ab-4c9367dc0958\n");
  // Committed by the time the 202 arrived: a fresh reader sees it.
  auto d = store_->Get("72d3162e-cc78-11e3-81ab-4c9367dc0958");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->body, body);  // the exact signed bytes
  EXPECT_EQ(d->event, "issue_comment");
  EXPECT_EQ(d->action, "created");
  EXPECT_EQ(d->repository, json::parse(body)["repository"]["full_name"]);
  EXPECT_EQ(d->status, store::DeliveryStatus::kPending);
  EXPECT_EQ(notified_.load(), 1);

  auto again = Post("issue_comment", "72d3162e-cc78-11e3-81ab-4c9367dc0958", body);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 202);
  EXPECT_NE(again->body.find("duplicate delivery"), std::string::npos);
  EXPECT_EQ(Stored(), 1);
  EXPECT_EQ(notified_.load(), 1);
  EXPECT_EQ(metrics_.IngressCount("issue_comment", "accepted"), 1);
  EXPECT_EQ(metrics_.IngressCount("issue_comment", "duplicate"), 1);
}

TEST_F(IngressTest, PingIsAnswered200) {
  auto r = Post("ping", "p-1", ExamplePayload("ping", ""));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "pong\n");
}

TEST_F(IngressTest, BadSignaturesAre401AndStoreNothing) {
  const std::string body = ExamplePayload("issues", "opened");
  auto missing = Post("issues", "d1", body, "none");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 401);
  EXPECT_EQ(missing->body, "missing X-Hub-Signature-256 header\n");
  auto wrong = Post("issues", "d1", body, webhook::ComputeSignature("other-secret", body));
  ASSERT_TRUE(wrong);
  EXPECT_EQ(wrong->status, 401);
  auto tampered = Post("issues", "d1", body + " ", webhook::ComputeSignature(kSecret, body));
  ASSERT_TRUE(tampered);
  EXPECT_EQ(tampered->status, 401);
  EXPECT_EQ(Stored(), 0);
  EXPECT_EQ(metrics_.IngressCount("", "unauthorized"), 3);
}

TEST_F(IngressTest, GithubTestVectorSignatureIsAccepted) {
  // GitHub's documented vector: the signature passes; the body is not JSON, so the answer is 400, not 401.
  const std::string secret_body = "Hello, World!";
  Ingress vector_ingress({.webhook_secret = "It's a Secret to Everybody", .more_metrics = nullptr}, store_.get(),
                         &metrics_, &clock_, {});
  auto server = NewServer({.port = 0});
  vector_ingress.RegisterPublic(server.get());
  ASSERT_TRUE(server->Start().ok());
  httplib::Client c("127.0.0.1", server->port());
  auto r = c.Post("/webhook",
                  {{"X-GitHub-Event", "issues"}, {"X-GitHub-Delivery", "v1"},
                   {"X-Hub-Signature-256", "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"}},
                  secret_body, "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(r->body, "body is not valid JSON at byte 1\n");
  server->Stop();
}

TEST_F(IngressTest, MalformedRequestsAre400WithOneLine) {
  const std::string body = ExamplePayload("issues", "opened");
  struct Case {
    std::string event, delivery, body, want;
  } cases[] = {
      {"", "d1", body, "missing X-GitHub-Event header\n"},
      {"issues", "", body, "missing X-GitHub-Delivery header\n"},
      {"Issues!", "d1", body, "invalid X-GitHub-Event header\n"},
      {"issues", "d 1", body, "invalid X-GitHub-Delivery header\n"},
      {"issues", "d1", "[1,2]", "body is not a JSON object\n"},
      {"issues", "d1", "{\"a\":", "body is not valid JSON at byte 6\n"},
      {"issues", "d1", std::string(1000, '[') + std::string(1000, ']'), "body is not a JSON object\n"},
      {"issues", "d1", "{\"a\":" + std::string(100000, '[') + std::string(100000, ']') + "}",
       "JSON nesting deeper than 64 levels\n"},
  };
  for (const Case& c : cases) {
    auto r = Post(c.event, c.delivery, c.body);
    ASSERT_TRUE(r) << c.want;
    EXPECT_EQ(r->status, 400) << c.want;
    EXPECT_EQ(r->body, c.want);
    EXPECT_EQ(r->body.find('\n'), r->body.size() - 1);
  }
  EXPECT_EQ(Stored(), 0);
}

TEST_F(IngressTest, UnhandledEventsAreAcknowledgedCountedAndNotStored) {
  auto r = Post("star", "s1", R"({"action":"created","repository":{"full_name":"o/r"}})");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 202);
  EXPECT_EQ(r->body, "ignored: event 'star' is not handled by wavebot\n");
  EXPECT_EQ(Stored(), 0);
  EXPECT_EQ(metrics_.IngressCount("star", "ignored"), 1);
}

TEST_F(IngressTest, OversizeAndCompressedBodies) {
  // Refused on the declared length, before a byte of the body is read.
  wavebot::testing::RawSocket s(server_->port());
  ASSERT_TRUE(s.Send("POST /webhook HTTP/1.1\r\nHost: x\r\nX-GitHub-Event: issues\r\nX-GitHub-Delivery: big\r\n"
                     "Content-Type: application/json\r\nContent-Length: 2097152\r\n\r\n"));
  std::string answer = s.ReadUntil("bytes\n", std::chrono::seconds(5));
  EXPECT_EQ(answer.rfind("HTTP/1.1 413", 0), 0u) << answer;
  EXPECT_NE(answer.find("\r\n\r\nrequest body larger than 1048576 bytes\n"), std::string::npos) << answer;
  httplib::Client c("127.0.0.1", server_->port());
  auto gz = c.Post("/webhook", {{"Content-Encoding", "gzip"}, {"X-GitHub-Event", "issues"}}, "\x1f\x8b", "application/json");
  ASSERT_TRUE(gz);
  EXPECT_EQ(gz->status, 415);
  EXPECT_EQ(gz->body, "compressed request bodies are not accepted (Content-Encoding: gzip)\n");
  EXPECT_EQ(Stored(), 0);
}

TEST_F(IngressTest, HealthMetricsAndDeliveriesApi) {
  auto h = client_->Get("/healthz");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->status, 200);
  json health = json::parse(h->body);
  EXPECT_EQ(health["status"], "ok");
  EXPECT_EQ(health["database"], "writable");
  EXPECT_EQ(health["queue_depth"], 0);

  ASSERT_EQ(Post("issues", "d1", ExamplePayload("issues", "opened"))->status, 202);
  ASSERT_EQ(Post("issues", "d2", ExamplePayload("issues", "labeled"))->status, 202);

  auto list = client_->Get("/api/deliveries?status=pending");
  ASSERT_TRUE(list);
  EXPECT_EQ(list->status, 200);
  json l = json::parse(list->body);
  ASSERT_EQ(l["deliveries"].size(), 2u);
  EXPECT_EQ(l["deliveries"][0]["id"], "d2");  // newest first
  EXPECT_EQ(l["deliveries"][1]["action"], "opened");
  EXPECT_EQ(l["deliveries"][0]["status"], "pending");
  EXPECT_EQ(json::parse(client_->Get("/api/deliveries?status=dead")->body)["deliveries"].size(), 0u);
  EXPECT_EQ(json::parse(client_->Get("/api/deliveries?limit=1")->body)["deliveries"].size(), 1u);
  auto bad = client_->Get("/api/deliveries?status=zombie");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
  EXPECT_NE(bad->body.find("unknown delivery status 'zombie'"), std::string::npos);
  EXPECT_EQ(client_->Get("/api/deliveries?limit=0")->status, 400);

  auto m = client_->Get("/metrics");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->status, 200);
  EXPECT_NE(m->body.find("wavebot_webhook_deliveries_total{event=\"issues\",result=\"accepted\"} 2"), std::string::npos)
      << m->body;
  EXPECT_NE(m->body.find("wavebot_webhook_queue_depth 2\n"), std::string::npos);
  EXPECT_NE(m->body.find("wavebot_webhook_dead_deliveries 0\n"), std::string::npos);
  EXPECT_NE(m->body.find("# TYPE wavebot_webhook_handler_duration_seconds histogram"), std::string::npos);
  EXPECT_NE(m->body.find("\nwavebot_more 1\n"), std::string::npos) << "the other parts' metrics follow";

  // Nothing processes them (no dispatcher here): after the pending age limit health turns 503.
  clock_.Advance(std::chrono::seconds(61));
  auto stale = client_->Get("/healthz");
  ASSERT_TRUE(stale);
  EXPECT_EQ(stale->status, 503);
  json s = json::parse(stale->body);
  EXPECT_EQ(s["status"], "unhealthy");
  EXPECT_EQ(s["queue_depth"], 2);
  EXPECT_GE(s["oldest_pending_age_seconds"].get<double>(), 61.0);
}

}  // namespace
}  // namespace wavebot::http
