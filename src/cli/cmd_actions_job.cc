// `wavebot actions-job`: the step of the agent workflow (.github/workflows/wavebot-agent.yml). Claims the
// run from wavebot's API with the dispatch's single-use token, runs `wavebot run-ticket` in a fresh
// private directory (its own mirror and worktree: nothing from an earlier job is reused), posts the
// result with the claim's result token, and removes the directory: no prompt, token or file is left for
// the next job on this runner. Exit 0 when the result was delivered (whatever the agent's outcome).
#include <httplib.h>
#include <nlohmann/json.hpp>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "agents/agent_command.h"
#include "agents/process_runner.h"
#include "cli/command.h"
#include "common/log.h"

namespace wavebot::cli {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct ActionsJobOptions {
  std::string api_url, dispatch_id, work_dir, runner_name;
  int64_t claim_timeout_s = 30;
};

// Removes the job's directory on every path out.
struct DirGuard {
  fs::path path;
  ~DirGuard() {
    std::error_code ec;
    if (!path.empty()) fs::remove_all(path, ec);
  }
};

struct Url {
  std::string base;  // scheme://host:port
  std::string prefix;  // path prefix without a trailing slash
};

Result<Url> ParseUrl(std::string url) {
  while (!url.empty() && url.back() == '/') url.pop_back();
  auto scheme = url.find("://");
  if (scheme == std::string::npos || (url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0)) {
    return Error(ErrorCode::kInvalidArgument, "--api-url must be an http(s) URL, got '" + url + "'");
  }
  auto slash = url.find('/', scheme + 3);
  if (slash == std::string::npos) return Url{url, ""};
  return Url{url.substr(0, slash), url.substr(slash)};
}

int Fail(const std::string& message) {
  std::fprintf(stderr, "wavebot actions-job: %s\n", log::Redact(message).c_str());
  return kExitFailure;
}

int Run(const ActionsJobOptions& o) {
  std::string token;
  if (const char* t = std::getenv("WAVEBOT_DISPATCH_TOKEN")) token = t;
  ::unsetenv("WAVEBOT_DISPATCH_TOKEN");
  log::AddSecret(token);
  if (token.empty()) {
    std::fprintf(stderr, "wavebot actions-job: WAVEBOT_DISPATCH_TOKEN is not set\n");
    return kExitUsage;
  }
  if (o.dispatch_id.empty()) {
    std::fprintf(stderr, "wavebot actions-job: no dispatch id (--dispatch-id or WAVEBOT_DISPATCH_ID)\n");
    return kExitUsage;
  }
  auto url = ParseUrl(o.api_url);
  if (!url.ok()) {
    std::fprintf(stderr, "wavebot actions-job: %s\n", url.error().message().c_str());
    return kExitUsage;
  }
  httplib::Client http(url->base);
  http.set_connection_timeout(std::chrono::seconds(10));
  http.set_read_timeout(std::chrono::seconds(o.claim_timeout_s));

  // A private directory for this job only.
  std::string base = o.work_dir.empty() ? fs::temp_directory_path().string() : o.work_dir;
  std::error_code ec;
  fs::create_directories(base, ec);
  std::string templ = (fs::path(base) / "wavebot-job-XXXXXX").string();
  std::vector<char> buf(templ.begin(), templ.end());
  buf.push_back('\0');
  if (::mkdtemp(buf.data()) == nullptr) return Fail("cannot create a job directory under " + base);
  DirGuard guard{fs::path(buf.data())};

  // Claim.
  httplib::Headers headers = {{"Authorization", "Bearer " + token}, {"X-Wavebot-Runner", o.runner_name}};
  auto claimed = http.Get((url->prefix + "/api/runs/" + o.dispatch_id + "/prompt").c_str(), headers);
  if (!claimed) return Fail("cannot reach wavebot at " + o.api_url + ": " + httplib::to_string(claimed.error()));
  if (claimed->status != 200) {
    return Fail("wavebot refused the claim of dispatch " + o.dispatch_id + " (HTTP " +
                std::to_string(claimed->status) + "): " + claimed->body);
  }
  json claim = json::parse(claimed->body, nullptr, false);
  if (!claim.is_object() || !claim.contains("args") || !claim["args"].is_array() ||
      !claim.contains("result_token") || !claim["result_token"].is_string()) {
    return Fail("wavebot's claim answer is not the expected JSON object");
  }
  std::string result_token = claim["result_token"];
  log::AddSecret(result_token);
  std::map<std::string, std::string> job_env;
  if (claim.contains("env") && claim["env"].is_object()) {
    for (const auto& [k, v] : claim["env"].items()) {
      if (v.is_string()) {
        job_env[k] = v.get<std::string>();
        log::AddSecret(job_env[k]);
      }
    }
  }

  // Run.
  fs::path prompt = guard.path / "prompt.md";
  {
    std::ofstream out(prompt);
    out << claim.value("prompt", "");
  }
  ::chmod(prompt.c_str(), 0600);
  fs::path result_file = guard.path / "result.json";
  agents::ProcessSpec spec;
  spec.args = {fs::read_symlink("/proc/self/exe", ec).string(), "run-ticket"};
  for (const auto& a : claim["args"]) {
    if (a.is_string()) spec.args.push_back(a.get<std::string>());
  }
  spec.args.insert(spec.args.end(), {"--prompt-file", prompt.string(), "--data-dir", (guard.path / "data").string(),
                                     "--result-file", result_file.string()});
  spec.env = agents::CurrentEnvironment();
  spec.env.erase("WAVEBOT_DISPATCH_TOKEN");
  for (const auto& [k, v] : job_env) spec.env[k] = v;
  for (const auto& [k, v] : job_env) spec.secrets.push_back(v);
  spec.secrets.push_back(result_token);
  spec.log_path = (guard.path / "run-ticket.log").string();
  auto runner = agents::NewProcessRunner(RealClock());
  std::fprintf(stderr, "wavebot actions-job: running %s (dispatch %s)\n", claim.value("job_id", "").c_str(),
               o.dispatch_id.c_str());
  auto out = runner->Run(spec);
  json body = {{"exit_code", -1}, {"result", nullptr}, {"output_tail", ""}};
  if (!out.ok()) {
    body["output_tail"] = out.error().ToString();
  } else {
    body["exit_code"] = out->exit_code;
    std::string tail = out->tail.size() > 8192 ? out->tail.substr(out->tail.size() - 8192) : out->tail;
    body["output_tail"] = log::Redact(tail);
    std::ifstream in(result_file);
    std::stringstream ss;
    ss << in.rdbuf();
    json result = json::parse(ss.str(), nullptr, false);
    if (result.is_object()) body["result"] = result;
    std::fputs(body["output_tail"].get<std::string>().c_str(), stderr);
  }

  // Report.
  httplib::Headers result_headers = {{"Authorization", "Bearer " + result_token}};
  auto posted = http.Post((url->prefix + "/api/runs/" + o.dispatch_id + "/result").c_str(), result_headers,
                          body.dump(), "application/json");
  if (!posted) return Fail("cannot post the result to wavebot: " + httplib::to_string(posted.error()));
  if (posted->status != 200) {
    return Fail("wavebot refused the result (HTTP " + std::to_string(posted->status) + "): " + posted->body);
  }
  std::fprintf(stderr, "wavebot actions-job: result delivered (exit %d)\n", body["exit_code"].get<int>());
  return kExitOk;
}

}  // namespace

Command ActionsJobCommand() {
  return {"actions-job", "Run the ticket of one Actions dispatch: claim it from wavebot, run it, post the result",
          [](CLI::App* sub, const GlobalOptions*) {
            auto o = std::make_shared<ActionsJobOptions>();
            sub->add_option("--api-url", o->api_url, "wavebot's base URL")->envname("WAVEBOT_API_URL")->required();
            sub->add_option("--dispatch-id", o->dispatch_id, "The dispatch id (a workflow input)")
                ->envname("WAVEBOT_DISPATCH_ID");
            sub->add_option("--work-dir", o->work_dir, "Where the job's private directory goes (default $TMPDIR)")
                ->envname("RUNNER_TEMP");
            sub->add_option("--runner-name", o->runner_name, "This runner's name (for wavebot's logs)")
                ->envname("RUNNER_NAME");
            sub->add_option("--claim-timeout", o->claim_timeout_s, "Seconds to wait for wavebot's answers");
            sub->footer("The dispatch token is read from WAVEBOT_DISPATCH_TOKEN only (and removed from the "
                          "environment of everything this command starts).");
            return [o] { return Run(*o); };
          }};
}

}  // namespace wavebot::cli
