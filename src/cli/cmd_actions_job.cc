// `wavebot actions-job`: the step of the agent workflow (.github/workflows/wavebot-agent.yml). Asks GitHub
// for the job's OIDC token (ACTIONS_ID_TOKEN_REQUEST_URL&audience=..., which the workflow's
// `permissions: id-token: write` provides), claims the run from wavebot's API with it (wavebot checks the
// token names the workflow run its dispatch created), runs `wavebot run-ticket` in a fresh private
// directory (its own mirror and worktree: nothing from an earlier job is reused), posts the result with
// the claim's result token, and removes the directory: no prompt, token or file is left for the next job
// on this runner. When wavebot's answer to the result says so (executor.linger), the job then asks for
// another run with the answer's single-use token and waits; a run it is given goes the same way, in a
// fresh directory again. Exit 0 when every result was delivered (whatever the agents' outcomes).
#include <httplib.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "agents/actions_executor.h"
#include "agents/agent_command.h"
#include "agents/process_runner.h"
#include "cli/command.h"
#include "common/log.h"
#include "github/rest.h"

namespace wavebot::cli {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct ActionsJobOptions {
  std::string api_url, dispatch_id, work_dir, runner_name, audience;
  int64_t claim_timeout_s = 30;
  int64_t max_job_minutes = 300;  // no further run asked for after this long (the workflow allows 360)
  int64_t report_retry_minutes = 10;  // how long a result is posted again while wavebot cannot take it
};

std::string UrlEncode(const std::string& s) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out += {'%', kHex[c >> 4], kHex[c & 15]};
    }
  }
  return out;
}

// The job's OIDC token from GitHub, the documented way: GET $ACTIONS_ID_TOKEN_REQUEST_URL&audience=<aud>
// with `Authorization: bearer $ACTIONS_ID_TOKEN_REQUEST_TOKEN`, answered {"value": "<jwt>"}.
Result<std::string> RequestIdToken(const std::string& request_url, const std::string& request_token,
                                   const std::string& audience) {
  github::TransportOptions to;
  to.total_timeout = std::chrono::seconds(60);
  auto transport = github::NewCurlTransport(to);
  github::HttpRequest req;
  req.url = request_url + (request_url.find('?') == std::string::npos ? "?" : "&") + "audience=" + UrlEncode(audience);
  req.headers["Authorization"] = "bearer " + request_token;
  req.headers["Accept"] = "application/json; api-version=2.0";
  bool landed = false;
  auto res = transport->Send(req, &landed);
  if (!res.ok()) return res.error().Wrap("requesting the job's OIDC token");
  if (res->status != 200) {
    return Error(ErrorCode::kUnauthenticated, "GitHub refused the job's OIDC token request (HTTP " +
                                                  std::to_string(res->status) + "): " + log::Redact(res->body));
  }
  json j = json::parse(res->body, nullptr, false);
  if (!j.is_object() || !j.contains("value") || !j["value"].is_string() || j["value"].get<std::string>().empty()) {
    return Error(ErrorCode::kParse, "GitHub's OIDC token answer has no \"value\"");
  }
  return j["value"].get<std::string>();
}

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

// Posts `path` with the bearer `token` every `every_s` seconds (none when 0) until destroyed. A failed
// post is logged and the next one tried: the run goes on; wavebot then asks GitHub about the job instead.
// A 404 (wavebot no longer knows this dispatch: it was superseded) ends the posts.
class AliveSender {
 public:
  AliveSender(std::string base, std::string path, std::string token, int64_t every_s)
      : base_(std::move(base)), path_(std::move(path)), token_(std::move(token)), every_(every_s) {
    if (every_s > 0) thread_ = std::thread([this] { Loop(); });
  }
  ~AliveSender() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

 private:
  void Loop() {
    httplib::Client http(base_);
    http.set_connection_timeout(std::chrono::seconds(10));
    http.set_read_timeout(std::chrono::seconds(10));
    http.set_tcp_nodelay(true);
    const httplib::Headers headers = {{"Authorization", "Bearer " + token_}};
    std::unique_lock lock(mu_);
    while (!cv_.wait_for(lock, every_, [this] { return stop_; })) {
      lock.unlock();
      auto res = http.Post(path_.c_str(), headers, "", "application/json");
      if (!res || res->status != 200) {
        std::fprintf(
            stderr, "wavebot actions-job: telling wavebot the run is alive failed (%s)\n",
            res ? ("HTTP " + std::to_string(res->status)).c_str() : httplib::to_string(res.error()).c_str());
      }
      lock.lock();
      if (res && res->status == 404) return;
    }
  }

