#include "dashboard/dashboard.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "core/commands.h"
#include "engine/engine_store.h"
#include "http/server.h"
#include "store/database.h"
#include "support/temp_dir.h"

namespace wavebot::dashboard {
namespace {

using nlohmann::json;

struct Applied {
  std::string repo;
  int64_t epic = 0;
  core::CommandKind kind = core::CommandKind::kHelp;
  int64_t ticket = 0;
  std::string actor;
};

class RecordingActions final : public Actions {
 public:
  Status Apply(const std::string& repo, int64_t epic, const core::Command& c, const std::string& actor) override {
    std::lock_guard lock(mu);
    applied.push_back({repo, epic, c.kind, c.ticket, actor});
    return OkStatus();
  }
  std::mutex mu;
  std::vector<Applied> applied;
};

// Collects a streamed body on a client thread; waits on what arrived with a deadline.
class StreamReader {
 public:
  StreamReader(int port, std::string path) {
    thread_ = std::thread([this, port, path] {
      httplib::Client client("127.0.0.1", port);
      client.set_read_timeout(30, 0);
      auto r = client.Get(path.c_str(), [this](const char* data, size_t n) {
        std::lock_guard lock(mu_);
        body_.append(data, n);
        cv_.notify_all();
        return !stop_;
      });
      std::lock_guard lock(mu_);
      ended_ = true;
      status_ = r ? r->status : -1;
      cv_.notify_all();
    });
  }
  ~StreamReader() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    if (thread_.joinable()) thread_.join();
  }
  bool WaitFor(const std::string& text, std::chrono::seconds deadline = std::chrono::seconds(10)) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, deadline, [&] { return body_.find(text) != std::string::npos; });
  }
  bool WaitEnded(std::chrono::seconds deadline = std::chrono::seconds(10)) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, deadline, [&] { return ended_; });
  }
  std::string body() {
    std::lock_guard lock(mu_);
    return body_;
  }
  void Join() { thread_.join(); }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::string body_;
  bool ended_ = false, stop_ = false;
  int status_ = 0;
  std::thread thread_;
};

class DashboardTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = store::Database::Open({.path = dir_.File("w.db"), .durability = store::Durability::kNormal});
    ASSERT_TRUE(db.ok()) << db.error().ToString();
    db_ = std::move(*db);
    store_ = engine::NewEngineStore(db_.get());
    engine::EpicRecord e;
    e.repo = "acme/calc";
    e.number = 1;
    e.title = "<script>window.__pwned=1</script>Epic";
    e.branch = "epic/1-calc";
    auto epic = store_->UpsertEpic(e);
    ASSERT_TRUE(epic.ok());
    epic_ = *epic;
    std::vector<engine::TicketRecord> tickets(2);
    tickets[0].number = 2;
    tickets[0].title = "First <b>bold</b>";
    tickets[0].wave = 1;
    tickets[0].state = "ready";
    tickets[1].number = 3;
    tickets[1].title = "Second";
    tickets[1].wave = 2;
    tickets[1].depends_on = {2};
    for (auto& t : tickets) t.repo = "acme/calc";
    ASSERT_TRUE(store_->SaveTickets(epic_.id, tickets).ok());
    auto saved = store_->Tickets(epic_.id);
    ASSERT_TRUE(saved.ok());
    t2_ = (*saved)[0];
    t3_ = (*saved)[1];
    std::filesystem::create_directories(dir_.File("logs/acme/calc"));  // run-ticket's log directory of acme/calc
    std::filesystem::create_directories(dir_.File("executor"));
  }

  void StartServer(const std::string& admin_token, Actions* actions) {
    server_ = http::NewServer({.port = 0});
    DashboardOptions o;
    o.admin_token = admin_token;
    o.logs.runner_logs = dir_.File("logs");
    o.logs.executor = dir_.File("executor");
    o.poll_interval = std::chrono::milliseconds(20);
    Register(server_.get(), store_.get(), actions, o);
    ASSERT_TRUE(server_->Start().ok());
    client_ = std::make_unique<httplib::Client>("127.0.0.1", server_->port());
  }

  // Starts a run of `t` whose log is `log_file` (recorded at once, as after a finished run).
  engine::AttemptRecord BeginRun(engine::TicketRecord t) {
    t.state = "running";
    auto a = store_->BeginAttempt(t, "implement", "dispatch", std::chrono::system_clock::now());
    EXPECT_TRUE(a.ok());
    return *a;
  }

  testing::TempDir dir_;
  std::unique_ptr<store::Database> db_;
  std::unique_ptr<engine::EngineStore> store_;
  engine::EpicRecord epic_;
  engine::TicketRecord t2_, t3_;
  std::unique_ptr<http::Server> server_;
  std::unique_ptr<httplib::Client> client_;
};

