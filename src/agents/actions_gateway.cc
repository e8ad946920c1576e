// The ActionsGateway over the GitHub REST client (github::ActionsApi).
#include "agents/actions_executor.h"
#include "github/client.h"

namespace wavebot::agents {
namespace {

github::RepoRef Ref(const std::string& repo) {
  auto slash = repo.find('/');
  return github::RepoRef{repo.substr(0, slash), slash == std::string::npos ? "" : repo.substr(slash + 1)};
}

class GithubActionsGateway final : public ActionsGateway {
 public:
  explicit GithubActionsGateway(github::ActionsApi* api) : api_(api) {}

  Result<int64_t> Dispatch(const std::string& repo, const std::string& workflow, const std::string& ref,
                           const std::map<std::string, std::string>& inputs) override {
    // The API takes the workflow's file name (or id), not its path.
    std::string file = workflow.substr(workflow.rfind('/') == std::string::npos ? 0 : workflow.rfind('/') + 1);
    auto run = api_->DispatchWorkflow(Ref(repo), file, ref, inputs);
    if (!run.ok()) return run.error();
    return run->run_id;
  }

  Result<std::vector<ActionsJobStatus>> RunJobs(const std::string& repo, int64_t run_id) override {
    auto jobs = api_->ListJobsForRun(Ref(repo), run_id);
    if (!jobs.ok()) return jobs.error();
    std::vector<ActionsJobStatus> out;
    for (const auto& j : *jobs) out.push_back({j.id, j.run_id, j.name, j.status, j.conclusion, ""});
    return out;
  }

  Result<std::string> JobLog(const std::string& repo, int64_t job_id) override {
    return api_->DownloadJobLog(Ref(repo), job_id);
  }

 private:
  github::ActionsApi* api_;
};

}  // namespace

std::unique_ptr<ActionsGateway> NewGithubActionsGateway(github::ActionsApi* api) {
  return std::make_unique<GithubActionsGateway>(api);
}

}  // namespace wavebot::agents
