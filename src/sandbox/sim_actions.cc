// The simulator as the Actions backend for dispatched workflows (the `actions` executor):
//   - POST /repos/{o}/{r}/actions/workflows/{file}/dispatches reads the workflow file at the ref from the
//     repository, checks the inputs against `on.workflow_dispatch.inputs` as GitHub does (unknown input,
//     missing required input, more than 25: 422), evaluates the first job's `name`, `runs-on` and `env`
//     (`${{ inputs.X }}`, `${{ matrix.X }}`, `${{ fromJSON(inputs.X) }}`), and queues a run with a job
//     per value of its one-vector matrix (one job without);
//   - simulated self-hosted runners (`wavebot sim-runner`, separate processes) take queued jobs whose
//     labels they carry over a small protocol under /_sim/runners/ (acquire, heartbeat, complete), the
//     way the real runner long-polls GitHub's broker;
//   - a runner that stops heartbeating loses its job: the job completes with conclusion failure after
//     `runner_timeout`, as GitHub does when a runner dies;
//   - a job of a workflow granting `id-token: write` gets a per-job OIDC request URL and token with it
//     (sim_oidc.cc);
//   - the dispatch answers 200 with the run's id and URLs when asked (return_run_details), else 204;
//   - every change emits workflow_run (requested, in_progress, completed) and workflow_job (queued,
//     in_progress, completed) webhooks with GitHub's payload shapes.
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <set>

#include "common/clock.h"
#include "sandbox/sim_ctx.h"
#include "sandbox/simulator_impl.h"