TEST_F(DashboardTest, PagesAndApiShowTheEpicWithIssueTextEscaped) {
  StartServer("", nullptr);
  auto root = client_->Get("/");
  ASSERT_TRUE(root);
  EXPECT_EQ(root->status, 200);
  EXPECT_EQ(root->get_header_value("Content-Type"), "text/html; charset=utf-8");
  EXPECT_NE(root->get_header_value("Content-Security-Policy").find("default-src 'none'"), std::string::npos);
  EXPECT_NE(root->body.find("acme/calc"), std::string::npos);
  EXPECT_EQ(root->body.find("<script>window.__pwned"), std::string::npos);
  EXPECT_NE(root->body.find("&lt;script&gt;window.__pwned=1&lt;/script&gt;Epic"), std::string::npos);

  auto page = client_->Get(("/epics/" + std::to_string(epic_.id)).c_str());
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
  EXPECT_NE(page->body.find("<svg"), std::string::npos);
  EXPECT_NE(page->body.find("First &lt;b&gt;bold&lt;/b&gt;"), std::string::npos);
  EXPECT_NE(page->body.find("id=\"read-only\""), std::string::npos);

  auto api = client_->Get("/api/epics");
  ASSERT_TRUE(api);
  EXPECT_EQ(api->get_header_value("Content-Type"), "application/json");
  json list = json::parse(api->body);
  ASSERT_EQ(list["epics"].size(), 1u);
  EXPECT_EQ(list["epics"][0]["title"], epic_.title);  // JSON carries the text as written

  json one = json::parse(client_->Get(("/api/epics/" + std::to_string(epic_.id)).c_str())->body);
  EXPECT_EQ(one["tickets"].size(), 2u);
  EXPECT_EQ(one["tickets"][1]["depends_on"], json::array({2}));
  json ticket = json::parse(client_->Get(("/api/tickets/" + std::to_string(t3_.id)).c_str())->body);
  EXPECT_EQ(ticket["number"], 3);
  EXPECT_EQ(ticket["state"], "blocked");
  EXPECT_TRUE(client_->Get(("/tickets/" + std::to_string(t3_.id)).c_str())->body.find("No agent runs yet") != std::string::npos);
}

// The CSP allows scripts only by a nonce that is fresh for every response and carried by every script
// tag of that page; no 'unsafe-inline'. (tests/dashboard/browser_test.mjs shows the pages still work.)
TEST_F(DashboardTest, PagesAllowOnlyTheirOwnScriptsByAFreshNonce) {
  StartServer("tok-tok-tok", nullptr);
  std::set<std::string> nonces;
  for (const std::string& path : {std::string("/"), "/epics/" + std::to_string(epic_.id), "/tickets/" + std::to_string(t2_.id),
                                 "/epics/" + std::to_string(epic_.id)}) {
    auto r = client_->Get(path.c_str());
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << path;
    const std::string csp = r->get_header_value("Content-Security-Policy");
    EXPECT_EQ(csp.find("unsafe-inline'; style-src"), std::string::npos) << csp;  // not for scripts
    const std::string key = "script-src 'nonce-";
    size_t at = csp.find(key);
    ASSERT_NE(at, std::string::npos) << csp;
    size_t end = csp.find('\'', at + key.size());
    ASSERT_NE(end, std::string::npos);
    const std::string nonce = csp.substr(at + key.size(), end - at - key.size());
    EXPECT_EQ(csp.substr(end, 3), "'; ") << "script-src holds only the nonce: " << csp;
    EXPECT_GE(nonce.size(), 32u);
    EXPECT_TRUE(nonces.insert(nonce).second) << "nonce reused: " << nonce;
    size_t tags = 0, with_nonce = 0;
    for (size_t p = r->body.find("<script"); p != std::string::npos; p = r->body.find("<script", p + 1)) {
      ++tags;
      if (r->body.compare(p, 15 + nonce.size() + 2, "<script nonce=\"" + nonce + "\">") == 0) ++with_nonce;
    }
    EXPECT_EQ(tags, with_nonce) << path;
    if (path != "/") {
      EXPECT_GE(tags, 1u) << path;
    }
  }
  auto missing = client_->Get("/epics/999");
  EXPECT_NE(missing->get_header_value("Content-Security-Policy").find("script-src 'none'"), std::string::npos);
}

