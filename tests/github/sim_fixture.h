// Test helpers: a simulator on loopback with a repository, a client wired to it through a shared
// FakeClock, and a webhook listener that records what it receives.
#pragma once

#include <gtest/gtest.h>
#include <httplib.h>
#include <stdlib.h>

#include <condition_variable>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "github/client.h"
#include "sandbox/simulator.h"
#include "support/temp_dir.h"

namespace wavebot::testing {

struct ReceivedHook {
  std::string event, delivery, signature, body;
};

// An HTTP server on 127.0.0.1 that answers 200 to POST /hook and records each request.
class HookListener {
 public:
  HookListener() {
    server_.Post("/hook", [this](const httplib::Request& req, httplib::Response& res) {
      {
        std::lock_guard lock(mu_);
        hooks_.push_back({req.get_header_value("X-GitHub-Event"), req.get_header_value("X-GitHub-Delivery"),
                          req.get_header_value("X-Hub-Signature-256"), req.body});
      }
      cv_.notify_all();
      res.status = 200;
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  ~HookListener() {
    server_.stop();
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/hook"; }
  // Waits (bounded) until `pred(hooks)` holds.
  template <typename Pred>
  bool WaitFor(Pred pred, std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return pred(hooks_); });
  }
  std::vector<ReceivedHook> hooks() {
    std::lock_guard lock(mu_);
    return hooks_;
  }

 private:
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<ReceivedHook> hooks_;
};

inline const github::RepoRef kRepo{"octo", "demo"};
inline const std::string kSecret = "it's a secret to everybody";

class SimTest : public ::testing::Test {
 protected:
  // Override to change the simulator's options before it starts.
  virtual void Configure(sandbox::SimulatorOptions*) {}

  void SetUp() override {
    sandbox::SimulatorOptions so;
    so.data_dir = dir_.path() + "/sim";
    so.clock = &clock_;
    so.webhook_url = hooks_.url();
    so.webhook_secret = kSecret;
    Configure(&so);
    auto sim = sandbox::Simulator::Start(so);
    ASSERT_TRUE(sim.ok()) << sim.error().ToString();
    sim_ = std::move(*sim);
    ASSERT_TRUE(sim_->CreateRepo(kRepo, sandbox::NewRepo{}).ok());
    client_ = MakeClient();
  }
  void TearDown() override {
    client_.reset();  // closes its keep-alive connections first
    if (sim_) sim_->Stop();
  }

  github::ClientOptions ClientOpts() {
    github::ClientOptions co;
    co.api_url = sim_->api_url();
    co.app_id = std::to_string(sim_->app_id());
    co.private_key_pem = sim_->app_private_key_pem();
    co.clock = &clock_;
    co.jitter_seed = 7;
    return co;
  }
  std::unique_ptr<github::Client> MakeClient() { return MakeClient(ClientOpts()); }
  std::unique_ptr<github::Client> MakeClient(const github::ClientOptions& co) {
    auto c = github::NewClient(co);
    EXPECT_TRUE(c.ok()) << (c.ok() ? "" : c.error().ToString());
    return c.ok() ? std::move(*c) : nullptr;
  }
  // Number of requests in the simulator's log that start with `prefix` (e.g. "GET /repos/octo/demo/issues ").
  int CountRequests(const std::string& prefix) {
    int n = 0;
    for (const auto& line : sim_->RequestLog()) n += line.rfind(prefix, 0) == 0 ? 1 : 0;
    return n;
  }

  TempDir dir_;
  // Starts at the real time so git commit dates and token times look ordinary.
  FakeClock clock_{std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now())};
  HookListener hooks_;
  std::unique_ptr<sandbox::Simulator> sim_;
  std::unique_ptr<github::Client> client_;
};

}  // namespace wavebot::testing