namespace wavebot::sandbox {

using sim::Iso;

namespace {

// Replaces `${{ inputs.NAME }}` and `${{ matrix.NAME }}` (spaces optional) with the input's or the matrix
// value's ("" when absent).
std::string Substitute(const std::string& text, const std::map<std::string, std::string>& inputs,
                       const std::map<std::string, std::string>& matrix = {}) {
  std::string out;
  size_t i = 0;
  while (i < text.size()) {
    size_t open = text.find("${{", i);
    if (open == std::string::npos) break;
    size_t close = text.find("}}", open);
    if (close == std::string::npos) break;
    out += text.substr(i, open - i);
    std::string expr = text.substr(open + 3, close - open - 3);
    expr.erase(0, expr.find_first_not_of(' '));
    expr.erase(expr.find_last_not_of(' ') + 1);
    if (expr.rfind("inputs.", 0) == 0) {
      auto it = inputs.find(expr.substr(7));
      if (it != inputs.end()) out += it->second;
    } else if (expr.rfind("matrix.", 0) == 0) {
      auto it = matrix.find(expr.substr(7));
      if (it != matrix.end()) out += it->second;
    }
    i = close + 2;
  }
  return out + text.substr(std::min(i, text.size()));
}

// The job's matrix, as GitHub expands `strategy.matrix` of one vector: `KEY: [values]` or
// `KEY: ${{ fromJSON(inputs.X) }}` (a JSON array of strings, numbers or booleans). One combination, empty,
// without a matrix. kInvalidArgument for a vector without values (GitHub fails such a run).
Result<std::vector<std::map<std::string, std::string>>> ExpandMatrix(const YAML::Node& job,
                                                                    const std::map<std::string, std::string>& inputs) {
  std::vector<std::map<std::string, std::string>> out;
  YAML::Node matrix = job["strategy"] && job["strategy"].IsMap() ? job["strategy"]["matrix"] : YAML::Node();
  if (!matrix || !matrix.IsMap() || matrix.size() == 0) return std::vector<std::map<std::string, std::string>>{{}};
  if (matrix.size() != 1) return Error(ErrorCode::kInvalidArgument, "the simulator expands a matrix of one vector only");
  const std::string key = matrix.begin()->first.as<std::string>();
  const YAML::Node values = matrix.begin()->second;
  std::vector<std::string> list;
  if (values.IsSequence()) {
    for (const auto& v : values) list.push_back(v.as<std::string>());
  } else if (values.IsScalar()) {
    const std::string v = values.as<std::string>();
    const auto from = v.find("fromJSON(inputs.");
    if (from == std::string::npos) return Error(ErrorCode::kInvalidArgument, "matrix vector '" + key + "' is not a list");
    const std::string name = v.substr(from + 16, v.find(')', from) - from - 16);
    json arr = json::parse(inputs.count(name) ? inputs.at(name) : "", nullptr, false);
    if (!arr.is_array()) return Error(ErrorCode::kInvalidArgument, "matrix vector '" + key + "': input " + name + " is not a JSON array");
    for (const auto& e : arr) list.push_back(e.is_string() ? e.get<std::string>() : e.dump());
  }
  if (list.empty()) return Error(ErrorCode::kInvalidArgument, "Matrix vector '" + key + "' does not contain any values");
  for (const auto& v : list) out.push_back({{key, v}});
  return out;
}

// The environment a job's steps see from its `env` and its steps' (`${{ inputs.X }}`, `${{ matrix.X }}`).
std::map<std::string, std::string> JobEnv(const YAML::Node& job, const std::map<std::string, std::string>& inputs,
                                          const std::map<std::string, std::string>& matrix) {
  std::map<std::string, std::string> env;
  auto add = [&](const YAML::Node& node) {
    if (!node || !node.IsMap()) return;
    for (const auto& kv : node) env[kv.first.as<std::string>()] = Substitute(kv.second.as<std::string>(), inputs, matrix);
  };
  add(job["env"]);
  if (job["steps"] && job["steps"].IsSequence()) {
    for (const auto& step : job["steps"]) add(step["env"]);
  }
  return env;
}

// Whether a `permissions` node grants `id-token: write` ("write-all" does; absent, GitHub's default
// permissions do not include it).
bool GrantsIdToken(const YAML::Node& permissions) {
  if (!permissions) return false;
  if (permissions.IsScalar()) return permissions.as<std::string>() == "write-all";
  return permissions.IsMap() && permissions["id-token"] && permissions["id-token"].IsScalar() &&
         permissions["id-token"].as<std::string>() == "write";
}

}  // namespace

SimulatorImpl::Reply SimulatorImpl::DispatchWorkflowLocked(sim::RepoRec& r, const std::string& workflow,
                                                           const json& body, const std::string& actor) {
  if (!body.is_object() || !body.contains("ref") || !body["ref"].is_string()) {
    return Err(422, "Invalid request.\n\n\"ref\" wasn't supplied.");
  }
  bool return_run_details = false;
  if (body.contains("return_run_details")) {
    if (!body["return_run_details"].is_boolean()) {
      return Err(422, "Invalid request.\n\nFor 'properties/return_run_details', is not a boolean.");
    }
    return_run_details = body["return_run_details"].get<bool>();
  }
  auto refs = ReadRefs(r);
  std::string ref = body["ref"];
  std::string sha = refs.count("refs/heads/" + ref) ? refs["refs/heads/" + ref] : "";
  if (sha.empty()) return Err(422, "No ref found for: " + ref);
  std::map<std::string, std::string> inputs;
  if (body.contains("inputs")) {
    if (!body["inputs"].is_object()) return Err(422, "Invalid request.\n\nFor 'properties/inputs', is not an object.");
    for (const auto& [k, v] : body["inputs"].items()) {
      if (v.is_string()) {
        inputs[k] = v.get<std::string>();
      } else if (v.is_number() || v.is_boolean()) {
        inputs[k] = v.dump();
      } else {
        return Err(422, "Invalid request.\n\nFor 'properties/" + k + "', is not a string, number or boolean.");
      }
    }
  }
  if (inputs.size() > 25) return Err(422, "you may only define up to 25 `inputs` for a `workflow_dispatch` event");
  // "The maximum payload for `inputs` is 65,535 characters." (workflow syntax, on.workflow_dispatch.inputs;
  // counted here as the bytes of the inputs object as sent, no fewer than its characters).
  if (body.contains("inputs") && body["inputs"].dump().size() > 65535) {
    return Err(422, "The maximum payload for `inputs` is 65,535 characters.");
  }
  std::string path = ".github/workflows/" + workflow;
  int code = 0;
  auto text = Git(r, {"show", sha + ":" + path}, "", &code);
  if (!text.ok() || code != 0) return Err(404, "Not Found");
  YAML::Node doc;
  try {
    doc = YAML::Load(*text);
  } catch (const YAML::Exception&) {
    return Err(422, "Workflow does not have 'workflow_dispatch' trigger");
  }
  YAML::Node on = doc["on"];
  YAML::Node trigger = on && on.IsMap() ? on["workflow_dispatch"] : YAML::Node();
  bool has_trigger = (on && on.IsMap() && on["workflow_dispatch"]) ||
                     (on && on.IsScalar() && on.as<std::string>() == "workflow_dispatch");
  if (!has_trigger) return Err(422, "Workflow does not have 'workflow_dispatch' trigger");
  std::set<std::string> declared;
  if (trigger && trigger.IsMap() && trigger["inputs"] && trigger["inputs"].IsMap()) {
    for (const auto& in : trigger["inputs"]) {
      std::string name = in.first.as<std::string>();
      declared.insert(name);
      const YAML::Node& spec = in.second;
      bool required = spec.IsMap() && spec["required"] && spec["required"].as<bool>(false);
      if (!inputs.count(name) && spec.IsMap() && spec["default"]) inputs[name] = spec["default"].as<std::string>();
      if (required && !inputs.count(name)) return Err(422, "Required input '" + name + "' not provided");
    }
  }
  std::vector<std::string> unexpected;
  for (const auto& [k, v] : inputs) {
    if (!declared.count(k)) unexpected.push_back("\"" + k + "\"");
  }
  if (!unexpected.empty()) {
    std::string list;
    for (const auto& u : unexpected) list += (list.empty() ? "" : ", ") + u;
    return Err(422, "Unexpected inputs provided: [" + list + "]");
  }
  YAML::Node jobs = doc["jobs"];
  if (!jobs || !jobs.IsMap() || jobs.size() == 0) return Err(422, "Workflow has no jobs");
  auto first = jobs.begin();
  std::string job_key = first->first.as<std::string>();
  YAML::Node job = first->second;
  auto combinations = ExpandMatrix(job, inputs);
  if (!combinations.ok()) return Err(422, combinations.error().message());
  std::vector<std::string> labels;
  YAML::Node runs_on = job["runs-on"];
  if (runs_on && runs_on.IsSequence()) {
    for (const auto& l : runs_on) labels.push_back(Substitute(l.as<std::string>(), inputs));
  } else if (runs_on && runs_on.IsScalar()) {
    std::string v = runs_on.as<std::string>();
    auto from = v.find("fromJSON(inputs.");
    if (from != std::string::npos) {
      std::string name = v.substr(from + 16, v.find(')', from) - from - 16);
      json arr = json::parse(inputs.count(name) ? inputs[name] : "", nullptr, false);
      if (arr.is_array()) {
        for (const auto& l : arr) {
          if (l.is_string()) labels.push_back(l.get<std::string>());
        }
      } else if (arr.is_string()) {
        labels.push_back(arr.get<std::string>());
      }
    } else {
      labels.push_back(Substitute(v, inputs));
    }
  }
  sim::RunRec w;
  w.id = next_id_++;
  w.workflow_id = 161336;
  w.name = doc["name"] ? doc["name"].as<std::string>() : path;
  w.display_title = doc["run-name"] ? Substitute(doc["run-name"].as<std::string>(), inputs) : w.name;
  w.path = path;
  w.event = "workflow_dispatch";
  w.head_sha = sha;
  w.head_branch = ref;
  w.created = w.updated = clock_->Now();
  w.run_number = static_cast<int64_t>(r.runs.size()) + 1;
  // One job per combination of the matrix (one without a matrix), each named and given its environment
  // with its own values.
  std::vector<sim::JobRec> made;
  for (const auto& matrix : *combinations) {
    sim::JobRec j;
    j.id = next_id_++;
    j.run_id = w.id;
    j.name = job["name"] ? Substitute(job["name"].as<std::string>(), inputs, matrix) : job_key;
    if (!job["name"] && !matrix.empty()) j.name += " (" + matrix.begin()->second + ")";
    j.head_sha = sha;
    j.head_branch = ref;
    j.started = clock_->Now();
    j.dispatched = true;
    j.labels = labels;
    j.inputs = inputs;
    j.env = JobEnv(job, inputs, matrix);
    j.workflow_name = w.name;
    j.actor = actor;
    // The job's permissions replace the workflow's when it has its own.
    j.id_token = job["permissions"] ? GrantsIdToken(job["permissions"]) : GrantsIdToken(doc["permissions"]);
    // As on GitHub, the run has a check suite of GitHub Actions and each job a check run on the commit
    // it runs: clients see their events like those of any CI.
    AddActionsChecksLocked(r, w, j);
    w.jobs.push_back(j.id);
    made.push_back(j);
  }
  r.runs[w.id] = w;
  EmitRunLocked(r, r.runs[w.id], "requested");
  for (auto& j : made) {
    r.jobs[j.id] = j;
    EmitJobLocked(r, r.jobs[j.id], "queued");
    EmitCheckRunLocked(r, r.check_runs[j.check_run_id], "created", "github-actions[bot]");
  }
  cv_.notify_all();
  Reply reply;
  if (return_run_details) {
    // GitHub (2025): the created run's id and URLs, when asked for.
    json run = render_.Run(r, r.runs[w.id]);
    reply.body = {{"workflow_run_id", w.id}, {"run_url", run["url"]}, {"html_url", run["html_url"]}};
  } else {
    reply.status = 204;
    reply.body = nullptr;
  }
  return reply;
}

void SimulatorImpl::EmitRunLocked(sim::RepoRec& r, const sim::RunRec& w, const std::string& action) {
  std::string file = w.path.substr(w.path.rfind('/') + 1);
  json workflow = {{"id", w.workflow_id},
                   {"node_id", sim::NodeId("Workflow", w.workflow_id)},
                   {"name", w.name},
                   {"path", w.path},
                   {"state", "active"},
                   {"created_at", Iso(r.created)},
                   {"updated_at", Iso(r.created)},
                   {"url", render_.api() + "/repos/" + r.FullName() + "/actions/workflows/" + std::to_string(w.workflow_id)},
                   {"html_url", render_.api() + "/" + r.FullName() + "/actions/workflows/" + file},
                   {"badge_url", render_.api() + "/" + r.FullName() + "/workflows/" + file + "/badge.svg"}};
  EmitLocked(r, "workflow_run", {{"action", action}, {"workflow_run", render_.Run(r, w)}, {"workflow", workflow}},
             "github-actions[bot]");
}

void SimulatorImpl::EmitJobLocked(sim::RepoRec& r, const sim::JobRec& j, const std::string& action) {
  EmitLocked(r, "workflow_job", {{"action", action}, {"workflow_job", render_.Job(r, j)}}, "github-actions[bot]");
}

void SimulatorImpl::EmitCheckRunLocked(sim::RepoRec& r, const sim::CheckRunRec& c, const std::string& action,
                                       const std::string& sender) {
  json cr = render_.CheckRun(r, c);
  if (auto s = r.suites.find(c.suite_id); s != r.suites.end())
    cr["check_suite"] = render_.CheckSuite(r, s->second);
  EmitLocked(r, "check_run", {{"action", action}, {"check_run", cr}}, sender);
}

void SimulatorImpl::AddActionsChecksLocked(sim::RepoRec& r, sim::RunRec& w, sim::JobRec& j) {
  if (w.suite_id == 0) {  // one suite per run, one check run per job
    sim::CheckSuiteRec s;
    s.id = next_id_++;
    s.head_sha = j.head_sha;
    s.head_branch = j.head_branch;
    s.app_slug = "github-actions";
    s.created = s.updated = clock_->Now();
    r.suites[s.id] = s;
    w.suite_id = s.id;
  }
  sim::CheckRunRec c;
  c.id = j.id;  // as on GitHub: a workflow job and its check run share the id
  c.name = j.name;
  c.head_sha = j.head_sha;
  c.suite_id = w.suite_id;
  c.app_slug = "github-actions";
  c.started = clock_->Now();
  c.details_url = render_.api() + "/" + r.FullName() + "/actions/runs/" + std::to_string(w.id) + "/job/" +
                  std::to_string(j.id);
  j.check_run_id = c.id;
  r.check_runs[c.id] = c;
}

void SimulatorImpl::EmitCheckSuiteLocked(sim::RepoRec& r, const sim::CheckSuiteRec& s,
                                         const std::string& action) {
  json suite = render_.CheckSuite(r, s);
  suite["head_commit"] = {{"id", s.head_sha},
                          {"tree_id", s.head_sha},
                          {"message", "commit"},
                          {"timestamp", Iso(s.created)},
                          {"author", {{"name", "dev"}, {"email", "dev@example.com"}}},
                          {"committer", {{"name", "dev"}, {"email", "dev@example.com"}}}};
  EmitLocked(r, "check_suite", {{"action", action}, {"check_suite", suite}}, "github-actions[bot]");
}

void SimulatorImpl::FinishDispatchedJobLocked(sim::RepoRec& r, sim::JobRec& j, const std::string& conclusion,
                                              const std::string& log) {
  auto now = clock_->Now();
  j.status = "completed";
  j.conclusion = conclusion;
  j.completed = now;
  j.log = log;
  sim::RunRec& w = r.runs[j.run_id];
  w.updated = now;
  EmitJobLocked(r, j, "completed");
  if (auto c = r.check_runs.find(j.check_run_id); c != r.check_runs.end()) {
    c->second.status = "completed";
    c->second.conclusion = conclusion;
    c->second.completed = now;
    c->second.output.title = conclusion == "success" ? "Job succeeded" : "Job failed";
    c->second.output.summary = "";
    EmitCheckRunLocked(r, c->second, "completed", "github-actions[bot]");
  }
  // The run (and its suite) completes with its last job: failure when any job did not succeed.
  std::string run_conclusion = "success";
  for (int64_t id : w.jobs) {
    const auto it = r.jobs.find(id);
    if (it == r.jobs.end()) continue;
    if (it->second.status != "completed") {
      cv_.notify_all();
      return;
    }
    if (it->second.conclusion != "success") run_conclusion = it->second.conclusion;
  }
  w.status = "completed";
  w.conclusion = run_conclusion;
  if (auto s = r.suites.find(w.suite_id); s != r.suites.end()) {
    s->second.status = "completed";
    s->second.conclusion = run_conclusion;
    s->second.updated = now;
    EmitCheckSuiteLocked(r, s->second, "completed");
  }
  EmitRunLocked(r, w, "completed");
  cv_.notify_all();
}

void SimulatorImpl::SweepRunnersLocked() {
  auto now = clock_->Now();
  for (auto& [name, r] : repos_) {
    for (auto& [id, j] : r.jobs) {
      if (!j.dispatched || j.status != "in_progress" || now - j.heartbeat < opt_.runner_timeout) continue;
      FinishDispatchedJobLocked(r, j, "failure",
                                j.log + "The self-hosted runner: " + j.runner_name +
                                    " lost communication with the server. Verify the machine is running and has a "
                                    "healthy network connection.\n");
    }
  }
}

void SimulatorImpl::RegisterRunnerRoutes() {
  // A runner asks for work: the oldest queued dispatched job whose labels it all carries, or 204.
  Add("POST", R"(/_sim/runners/acquire)", Auth::kNone, [this](Ctx& c) {
    SweepRunnersLocked();
    if (!c.body.is_object() || !c.body.contains("name") || !c.body["name"].is_string()) {
      return Err(400, "acquire: {\"name\": string, \"labels\": [string]} expected");
    }
    std::set<std::string> labels;
    if (c.body.contains("labels") && c.body["labels"].is_array()) {
      for (const auto& l : c.body["labels"]) {
        if (l.is_string()) labels.insert(l.get<std::string>());
      }
    }
    sim::RepoRec* best_repo = nullptr;
    sim::JobRec* best = nullptr;
    for (auto& [name, r] : repos_) {
      for (auto& [id, j] : r.jobs) {
        if (!j.dispatched || j.status != "queued") continue;
        bool fits = std::all_of(j.labels.begin(), j.labels.end(), [&](const std::string& l) { return labels.count(l); });
        if (fits && (best == nullptr || j.id < best->id)) {
          best = &j;
          best_repo = &r;
        }
      }
    }
    Reply reply;
    if (best == nullptr) {
      reply.status = 204;
      reply.body = nullptr;
      return reply;
    }
    best->status = "in_progress";
    best->runner_name = c.body["name"].get<std::string>();
    best->started = best->heartbeat = clock_->Now();
    if (best->id_token) best->id_token_request = NewToken("oidcreq_");
    sim::RunRec& w = best_repo->runs[best->run_id];
    const bool run_started = w.status != "in_progress";
    w.status = "in_progress";
    w.updated = clock_->Now();
    if (auto cr = best_repo->check_runs.find(best->check_run_id); cr != best_repo->check_runs.end()) {
      cr->second.status = "in_progress";
    }
    if (auto su = best_repo->suites.find(w.suite_id); su != best_repo->suites.end())
      su->second.status = "in_progress";
    if (run_started) EmitRunLocked(*best_repo, w, "in_progress");
    EmitJobLocked(*best_repo, *best, "in_progress");
    reply.body = {{"job_id", best->id}, {"run_id", best->run_id}, {"repository", best_repo->FullName()},
                  {"name", best->name}, {"inputs", best->inputs}, {"env", best->env}};
    if (best->id_token) {
      // What the runner puts in the job's environment (ACTIONS_ID_TOKEN_REQUEST_URL / _TOKEN).
      reply.body["id_token_request_url"] =
          Origin() + "/_sim/actions/idtoken/" + std::to_string(best->id) + "?api-version=2.0";
      reply.body["id_token_request_token"] = best->id_token_request;
    }
    return reply;
  });
  auto find_job = [this](Ctx& c, sim::RepoRec** repo) -> sim::JobRec* {
    if (!c.body.is_object() || !c.body.contains("job_id") || !c.body["job_id"].is_number_integer()) return nullptr;
    int64_t id = c.body["job_id"].get<int64_t>();
    std::string runner = c.body.value("name", "");
    for (auto& [name, r] : repos_) {
      auto it = r.jobs.find(id);
      if (it != r.jobs.end() && it->second.dispatched && it->second.runner_name == runner) {
        *repo = &r;
        return &it->second;
      }
    }
    return nullptr;
  };
  Add("POST", R"(/_sim/runners/heartbeat)", Auth::kNone, [this, find_job](Ctx& c) {
    SweepRunnersLocked();
    sim::RepoRec* r = nullptr;
    sim::JobRec* j = find_job(c, &r);
    if (j == nullptr) return Err(404, "no such job on this runner");
    if (j->status != "in_progress") return Err(410, "the job is " + j->status + " (" + j->conclusion + ")");
    j->heartbeat = clock_->Now();
    Reply reply;
    reply.body = {{"status", j->status}};
    return reply;
  });
  Add("POST", R"(/_sim/runners/complete)", Auth::kNone, [this, find_job](Ctx& c) {
    sim::RepoRec* r = nullptr;
    sim::JobRec* j = find_job(c, &r);
    if (j == nullptr) return Err(404, "no such job on this runner");
    if (j->status != "in_progress") return Err(410, "the job is " + j->status + " (" + j->conclusion + ")");
    std::string conclusion = c.body.value("conclusion", "failure");
    if (conclusion != "success" && conclusion != "failure" && conclusion != "cancelled") {
      return Err(400, "conclusion must be success, failure or cancelled");
    }
    FinishDispatchedJobLocked(*r, *j, conclusion, c.body.value("log", ""));
    Reply reply;
    reply.body = {{"status", "completed"}};
    return reply;
  });
}

}  // namespace wavebot::sandbox