TEST_F(DashboardTest, UnknownIdsAre404WithAClearMessage) {
  StartServer("", nullptr);
  auto epic = client_->Get("/api/epics/999");
  ASSERT_TRUE(epic);
  EXPECT_EQ(epic->status, 404);
  EXPECT_EQ(json::parse(epic->body)["error"], "no such epic");
  EXPECT_EQ(client_->Get("/api/tickets/999")->status, 404);
  EXPECT_EQ(client_->Get("/api/tickets/999/log")->status, 404);
  EXPECT_EQ(client_->Get("/api/tickets/999/log/stream")->status, 404);
  auto page = client_->Get("/epics/999");
  EXPECT_EQ(page->status, 404);
  EXPECT_NE(page->body.find("No such epic."), std::string::npos);
  EXPECT_EQ(client_->Get("/tickets/abc")->status, 404);
}

TEST_F(DashboardTest, ActionsAreRefusedWhenNoAdminTokenIsConfigured) {
  RecordingActions actions;
  StartServer("", &actions);
  auto r = client_->Post(("/api/epics/" + std::to_string(epic_.id) + "/pause").c_str(),
                         {{"Authorization", "Bearer anything"}}, "", "text/plain");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403);
  EXPECT_NE(json::parse(r->body)["error"].get<std::string>().find("no admin token is configured"), std::string::npos);
  EXPECT_TRUE(actions.applied.empty());
}

TEST_F(DashboardTest, ActionsNeedTheTokenInTheAuthorizationHeader) {
  RecordingActions actions;
  StartServer("s3cret-admin-token", &actions);
  const std::string pause = "/api/epics/" + std::to_string(epic_.id) + "/pause";
  auto missing = client_->Post(pause.c_str(), "", "text/plain");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 401);
  EXPECT_EQ(missing->get_header_value("WWW-Authenticate"), "Bearer realm=\"wavebot\"");
  // A cross-site form can send a body and cookies, never a header: refused.
  auto form = client_->Post(pause.c_str(), "token=s3cret-admin-token", "application/x-www-form-urlencoded");
  EXPECT_EQ(form->status, 401);
  auto wrong = client_->Post(pause.c_str(), {{"Authorization", "Bearer s3cret-admin-tokem"}}, "", "text/plain");
  EXPECT_EQ(wrong->status, 403);
  auto basic = client_->Post(pause.c_str(), {{"Authorization", "Basic s3cret-admin-token"}}, "", "text/plain");
  EXPECT_EQ(basic->status, 403);
  auto get = client_->Get(pause.c_str(), {{"Authorization", "Bearer s3cret-admin-token"}});
  EXPECT_EQ(get->status, 404);  // actions are POST only
  EXPECT_TRUE(actions.applied.empty());

  auto ok = client_->Post(pause.c_str(), {{"Authorization", "Bearer s3cret-admin-token"}}, "", "text/plain");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200) << ok->body;
  EXPECT_EQ(json::parse(ok->body)["command"], "/wave pause");
  auto resume = client_->Post(("/api/epics/" + std::to_string(epic_.id) + "/resume").c_str(),
                              {{"Authorization", "Bearer s3cret-admin-token"}}, "", "text/plain");
  EXPECT_EQ(resume->status, 200);
  auto retry = client_->Post(("/api/tickets/" + std::to_string(t3_.id) + "/retry").c_str(),
                             {{"Authorization", "Bearer s3cret-admin-token"}}, "", "text/plain");
  EXPECT_EQ(retry->status, 200);
  auto unknown = client_->Post("/api/epics/999/pause", {{"Authorization", "Bearer s3cret-admin-token"}}, "", "text/plain");
  EXPECT_EQ(unknown->status, 404);
  ASSERT_EQ(actions.applied.size(), 3u);
  EXPECT_EQ(actions.applied[0].kind, core::CommandKind::kPause);
  EXPECT_EQ(actions.applied[0].repo, "acme/calc");
  EXPECT_EQ(actions.applied[0].epic, 1);
  EXPECT_EQ(actions.applied[0].actor, "dashboard (127.0.0.1)");
  EXPECT_EQ(actions.applied[1].kind, core::CommandKind::kResume);
  EXPECT_EQ(actions.applied[2].kind, core::CommandKind::kRetry);
  EXPECT_EQ(actions.applied[2].ticket, 3);
  // The page offers the actions now.
  auto page = client_->Get(("/epics/" + std::to_string(epic_.id)).c_str());
  EXPECT_NE(page->body.find("id=\"admin-token\""), std::string::npos);
  EXPECT_EQ(page->body.find("s3cret-admin-token"), std::string::npos);
}

