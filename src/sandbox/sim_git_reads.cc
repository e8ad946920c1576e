#include "sandbox/sim_git_reads.h"

#include "git/libgit2_util.h"

namespace wavebot::sandbox::sim {
namespace {

using git::ObjectPtr;
using git::RefPtr;
using git::RepoPtr;

RepoPtr Open(const std::string& git_dir, std::string* error) {
  git::EnsureLibgit2();
  git_repository* r = nullptr;
  if (git_repository_open_bare(&r, git_dir.c_str()) != 0) {
    const git_error* e = git_error_last();
    if (error != nullptr)
      *error = "cannot open " + git_dir + ": " + (e != nullptr ? e->message : "unknown error");
    return nullptr;
  }
  return RepoPtr(r);
}

// The commit `rev` names, peeled (a tag to its commit), or nothing.
bool ResolveCommit(git_repository* repo, const std::string& rev, git_oid* out) {
  git_object* o = nullptr;
  if (git_revparse_single(&o, repo, (rev + "^{commit}").c_str()) != 0) return false;
  ObjectPtr obj(o);
  git_oid_cpy(out, git_object_id(obj.get()));
  return true;
}

}  // namespace

std::map<std::string, std::string> ListRefs(const std::string& git_dir, std::string* error) {
  std::map<std::string, std::string> refs;
  RepoPtr repo = Open(git_dir, error);
  if (!repo) return refs;
  git_reference_iterator* it = nullptr;
  if (git_reference_iterator_new(&it, repo.get()) != 0) {
    if (error != nullptr) *error = "cannot list the refs of " + git_dir;
    return refs;
  }
  git_reference* raw = nullptr;
  while (git_reference_next(&raw, it) == 0) {
    RefPtr ref(raw);
    const std::string name = git_reference_name(ref.get());
    if (name.rfind("refs/", 0) != 0) continue;
    git_reference* resolved = nullptr;
    if (git_reference_resolve(&resolved, ref.get()) != 0)
      continue;  // a dangling symbolic ref: git skips it too
    RefPtr target(resolved);
    if (const git_oid* oid = git_reference_target(target.get()); oid != nullptr)
      refs[name] = git::OidHex(oid);
  }
  git_reference_iterator_free(it);
  return refs;
}

int IsAncestorExitCode(const std::string& git_dir, const std::string& ancestor,
                       const std::string& descendant) {
  RepoPtr repo = Open(git_dir, nullptr);
  git_oid a, d;
  if (!repo || !ResolveCommit(repo.get(), ancestor, &a) || !ResolveCommit(repo.get(), descendant, &d))
    return 128;
  if (git_oid_equal(&a, &d)) return 0;  // git counts a commit as its own ancestor; libgit2 does not
  int rc = git_graph_descendant_of(repo.get(), &d, &a);
  return rc == 1 ? 0 : rc == 0 ? 1 : 128;
}

bool HasCommit(const std::string& git_dir, const std::string& rev) {
  RepoPtr repo = Open(git_dir, nullptr);
  git_oid oid;
  return repo && ResolveCommit(repo.get(), rev, &oid);
}

}  // namespace wavebot::sandbox::sim
