// The actions executor's test fixture: a fake Actions gateway, a fake claim verifier (fake OIDC tokens
// naming their run), a FakeClock, and helpers to submit runs and read the dispatches and events.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "agents/actions_executor.h"
#include "common/clock.h"

namespace wavebot::agents {

using std::chrono::seconds;
namespace fs = std::filesystem;

struct DispatchCall {
  std::string repo, workflow, ref;
  std::map<std::string, std::string> inputs;
  int64_t run_id = 0;  // what the fake GitHub answered
};

class FakeGateway final : public ActionsGateway {
 public:
  Result<int64_t> Dispatch(const std::string& repo, const std::string& workflow, const std::string& ref,
                           const std::map<std::string, std::string>& inputs) override {
    std::unique_lock lock(mu);
    if (refuse_batches && inputs.count("runs")) {  // a workflow file that predates batches
      ++refused_batches;
      return Error(ErrorCode::kInvalidArgument,
                   "POST .../dispatches: 422 Unexpected inputs provided: [\"runs\"]");
    }
    if (!fail.empty()) {
      Error e = fail.front();
      fail.erase(fail.begin());
      return e;
    }
    if (hold) {  // a dispatch whose answer is on its way
      holding = true;
      cv.notify_all();
      cv.wait(lock, [this] { return !hold; });
    }
    int64_t run_id = blind ? 0 : 7001 + static_cast<int64_t>(calls.size());
    calls.push_back({repo, workflow, ref, inputs, run_id});
    return run_id;
  }
  Result<std::vector<ActionsJobStatus>> RunJobs(const std::string& repo, int64_t run_id) override {
    std::lock_guard lock(mu);
    polls.push_back(repo + "#" + std::to_string(run_id));
    std::vector<ActionsJobStatus> of_run;
    for (const auto& j : jobs) {
      if (j.run_id == run_id) of_run.push_back(j);
    }
    return of_run;
  }
  Result<std::string> JobLog(const std::string&, int64_t job_id) override {
    return "log of job " + std::to_string(job_id) + ": runner lost";
  }
  std::vector<DispatchCall> Calls() {
    std::lock_guard lock(mu);
    return calls;
  }

  std::mutex mu;
  std::vector<DispatchCall> calls;
  std::vector<Error> fail;
  std::vector<ActionsJobStatus> jobs;
  std::vector<std::string> polls;
  bool blind = false;  // answers 204, as a GitHub without return_run_details
  bool refuse_batches = false;
  int refused_batches = 0;
  std::condition_variable cv;
  bool hold = false, holding = false;
};

// The fake OIDC token of a run: "oidc:<repo>:<workflow>:<run id>". The fake verifier accepts exactly
// the token of the binding's run, refuses others as the real one does.
inline std::string FakeOidc(const std::string& repo, const std::string& workflow, int64_t run_id) {
  return "oidc:" + repo + ":" + workflow + ":" + std::to_string(run_id);
}
inline Status FakeVerify(const std::string& credential, const ClaimBinding& b) {
  if (credential.rfind("oidc:", 0) != 0) return Error(ErrorCode::kUnauthenticated, "OIDC token: not one");
  if (credential != FakeOidc(b.repo, b.workflow, b.run_id)) {
    return Error(ErrorCode::kPermissionDenied, "OIDC token: issued to another run");
  }
  return OkStatus();
}

class ActionsExecutorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("wavebot-actions-test-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override {
    exec_.reset();
    fs::remove_all(dir_);
  }

  ActionsExecutorOptions Options() {
    ActionsExecutorOptions o;
    o.api_url = "http://127.0.0.1:9/";
    o.max_parallel = 2;
    o.queued_deadline = seconds(600);
    o.run_deadline = seconds(3600);
    o.poll_interval = seconds(60);
    o.max_dispatches = 3;
    o.background = false;
    o.on_event = [this](const JobEvent& e) {
      std::lock_guard lock(mu_);
      events_.push_back(e);
    };
    o.verify_claim = FakeVerify;
    o.random_hex = [this](int bytes) {
      std::lock_guard lock(mu_);
      std::string s = std::to_string(++counter_);
      return std::string(static_cast<size_t>(bytes) * 2 - s.size(), 'a') + s;
    };
    return o;
  }
  void Make(ActionsExecutorOptions o) { exec_ = std::make_unique<ActionsExecutor>(o, &gw_, &clock_); }

  TicketJob Job(const std::string& id, const std::string& repo = "acme/calc", int ticket = 2) {
    fs::path prompt = dir_ / (id + ".md");
    std::ofstream(prompt) << "Implement ticket " << ticket << "\n";
    TicketJob j;
    j.id = id;
    j.args = {"--repo",          "http://127.0.0.1:1/" + repo + ".git",
              "--ticket",        std::to_string(ticket),
              "--branch",        "wave/1-epic/" + std::to_string(ticket),
              "--base",          "epic/1-epic",
              "--mode",          "implement",
              "--attempt",       "1",
              "--prompt-file",   prompt.string(),
              "--data-dir",      "/srv/wavebot/runner",
              "--result-file",   "/srv/wavebot/runs/1.json",
              "--agent-timeout", "60"};
    j.env = {{"PATH", "/usr/bin"}};
    j.git_token = "ghs_secret_install_token";
    return j;
  }

  // The dispatch's call, its run id and the job's OIDC token.
  DispatchCall CallOf(const std::map<std::string, std::string>& in) {
    for (const auto& c : gw_.Calls()) {
      if (c.inputs.at("dispatch_id") == in.at("dispatch_id")) return c;
    }
    ADD_FAILURE() << "no dispatch " << in.at("dispatch_id");
    return {};
  }
  int64_t RunId(const std::map<std::string, std::string>& in) { return CallOf(in).run_id; }
  std::string Token(const std::map<std::string, std::string>& in) {
    DispatchCall c = CallOf(in);
    return FakeOidc(c.repo, c.workflow, c.run_id);
  }

  std::vector<JobEvent> Events(const std::string& id, JobEvent::State state) {
    std::lock_guard lock(mu_);
    std::vector<JobEvent> out;
    for (const auto& e : events_) {
      if (e.id == id && e.state == state) out.push_back(e);
    }
    return out;
  }

  fs::path dir_;
  FakeGateway gw_;
  FakeClock clock_;
  std::unique_ptr<ActionsExecutor> exec_;
  std::mutex mu_;
  std::vector<JobEvent> events_;
  int counter_ = 0;
};

}  // namespace wavebot::agents