TEST_F(DashboardTest, ActionsWithoutAnEngineAre503) {
  StartServer("tok-tok-tok", nullptr);
  auto r = client_->Post(("/api/epics/" + std::to_string(epic_.id) + "/pause").c_str(),
                         {{"Authorization", "Bearer tok-tok-tok"}}, "", "text/plain");
  EXPECT_EQ(r->status, 503);
}

TEST_F(DashboardTest, LogApiAndStreamFollowARunningAgentLogUntilTheRunEnds) {
  StartServer("", nullptr);
  engine::AttemptRecord run = BeginRun(t2_);
  const std::string log = dir_.File("logs/acme/calc/ticket-2-attempt-1-implement.log");
  std::ofstream out(log);
  out << "<script>first</script> line\n" << std::flush;

  auto api = client_->Get(("/api/tickets/" + std::to_string(t2_.id) + "/log").c_str());
  ASSERT_TRUE(api);
  json j = json::parse(api->body);
  EXPECT_EQ(j["attempt_id"], run.id);
  EXPECT_TRUE(j["running"]);
  EXPECT_EQ(j["text"], "<script>first</script> line\n");
  auto page = client_->Get(("/tickets/" + std::to_string(t2_.id)).c_str());
  EXPECT_NE(page->body.find("&lt;script&gt;first&lt;/script&gt; line"), std::string::npos);

  StreamReader stream(server_->port(), "/api/tickets/" + std::to_string(t2_.id) + "/log/stream");
  ASSERT_TRUE(stream.WaitFor("event: state\ndata: running\n\n"));
  ASSERT_TRUE(stream.WaitFor("event: log\ndata: <script>first</script> line\n\n"));
  out << "second line\npartial" << std::flush;
  ASSERT_TRUE(stream.WaitFor("event: log\ndata: second line\n\n"));
  EXPECT_EQ(stream.body().find("partial"), std::string::npos);  // not before its line is complete
  out << " now complete\n" << std::flush;
  ASSERT_TRUE(stream.WaitFor("event: log\ndata: partial now complete\n\n"));

  // The run ends: its log is recorded, the ticket moves on, the stream says so and ends.
  engine::TicketRecord t = *store_->GetTicket(t2_.id);
  t.state = "pr_open";
  run.state = "succeeded";
  run.finished_at = std::chrono::system_clock::now();
  run.log_path = log;
  ASSERT_TRUE(store_->FinishAttempt(run, t).ok());
  ASSERT_TRUE(stream.WaitFor("event: state\ndata: pr_open\n\n"));
  ASSERT_TRUE(stream.WaitFor("event: end\ndata: succeeded\n\n"));
  EXPECT_TRUE(stream.WaitEnded());
}

// A log line with bare carriage returns reaches the stream as data lines only: no \r goes out, so an
// EventSource cannot read "event: end" or "retry:" from the agent's output.
TEST_F(DashboardTest, CarriageReturnsInAnAgentLogAreNotFramingInTheStream) {
  StartServer("", nullptr);
  BeginRun(t2_);
  std::ofstream out(dir_.File("logs/acme/calc/ticket-2-attempt-1-implement.log"));
  out << "ok\revent: end\rdata: forged\r\rretry: 1\r\nlast\n" << std::flush;
  StreamReader stream(server_->port(), "/api/tickets/" + std::to_string(t2_.id) + "/log/stream");
  ASSERT_TRUE(stream.WaitFor("data: last\n\n"));
  const std::string body = stream.body();
  EXPECT_EQ(body.find('\r'), std::string::npos);
  EXPECT_NE(body.find("event: log\ndata: ok\ndata: event: end\ndata: data: forged\ndata: \ndata: retry: 1\n\n"), std::string::npos)
      << body;
  EXPECT_EQ(body.find("\nevent: end"), std::string::npos);
}

