// RAII for libgit2 handles and conversion of libgit2 errors into our Error. For src/git, and the
// GitHub stand-in's in-process reads of its repositories (sandbox/sim_git_reads.cc).
#pragma once

#include <git2.h>

#include <memory>
#include <string>

#include "common/result.h"

namespace wavebot::git {

// Calls git_libgit2_init exactly once per process (never shut down: handles may outlive main's locals).
void EnsureLibgit2();

// Builds an Error from libgit2's last error on this thread; call right after the failing call.
Error GitError(int code, const std::string& what);

template <typename T, void (*Free)(T*)>
struct GitDeleter {
  void operator()(T* p) const {
    if (p != nullptr) Free(p);
  }
};
template <typename T, void (*Free)(T*)>
using GitPtr = std::unique_ptr<T, GitDeleter<T, Free>>;

using RepoPtr = GitPtr<git_repository, git_repository_free>;
using RefPtr = GitPtr<git_reference, git_reference_free>;
using CommitPtr = GitPtr<git_commit, git_commit_free>;
using TreePtr = GitPtr<git_tree, git_tree_free>;
using IndexPtr = GitPtr<git_index, git_index_free>;
using RemotePtr = GitPtr<git_remote, git_remote_free>;
using WorktreePtr = GitPtr<git_worktree, git_worktree_free>;
using SignaturePtr = GitPtr<git_signature, git_signature_free>;
using DiffPtr = GitPtr<git_diff, git_diff_free>;
using RebasePtr = GitPtr<git_rebase, git_rebase_free>;
using AnnotatedPtr = GitPtr<git_annotated_commit, git_annotated_commit_free>;
using ObjectPtr = GitPtr<git_object, git_object_free>;
using ConfigPtr = GitPtr<git_config, git_config_free>;

std::string OidHex(const git_oid* oid);

}  // namespace wavebot::git
