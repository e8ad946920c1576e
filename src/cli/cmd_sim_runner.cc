// `wavebot sim-runner` (hidden): a simulated self-hosted Actions runner for the GitHub simulator. It asks
// the simulator for queued jobs of dispatched workflows carrying its labels (/_sim/runners/acquire),
// heartbeats while it runs one, and reports the conclusion and log (/_sim/runners/complete). The job's
// step is what .github/workflows/wavebot-agent.yml runs: `wavebot actions-job`, with the environment the
// workflow gives its job and step (`env:`, evaluated by the simulator with the inputs and the job's matrix
// values: WAVEBOT_API_URL, WAVEBOT_DISPATCH_ID), RUNNER_NAME, RUNNER_TEMP, GITHUB_RUN_ID, GITHUB_REPOSITORY and,
// when the workflow grants `id-token: write`, the job's ACTIONS_ID_TOKEN_REQUEST_URL and
// ACTIONS_ID_TOKEN_REQUEST_TOKEN (as a real runner provides them).
// The runner does not clean up after a job: whatever a job leaves is there for the next one to see
// (the tests check actions-job leaves nothing).
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <sstream>
#include <thread>

#include "agents/agent_command.h"
#include "agents/process_runner.h"
#include "cli/command.h"
#include "common/log.h"

namespace wavebot::cli {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct SimRunnerOptions {
  std::string simulator, name, labels = "self-hosted,wavebot", work_dir;
  int poll_ms = 100;
  int heartbeat_ms = 250;
};

std::vector<std::string> SplitComma(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  for (std::string item; std::getline(ss, item, ',');) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

int Run(const SimRunnerOptions& o) {
  if (o.simulator.rfind("http://", 0) != 0) {
    std::fprintf(stderr, "wavebot sim-runner: --simulator must be the simulator's http:// URL\n");
    return kExitUsage;
  }
  std::error_code ec;
  std::string self = fs::read_symlink("/proc/self/exe", ec).string();
  fs::path temp = fs::path(o.work_dir) / "_temp";
  fs::create_directories(temp, ec);
  if (ec) {
    std::fprintf(stderr, "wavebot sim-runner: cannot create %s: %s\n", temp.c_str(), ec.message().c_str());
    return kExitUsage;
  }
  httplib::Client sim(o.simulator);
  sim.set_connection_timeout(std::chrono::seconds(5));
  sim.set_read_timeout(std::chrono::seconds(30));
  sim.set_tcp_nodelay(true);  // headers and body go out apart: no waiting for a delayed ACK between them
  auto runner = agents::NewProcessRunner(RealClock());
  int unreachable = 0;
  std::mutex mu;
  std::condition_variable cv;
  for (;;) {
    json ask = {{"name", o.name}, {"labels", SplitComma(o.labels)}};
    auto got = sim.Post("/_sim/runners/acquire", ask.dump(), "application/json");
    if (!got) {
      // The simulator is gone (its test or sandbox ended): so is this runner.
      if (++unreachable >= 20) return kExitOk;
    } else {
      unreachable = 0;
    }
    if (!got || got->status != 200) {
      std::unique_lock lock(mu);
      cv.wait_for(lock, std::chrono::milliseconds(o.poll_ms));  // the runner's poll interval, not a test wait
      continue;
    }
    json job = json::parse(got->body, nullptr, false);
    if (!job.is_object() || !job.contains("job_id") || !job.contains("inputs")) continue;
    int64_t job_id = job["job_id"].get<int64_t>();
    const json& in = job["inputs"];
    std::printf("%s: job %lld (%s)\n", o.name.c_str(), static_cast<long long>(job_id),
                job.value("name", "").c_str());
    std::fflush(stdout);

    std::atomic<bool> done{false};
    std::atomic<bool> lost{false};
    std::thread heartbeat([&] {
      httplib::Client hb(o.simulator);
      json beat = {{"name", o.name}, {"job_id", job_id}};
      std::unique_lock lock(mu);
      while (!done) {
        cv.wait_for(lock, std::chrono::milliseconds(o.heartbeat_ms), [&] { return done.load(); });
        if (done) break;
        lock.unlock();
        auto r = hb.Post("/_sim/runners/heartbeat", beat.dump(), "application/json");
        if (r && r->status == 410) lost = true;  // GitHub gave the job up (cancelled or timed out)
        lock.lock();
      }
    });
    agents::ProcessSpec spec;
    spec.args = {self, "actions-job"};
    spec.env = agents::CurrentEnvironment();
    auto input = [&](const char* k) { return in.contains(k) && in[k].is_string() ? in[k].get<std::string>() : ""; };
    spec.env["WAVEBOT_API_URL"] = input("api_url");
    spec.env["WAVEBOT_DISPATCH_ID"] = input("dispatch_id");
    if (job.contains("env") && job["env"].is_object()) {  // the workflow's own `env:` wins, as on a runner
      for (const auto& [k, v] : job["env"].items()) {
        if (v.is_string()) spec.env[k] = v.get<std::string>();
      }
    }
    spec.env.erase("ACTIONS_ID_TOKEN_REQUEST_URL");
    spec.env.erase("ACTIONS_ID_TOKEN_REQUEST_TOKEN");
    if (job.contains("id_token_request_url") && job.contains("id_token_request_token")) {
      spec.env["ACTIONS_ID_TOKEN_REQUEST_URL"] = job.value("id_token_request_url", "");
      spec.env["ACTIONS_ID_TOKEN_REQUEST_TOKEN"] = job.value("id_token_request_token", "");
      spec.secrets.push_back(job.value("id_token_request_token", ""));
    }
    spec.env["RUNNER_NAME"] = o.name;
    spec.env["RUNNER_TEMP"] = temp.string();
    spec.env["GITHUB_RUN_ID"] = std::to_string(job.value("run_id", int64_t{0}));
    spec.env["GITHUB_REPOSITORY"] = job.value("repository", "");
    spec.cancel = &lost;
    auto out = runner->Run(spec);
    {
      std::lock_guard lock(mu);
      done = true;
    }
    cv.notify_all();
    heartbeat.join();
    std::string log;
    std::string conclusion = "failure";
    if (out.ok()) {
      log = out->tail;
      conclusion = out->cancelled ? "cancelled" : out->exit_code == 0 ? "success" : "failure";
    } else {
      log = out.error().ToString();
    }
    std::printf("%s: job %lld %s\n", o.name.c_str(), static_cast<long long>(job_id), conclusion.c_str());
    // As a runner's own diagnostics keep it: what a job that failed said last.
    if (conclusion == "failure") std::printf("%s\n", log.c_str());
    std::fflush(stdout);
    json report = {{"name", o.name}, {"job_id", job_id}, {"conclusion", conclusion}, {"log", log}};
    sim.Post("/_sim/runners/complete", report.dump(), "application/json");
  }
}

}  // namespace

Command SimRunnerCommand() {
  return {"sim-runner", "",  // hidden: a simulated self-hosted runner for the GitHub simulator
          [](CLI::App* sub, const GlobalOptions*) {
            auto o = std::make_shared<SimRunnerOptions>();
            sub->group("");
            sub->add_option("--simulator", o->simulator, "The simulator's URL")->required();
            sub->add_option("--name", o->name, "Runner name")->required();
            sub->add_option("--labels", o->labels, "Comma-separated labels");
            sub->add_option("--work-dir", o->work_dir, "The runner's directory")->required();
            sub->add_option("--poll-ms", o->poll_ms, "Milliseconds between polls for work");
            return [o] { return Run(*o); };
          }};
}

}  // namespace wavebot::cli
