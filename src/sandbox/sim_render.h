// JSON renderings of the simulator's state in GitHub's shapes (REST responses and webhook payloads).
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "sandbox/sim_state.h"

namespace wavebot::sandbox::sim {

using json = nlohmann::json;

std::string Iso(TimePoint t);
int64_t Unix(TimePoint t);
std::string NodeId(const std::string& kind, int64_t id);

// Renders objects with URLs under `api` (http://127.0.0.1:PORT).
class Renderer {
 public:
  // `git_base`: where clone URLs point (<git_base>/<owner>/<name>.git); empty: <api>/git.
  explicit Renderer(std::string api, std::string git_base = "")
      : api_(std::move(api)), git_base_(git_base.empty() ? api_ + "/git" : std::move(git_base)) {}
  const std::string& api() const { return api_; }

  json User(const std::string& login) const;
  json Repo(const RepoRec& r) const;
  json Label(const RepoRec& r, const std::string& name) const;
  json Reactions(const std::string& url, const std::vector<ReactionRec>& reactions) const;
  json Reaction(const ReactionRec& r) const;
  json Issue(const RepoRec& r, const IssueRec& i) const;
  json Comment(const RepoRec& r, const CommentRec& c) const;
  // `mergeable`: null when unknown.
  json Pull(const RepoRec& r, const IssueRec& i, const PullRec& p, const json& mergeable,
            const std::string& mergeable_state) const;
  json Review(const RepoRec& r, const PullRec& p, const ReviewRec& v) const;
  json App(const std::string& slug) const;
  json CheckSuite(const RepoRec& r, const CheckSuiteRec& s) const;
  json CheckRun(const RepoRec& r, const CheckRunRec& c) const;
  json Run(const RepoRec& r, const RunRec& w) const;
  json Job(const RepoRec& r, const JobRec& j) const;
  json Installation(const InstallationRec& i, int64_t app_id, const std::string& app_slug) const;

  static int64_t UserId(const std::string& login);

 private:
  std::string api_;
  std::string git_base_;
};

}  // namespace wavebot::sandbox::sim