// wavebot's own rebase of a ticket's PR is a run too, but runs no agent and has no log: the page and the
// stream keep showing the agent's run (the browser test met this when a rebase followed the run).
TEST_F(DashboardTest, ARebaseAfterTheAgentRunKeepsShowingTheAgentsLog) {
  StartServer("", nullptr);
  engine::AttemptRecord run = BeginRun(t2_);
  const std::string log = dir_.File("logs/acme/calc/ticket-2-attempt-1-implement.log");
  std::ofstream(log) << "the agent's line\n";
  engine::TicketRecord t = *store_->GetTicket(t2_.id);
  t.state = "pr_open";
  run.state = "succeeded";
  run.finished_at = std::chrono::system_clock::now();
  run.log_path = log;
  ASSERT_TRUE(store_->FinishAttempt(run, t).ok());
  auto rebase = store_->BeginAttempt(t, "rebase", "rebase:abc", std::chrono::system_clock::now());
  ASSERT_TRUE(rebase.ok());
  rebase->state = "succeeded";
  rebase->finished_at = std::chrono::system_clock::now();
  ASSERT_TRUE(store_->FinishAttempt(*rebase, t).ok());

  auto api = client_->Get(("/api/tickets/" + std::to_string(t2_.id) + "/log").c_str());
  ASSERT_TRUE(api);
  json j = json::parse(api->body);
  EXPECT_EQ(j["attempt_id"], run.id);
  EXPECT_EQ(j["text"], "the agent's line\n");
  StreamReader stream(server_->port(), "/api/tickets/" + std::to_string(t2_.id) + "/log/stream");
  ASSERT_TRUE(stream.WaitFor("event: reset\ndata: " + std::to_string(run.id) + "\n\n"));
  ASSERT_TRUE(stream.WaitFor("event: log\ndata: the agent's line\n\n"));
  ASSERT_TRUE(stream.WaitFor("event: end\ndata: succeeded\n\n"));
}

// A run's result names its log, and a result is not trusted (a runner or an agent may forge it): a log
// path outside wavebot's own log directories is never served, so no server file reaches a reader.
TEST_F(DashboardTest, ALogPathOutsideTheLogDirectoriesIsNotServed) {
  StartServer("", nullptr);
  engine::AttemptRecord run = BeginRun(t2_);
  const std::string secret = dir_.File("app-key.pem");
  std::ofstream(secret) << "-----BEGIN RSA PRIVATE KEY----- secret\n";
  const std::string link = dir_.File("logs/acme/calc/ticket-2-attempt-9-implement.log");
  std::filesystem::create_symlink(secret, link);  // inside by name, outside once resolved
  for (const std::string& forged : {secret, link, dir_.File("logs/../app-key.pem")}) {
    engine::TicketRecord t = *store_->GetTicket(t2_.id);
    run.state = "succeeded";
    run.finished_at = std::chrono::system_clock::now();
    run.log_path = forged;
    ASSERT_TRUE(store_->FinishAttempt(run, t).ok());
    auto api = client_->Get(("/api/tickets/" + std::to_string(t2_.id) + "/log").c_str());
    ASSERT_TRUE(api);
    EXPECT_EQ(api->body.find("PRIVATE KEY"), std::string::npos) << forged << ": " << api->body;
  }
}