  const std::string base_, path_, token_;
  const std::chrono::seconds every_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

int Fail(const std::string& message) {
  std::fprintf(stderr, "wavebot actions-job: %s\n", log::Redact(message).c_str());
  return kExitFailure;
}

// Runs the claimed run (`claim`, of `dispatch_id`) in a fresh private directory, removed on every path
// out, and posts its result. `job_secrets` (the job's OIDC tokens) are kept out of the run's output.
// Returns wavebot's answer to the result.
Result<json> RunClaim(const ActionsJobOptions& o, const Url& url, httplib::Client& http,
                      const std::vector<std::string>& job_secrets, const std::string& dispatch_id,
                      const json& claim) {
  // A private directory for this job only.
  std::string base = o.work_dir.empty() ? fs::temp_directory_path().string() : o.work_dir;
  std::error_code ec;
  fs::create_directories(base, ec);
  std::string templ = (fs::path(base) / "wavebot-job-XXXXXX").string();
  std::vector<char> buf(templ.begin(), templ.end());
  buf.push_back('\0');
  if (::mkdtemp(buf.data()) == nullptr)
    return Error(ErrorCode::kIo, "cannot create a job directory under " + base);
  DirGuard guard{fs::path(buf.data())};

  if (!claim.is_object() || !claim.contains("args") || !claim["args"].is_array() ||
      !claim.contains("result_token") || !claim["result_token"].is_string()) {
    return Error(ErrorCode::kParse, "wavebot's claim answer is not the expected JSON object");
  }
  std::string result_token = claim["result_token"];
  log::AddSecret(result_token);
  // The run's git token goes to run-ticket on its stdin: never in an environment or a file here.
  const std::string git_token = claim.value("git_token", "");
  log::AddSecret(git_token);

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
  spec.env.erase("ACTIONS_ID_TOKEN_REQUEST_URL");
  spec.env.erase("ACTIONS_ID_TOKEN_REQUEST_TOKEN");
  spec.env.erase("WAVEBOT_TOKEN");
  if (!git_token.empty()) {
    spec.args.push_back("--token-stdin");
    spec.stdin_text = git_token + "\n";
    spec.secrets.push_back(git_token);
  }
  spec.secrets.push_back(result_token);
  // run-ticket tells wavebot the head before it pushes, and pushes only on its OK (a wavebot before this
  // sends no push token: run-ticket then pushes without asking, as before).
  if (const std::string push_token = claim.value("push_token", ""); !push_token.empty()) {
    log::AddSecret(push_token);
    spec.env["WAVEBOT_PUSH_INTENT_URL"] = url.base + url.prefix + "/api/runs/" + dispatch_id + "/pushing";
    spec.env["WAVEBOT_PUSH_INTENT_TOKEN"] = push_token;
    spec.secrets.push_back(push_token);
  }
  spec.secrets.insert(spec.secrets.end(), job_secrets.begin(), job_secrets.end());
  spec.log_path = (guard.path / "run-ticket.log").string();
  auto runner = agents::NewProcessRunner(RealClock());
  std::fprintf(stderr, "wavebot actions-job: running %s (dispatch %s)\n", claim.value("job_id", "").c_str(),
               dispatch_id.c_str());
  Result<agents::ProcessOutput> out = Error(ErrorCode::kInternal, "not run");
  {
    // While the run goes on, tell wavebot it is alive: then wavebot does not ask GitHub about this job.
    const int64_t every_s = claim.value("alive_interval_s", int64_t{0});
    AliveSender alive(url.base, url.prefix + "/api/runs/" + dispatch_id + "/alive", result_token, every_s);
    out = runner->Run(spec);
  }
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

  // Report. Posted again while wavebot cannot be reached or answers 502, 503 or 504 (wavebot restarting
  // behind its proxy, the network between), 1 s doubling to 30 s apart, for --report-retry-minutes:
  // a result given up is a run done again. The result token is single use, so after a try whose answer
  // never came (wavebot may have applied it) a 404 means the result is in.
  httplib::Headers result_headers = {{"Authorization", "Bearer " + result_token}};
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::minutes(o.report_retry_minutes);
  auto post = [&] {
    return http.Post((url.prefix + "/api/runs/" + dispatch_id + "/result").c_str(), result_headers,
                     body.dump(), "application/json");
  };
  httplib::Result posted = post();
  bool maybe_applied = false;
  for (int wait_s = 1;; wait_s = std::min(wait_s * 2, 30)) {
    const bool transient = !posted || posted->status == 502 || posted->status == 503 || posted->status == 504;
    if (!transient || std::chrono::steady_clock::now() + std::chrono::seconds(wait_s) > give_up) break;
    maybe_applied = true;
    const std::string why =
        posted ? "HTTP " + std::to_string(posted->status) : httplib::to_string(posted.error());
    std::fprintf(stderr, "wavebot actions-job: posting the result failed (%s); again in %d s\n", why.c_str(),
                 wait_s);
    std::this_thread::sleep_for(std::chrono::seconds(wait_s));  // a pause between requests, not a test wait
    posted = post();
  }
  if (maybe_applied && posted && posted->status == 404) {
    std::fprintf(stderr,
                 "wavebot actions-job: wavebot no longer knows the dispatch: an earlier try's result was "
                 "applied and its answer lost (or the run was given to another job); done\n");
    return json::object();
  }
  if (!posted)
    return Error(ErrorCode::kUnavailable,
                 "cannot post the result to wavebot: " + httplib::to_string(posted.error()));
  if (posted->status != 200) {
    return Error(ErrorCode::kFailedPrecondition,
                 "wavebot refused the result (HTTP " + std::to_string(posted->status) + "): " + posted->body);
  }
  std::fprintf(stderr, "wavebot actions-job: result delivered (exit %d)\n", body["exit_code"].get<int>());
  json answer = json::parse(posted->body, nullptr, false);
  return answer.is_object() ? answer : json::object();
}

int Run(const ActionsJobOptions& o) {
  // The OIDC request token lets whoever holds it mint this job's tokens: read it, then take it out of the
  // environment of everything this command starts.
  std::string request_url, request_token;
  if (const char* u = std::getenv("ACTIONS_ID_TOKEN_REQUEST_URL")) request_url = u;
  if (const char* t = std::getenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN")) request_token = t;
  ::unsetenv("ACTIONS_ID_TOKEN_REQUEST_URL");
  ::unsetenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN");
  ::unsetenv("WAVEBOT_DISPATCH_TOKEN");  // the claim token of wavebot before OIDC: no longer used
  log::AddSecret(request_token);
  if (request_url.empty() || request_token.empty()) {
    std::fprintf(
        stderr,
        "wavebot actions-job: ACTIONS_ID_TOKEN_REQUEST_URL and ACTIONS_ID_TOKEN_REQUEST_TOKEN are not set: "
        "the workflow must grant `permissions: id-token: write` (docs/runners.md); wavebot accepts a "
        "claim only with the job's OIDC token\n");
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
  // httplib writes a request's headers and body apart; with Nagle's algorithm on, the body of the
  // result's POST on a kept-alive connection waits for wavebot's delayed ACK (~40 ms).
  http.set_tcp_nodelay(true);

  // Claim, with the job's OIDC token. wavebot answers 503 while it cannot check the token yet (its
  // dispatch's answer or the issuer's keys are on their way): ask again a few times.
  std::string audience = o.audience.empty() ? agents::DefaultClaimAudience(o.api_url) : o.audience;
  auto id_token = RequestIdToken(request_url, request_token, audience);
  if (!id_token.ok()) return Fail(id_token.error().message());
  log::AddSecret(*id_token);
  httplib::Headers headers = {{"Authorization", "Bearer " + *id_token}, {"X-Wavebot-Runner", o.runner_name}};
  const std::string claim_path = url->prefix + "/api/runs/" + o.dispatch_id + "/prompt";
  httplib::Result claimed = http.Get(claim_path.c_str(), headers);
  for (int attempt = 1; claimed && claimed->status == 503 && attempt < 4; ++attempt) {
    int wait_s = std::clamp(std::atoi(claimed->get_header_value("Retry-After").c_str()), 1, 10);
    std::fprintf(stderr, "wavebot actions-job: wavebot cannot check the claim yet (%s); again in %d s\n",
                 claimed->body.c_str(), wait_s);
    std::this_thread::sleep_for(std::chrono::seconds(wait_s));  // a pause between requests, not a test wait
    claimed = http.Get(claim_path.c_str(), headers);
  }
  if (!claimed)
    return Fail("cannot reach wavebot at " + o.api_url + ": " + httplib::to_string(claimed.error()));
  if (claimed->status != 200) {
    return Fail("wavebot refused the claim of dispatch " + o.dispatch_id + " (HTTP " +
                std::to_string(claimed->status) + "): " + claimed->body);
  }
  json claim = json::parse(claimed->body, nullptr, false);
  std::string dispatch_id = o.dispatch_id;
  const auto started = std::chrono::steady_clock::now();
  for (int runs = 1;; ++runs) {
    auto answer = RunClaim(o, *url, http, {*id_token, request_token}, dispatch_id, claim);
    if (!answer.ok()) return Fail(answer.error().message());
    // Another run for this job? Only when wavebot offers one and the job has time left for it.
    const std::string next_token = answer->value("next_token", "");
    const int64_t linger_s = answer->value("linger_s", int64_t{0});
    const auto ran =
        std::chrono::duration_cast<std::chrono::minutes>(std::chrono::steady_clock::now() - started);
    if (next_token.empty() || linger_s <= 0 || ran.count() >= o.max_job_minutes) return kExitOk;
    log::AddSecret(next_token);
    httplib::Client waiter(url->base);
    waiter.set_connection_timeout(std::chrono::seconds(10));
    waiter.set_read_timeout(std::chrono::seconds(linger_s + 30));
    waiter.set_tcp_nodelay(true);
    std::fprintf(stderr, "wavebot actions-job: asking for another run (waiting up to %lld s)\n",
                 static_cast<long long>(linger_s));
    const httplib::Headers next_headers = {{"Authorization", "Bearer " + next_token},
                                           {"X-Wavebot-Runner", o.runner_name}};
    auto next = waiter.Post((url->prefix + "/api/runs/" + dispatch_id + "/next").c_str(), next_headers, "",
                            "application/json");
    if (next && next->status == 204) {
      std::fprintf(stderr, "wavebot actions-job: no other run came; done after %d run(s)\n", runs);
      return kExitOk;
    }
    if (!next || next->status != 200) {
      // Every result so far was delivered: the job did its part.
      std::fprintf(
          stderr, "wavebot actions-job: asking for another run failed (%s); done after %d run(s)\n",
          next ? ("HTTP " + std::to_string(next->status)).c_str() : httplib::to_string(next.error()).c_str(),
          runs);
      return kExitOk;
    }
    claim = json::parse(next->body, nullptr, false);
    if (!claim.is_object() || !claim.contains("dispatch_id") || !claim["dispatch_id"].is_string()) {
      return Fail("wavebot's answer with the next run is not the expected JSON object");
    }
    dispatch_id = claim["dispatch_id"].get<std::string>();
  }
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
            sub->add_option(
                "--report-retry-minutes", o->report_retry_minutes,
                "How long to post a run's result again while wavebot cannot take it (unreachable, "
                "or answering 502, 503 or 504)");
            sub->add_option("--max-job-minutes", o->max_job_minutes,
                            "Ask wavebot for no further run once the job has run this long (below the "
                            "workflow's timeout-minutes)");
            sub->add_option("--audience", o->audience,
                            "Audience of the job's OIDC token (default: --api-url without a trailing slash; "
                            "must equal wavebot's executor.oidc_audience)")
                ->envname("WAVEBOT_OIDC_AUDIENCE");
            sub->footer("The claim is made with the job's GitHub Actions OIDC token, requested with "
                        "ACTIONS_ID_TOKEN_REQUEST_URL and ACTIONS_ID_TOKEN_REQUEST_TOKEN (the workflow needs "
                        "`permissions: id-token: write`); both are removed from the environment of everything "
                        "this command starts.");
            return [o] { return Run(*o); };
          }};
}

}  // namespace wavebot::cli
