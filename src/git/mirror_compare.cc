#include "git/mirror_compare.h"

#include <filesystem>

#include "git/libgit2_util.h"

namespace wavebot::git {

namespace fs = std::filesystem;

namespace {

// GitHub's comparison lists at most this many files; the local answer is cut the same way, so a PR's
// body and its dependents' prompts do not depend on which of the two answered.
constexpr size_t kMaxFiles = 300;

// The mirror, and whether it holds each commit; nullopt when the mirror is not there or a name is not a
// SHA.
struct Opened {
  RepoPtr repo;
  git_oid base, head;
  bool has_base = false, has_head = false;
};

Result<std::optional<Opened>> Open(const std::string& mirror_path, const std::string& base_sha,
                                   const std::string& head_sha) {
  std::error_code ec;
  if (!fs::is_directory(mirror_path, ec)) return std::optional<Opened>();
  Opened o;
  if (base_sha.size() != GIT_OID_HEXSZ || head_sha.size() != GIT_OID_HEXSZ ||
      git_oid_fromstr(&o.base, base_sha.c_str()) != 0 || git_oid_fromstr(&o.head, head_sha.c_str()) != 0) {
    return std::optional<Opened>();  // not a SHA: GitHub says what it makes of it
  }
  EnsureLibgit2();
  git_repository* r = nullptr;
  if (int rc = git_repository_open_ext(&r, mirror_path.c_str(), GIT_REPOSITORY_OPEN_NO_SEARCH, nullptr); rc != 0) {
    if (rc == GIT_ENOTFOUND) return std::optional<Opened>();
    return GitError(rc, "open mirror " + mirror_path);
  }
  o.repo.reset(r);
  for (auto [id, has] : {std::pair{&o.base, &o.has_base}, std::pair{&o.head, &o.has_head}}) {
    git_commit* c = nullptr;
    int rc = git_commit_lookup(&c, o.repo.get(), id);
    if (rc != 0 && rc != GIT_ENOTFOUND) return GitError(rc, "read commit " + OidHex(id) + " in " + mirror_path);
    *has = rc == 0;
    git_commit_free(c);
  }
  return std::optional<Opened>(std::move(o));
}

Result<TreePtr> TreeOfCommit(git_repository* repo, const git_oid& id) {
  git_commit* c = nullptr;
  if (int rc = git_commit_lookup(&c, repo, &id); rc != 0) return GitError(rc, "read commit " + OidHex(&id));
  CommitPtr commit(c);
  git_tree* t = nullptr;
  if (int rc = git_commit_tree(&t, commit.get()); rc != 0) return GitError(rc, "read tree of " + OidHex(&id));
  return TreePtr(t);
}

}  // namespace

std::string MirrorPath(const std::string& data_dir, const std::string& repo_key) {
  return (fs::path(data_dir) / "git" / repo_key / "mirror.git").string();
}

Result<std::optional<std::vector<std::string>>> ChangedFilesInMirror(const std::string& mirror_path,
                                                                     const std::string& base_sha,
                                                                     const std::string& head_sha) {
  using Answer = std::optional<std::vector<std::string>>;
  auto opened = Open(mirror_path, base_sha, head_sha);
  if (!opened.ok()) return opened.error();
  if (!opened->has_value() || !(*opened)->has_base || !(*opened)->has_head) return Answer();
  Opened& o = **opened;
  git_oid merge_base;
  if (int rc = git_merge_base(&merge_base, o.repo.get(), &o.base, &o.head); rc != 0) {
    if (rc == GIT_ENOTFOUND) return Answer();  // no common history: GitHub's answer, whatever it is
    return GitError(rc, "merge base of " + base_sha + " and " + head_sha);
  }
  auto from = TreeOfCommit(o.repo.get(), merge_base);
  if (!from.ok()) return from.error();
  auto to = TreeOfCommit(o.repo.get(), o.head);
  if (!to.ok()) return to.error();
  git_diff* d = nullptr;
  if (int rc = git_diff_tree_to_tree(&d, o.repo.get(), from->get(), to->get(), nullptr); rc != 0) {
    return GitError(rc, "diff " + OidHex(&merge_base) + " " + head_sha);
  }
  DiffPtr diff(d);
  git_diff_find_options find = GIT_DIFF_FIND_OPTIONS_INIT;
  find.flags = GIT_DIFF_FIND_RENAMES;  // git diff -M: renames at 50 % similarity, no copies
  if (int rc = git_diff_find_similar(diff.get(), &find); rc != 0) return GitError(rc, "find renames");
  std::vector<std::string> files;
  const size_t n = git_diff_num_deltas(diff.get());
  for (size_t i = 0; i < n && files.size() < kMaxFiles; ++i) {
    const git_diff_delta* delta = git_diff_get_delta(diff.get(), i);
    char status = 'M';  // modified, and a type change, as GitHub lists one
    if (delta->status == GIT_DELTA_ADDED) status = 'A';
    else if (delta->status == GIT_DELTA_DELETED) status = 'D';
    else if (delta->status == GIT_DELTA_RENAMED) status = 'R';
    else if (delta->status != GIT_DELTA_MODIFIED && delta->status != GIT_DELTA_TYPECHANGE) continue;
    const char* path = delta->status == GIT_DELTA_DELETED ? delta->old_file.path : delta->new_file.path;
    files.push_back(std::string(1, status) + " " + path);
  }
  return Answer(std::move(files));
}

Result<std::optional<bool>> BehindInMirror(const std::string& mirror_path, const std::string& base_sha,
                                           const std::string& head_sha) {
  auto opened = Open(mirror_path, base_sha, head_sha);
  if (!opened.ok()) return opened.error();
  if (!opened->has_value() || !(*opened)->has_head) return std::optional<bool>();
  Opened& o = **opened;
  if (!o.has_base) return std::optional<bool>(true);  // not in the mirror, so not in head's history
  size_t ahead = 0, behind = 0;
  if (int rc = git_graph_ahead_behind(&ahead, &behind, o.repo.get(), &o.head, &o.base); rc != 0) {
    return GitError(rc, "count commits between " + base_sha + " and " + head_sha);
  }
  return std::optional<bool>(behind > 0);
}

}  // namespace wavebot::git