// Log names repeat across repositories (ticket #2 of acme/calc and of acme/other): a ticket is shown only
// its own repository's logs, whether its run is on (the newest log of its number) or over (the path its
// result named).
TEST_F(DashboardTest, ATicketNeverShowsAnotherRepositorysLogOfTheSameNumber) {
  engine::EpicRecord other_epic;
  other_epic.repo = "acme/other";
  other_epic.number = 1;
  other_epic.title = "Other";
  auto stored = store_->UpsertEpic(other_epic);
  ASSERT_TRUE(stored.ok());
  std::vector<engine::TicketRecord> others(1);
  others[0].number = 2;
  others[0].repo = "acme/other";
  others[0].title = "Other's #2";
  ASSERT_TRUE(store_->SaveTickets(stored->id, others).ok());
  engine::TicketRecord other = (*store_->Tickets(stored->id))[0];
  StartServer("", nullptr);

  engine::AttemptRecord run = BeginRun(t2_);
  BeginRun(other);
  std::filesystem::create_directories(dir_.File("logs/acme/other"));
  const std::string other_log = dir_.File("logs/acme/other/ticket-2-attempt-1-implement.log");
  std::ofstream(other_log) << "acme/other's private output\n";
  auto mine = [&] { return json::parse(client_->Get(("/api/tickets/" + std::to_string(t2_.id) + "/log").c_str())->body); };
  EXPECT_EQ(mine()["text"], "") << "acme/calc#2 is running but has no log yet";
  EXPECT_EQ(json::parse(client_->Get(("/api/tickets/" + std::to_string(other.id) + "/log").c_str())->body)["text"],
            "acme/other's private output\n");
  std::ofstream(dir_.File("logs/acme/calc/ticket-2-attempt-1-implement.log")) << "calc output\n";
  EXPECT_EQ(mine()["text"], "calc output\n");
  // A forged or confused result naming the other repository's log is not believed either.
  run.state = "succeeded";
  run.finished_at = std::chrono::system_clock::now();
  run.log_path = other_log;
  ASSERT_TRUE(store_->FinishAttempt(run, *store_->GetTicket(t2_.id)).ok());
  EXPECT_EQ(mine()["text"], "");
  auto page = client_->Get(("/tickets/" + std::to_string(t2_.id)).c_str());
  EXPECT_EQ(page->body.find("private output"), std::string::npos);
}

// Before the agent's own log exists, a running run shows the local executor's output log of its job.
TEST_F(DashboardTest, ARunningRunWithoutAnAgentLogShowsTheExecutorsOutput) {
  StartServer("", nullptr);
  engine::AttemptRecord run = BeginRun(t2_);
  std::ofstream(dir_.File("executor/attempt_" + std::to_string(run.id) + ".out.log")) << "run-ticket: fetching\n";
  auto api = client_->Get(("/api/tickets/" + std::to_string(t2_.id) + "/log").c_str());
  ASSERT_TRUE(api);
  EXPECT_EQ(json::parse(api->body)["text"], "run-ticket: fetching\n");
}

TEST_F(DashboardTest, StopEndsAnOpenStreamPromptly) {
  StartServer("", nullptr);
  BeginRun(t2_);  // running, no log yet: the stream waits
  StreamReader stream(server_->port(), "/api/tickets/" + std::to_string(t2_.id) + "/log/stream");
  ASSERT_TRUE(stream.WaitFor("data: running"));
  auto start = std::chrono::steady_clock::now();
  server_->Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
  EXPECT_TRUE(stream.WaitEnded());
}

TEST(StreamServerTest, StreamsChunksAndEndsAtTheTimeLimit) {
  auto server = http::NewServer({.port = 0, .max_stream_duration = std::chrono::seconds(1)});
  server->GetStream("/s", [](const http::Request& req, http::Response* res, http::StreamFn* stream) {
    if (req.Param("plain") == "1") return res->Text(200, "not streamed");
    res->content_type = "text/event-stream";
    *stream = [](http::StreamWriter* w) {
      for (int i = 0; w->Write("n" + std::to_string(i) + "\n"); ++i) {
        if (!w->Wait(std::chrono::milliseconds(50))) return;
      }
    };
  });
  ASSERT_TRUE(server->Start().ok());
  httplib::Client client("127.0.0.1", server->port());
  auto plain = client.Get("/s?plain=1");
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->body, "not streamed\n");
  auto start = std::chrono::steady_clock::now();
  auto r = client.Get("/s");  // returns once the one-second limit has ended the stream
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->get_header_value("Content-Type"), "text/event-stream");
  EXPECT_EQ(r->body.rfind("n0\nn1\n", 0), 0u);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  server->Stop();
}

TEST(WebUrlTest, MapsApiUrlsToWebUrls) {
  EXPECT_EQ(WebUrlForApi("https://api.github.com"), "https://github.com");
  EXPECT_EQ(WebUrlForApi("https://ghe.example.com/api/v3/"), "https://ghe.example.com");
  EXPECT_EQ(WebUrlForApi("http://127.0.0.1:4000"), "http://127.0.0.1:4000");
}

}  // namespace
}  // namespace wavebot::dashboard
