// Git workspaces on a runner: one bare mirror per repository, a worktree and branch per ticket sharing
// the mirror's objects, commit, push with lease semantics, rebase onto the moved epic branch.
//
// This header is what the rest of wavebot may ask of git; libgit2_workspace.cc implements it. The
// installation token lives only in WorkspaceOptions (memory): it is handed to libgit2 through a
// credential callback and never written to disk, to a remote URL or to a log.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"

namespace wavebot::git {

struct Identity {
  std::string name = "wavebot[bot]";
  std::string email = "wavebot[bot]@users.noreply.github.com";
};

struct WorkspaceOptions {
  std::string data_dir;    // every file wavebot writes for git lives below this directory
  std::string repo_key;    // "owner/name"; each component [A-Za-z0-9._-], not starting with '.'
  std::string remote_url;  // clone URL without credentials, e.g. http://127.0.0.1:5000/o/r.git
  std::string token;       // installation token (memory only); empty: anonymous
  std::string token_user = "x-access-token";
  Identity identity;
  bool keep_ignored_files = false;  // keep ignored files (build caches) when reusing a worktree
  int max_idle_worktrees = 8;       // Prune() removes idle worktrees beyond this many
};

struct TicketSpec {
  int64_t ticket = 0;
  std::string branch;       // e.g. wave/12-login/34-form; must pass git check-ref-format --branch
  std::string base_branch;  // the epic branch the ticket starts from (when its branch is not on the remote)
  // Lease: when set, the ticket branch on the remote must be at this SHA ("" = must not exist), i.e.
  // where wavebot last pushed it. Otherwise Acquire fails with kConflict ("a human pushed").
  std::optional<std::string> expected_remote_head;
  // Fetch before readying the worktree (the default). false: use the mirror as last fetched, e.g. when
  // the caller just called Fetch() for a batch of tickets.
  bool fetch = true;
  // The base branch's head as the caller last saw it on the remote (the engine reads it before each
  // dispatch). When the mirror already holds the base branch there, and the ticket branch where
  // expected_remote_head says (both must be set), the fetch is skipped: the runs of a wave, started
  // together, fetch once. A remote that moved since is still caught: the push is not a force push.
  std::optional<std::string> expected_base_head;
};

struct ChangedFile {
  std::string path;
  char status = 'M';  // A, M, D, R
};

struct RebaseOutcome {
  bool conflict = false;
  std::vector<std::string> conflicting_paths;  // when conflict; the rebase was aborted
  std::string head;                            // new head (or unchanged head when conflict)
};

// One ticket's checked-out worktree, locked for the holder's lifetime. Destroying it returns the
// worktree to the repository's idle pool (HEAD detached, so no branch stays checked out).
// Not thread-safe: one thread uses one TicketWorktree.
class TicketWorktree {
 public:
  virtual ~TicketWorktree() = default;
  virtual const std::string& path() const = 0;
  virtual const std::string& branch() const = 0;
  // The commit the ticket branch started at for this run (remote ticket head, else the base head).
  virtual const std::string& start_sha() const = 0;
  // The base branch head at acquire time.
  virtual const std::string& base_sha() const = 0;
  // The remote ticket branch head observed at acquire time ("" when the branch was not on the remote).
  virtual const std::string& remote_head() const = 0;
  virtual bool reused() const = 0;  // taken from the idle pool rather than created

  // Returns the current HEAD SHA of the worktree.
  virtual Result<std::string> Head() = 0;
  // Commits everything left uncommitted (additions, changes, deletions; ignored files excluded) with
  // the bot identity and a "Wavebot-Ticket: #<n>" trailer. Commits the agent made itself are kept.
  // Returns the new head, or the unchanged head when there was nothing to commit.
  virtual Result<std::string> CommitAll(const std::string& title) = 0;
  // Files changed between start_sha() and HEAD.
  virtual Result<std::vector<ChangedFile>> ChangedFiles() = 0;
  // Checks that the agent did not tamper with git: the .git file, the mirror's config and hooks are
  // unchanged, HEAD is still the ticket branch, and start_sha() is an ancestor of HEAD (unless
  // `allow_rewrite`). kFailedPrecondition with the reason otherwise.
  virtual Status VerifyIntegrity(bool allow_rewrite) = 0;
  // Pushes HEAD to the ticket branch with a lease: the remote head must still be remote_head() as seen
  // in the same connection's advertisement (and receive-pack re-checks it atomically). kConflict when
  // someone else moved it (never forced over); kUnauthenticated for a bad token.
  virtual Status Push() = 0;
  // Rebases the ticket branch onto the remote head of `onto_branch` (fetched first). On conflict the
  // rebase is aborted, the worktree is back at its previous head, and the paths are reported.
  virtual Result<RebaseOutcome> Rebase(const std::string& onto_branch) = 0;
  // Merges the remote head of `onto_branch` into the ticket branch for someone to resolve: conflicts
  // are left in the files (with markers) and the index; the next CommitAll makes the merge commit.
  // Returns the conflicting paths (none: the merge was committed already).
  virtual Result<RebaseOutcome> MergeForResolution(const std::string& onto_branch) = 0;
};

struct DiskUsage {
  int64_t mirror_bytes = 0;      // the shared object store and refs
  int64_t worktree_bytes = 0;    // checked-out files of all worktrees
  int worktrees = 0;
  int idle_worktrees = 0;
};

// A repository's mirror and worktree pool on this runner. Thread-safe: concurrent Acquire calls (from
// threads or processes) serialise on a file lock per mirror and never share a worktree.
class Workspace {
 public:
  virtual ~Workspace() = default;
  // Fetches all branches of the remote into the mirror (refs/remotes/origin/*). kUnauthenticated for a
  // rejected token, kUnavailable when the remote cannot be reached.
  virtual Status Fetch() = 0;
  // Fetches (unless !spec.fetch), then readies a worktree for the ticket on spec.branch: an idle pooled worktree reset hard
  // and cleaned, else a fresh one. The branch starts at the remote ticket branch when it exists, else
  // at the base branch head. Errors: kInvalidArgument (bad branch), kNotFound (no base branch),
  // kConflict (lease: remote ticket head differs from expected_remote_head).
  virtual Result<std::unique_ptr<TicketWorktree>> Acquire(const TicketSpec& spec) = 0;
  // Deletes the local branches in `finished_branches` (when no worktree holds them) and removes idle
  // worktrees beyond max_idle_worktrees. Returns how many worktrees were removed.
  virtual Result<int> Prune(const std::vector<std::string>& finished_branches) = 0;
  // Bytes on disk for the mirror and the worktrees.
  virtual Result<DiskUsage> Usage() = 0;
  // The mirror's directory.
  virtual std::string mirror_path() const = 0;
};

// Opens (creating when missing) the mirror for options.repo_key under options.data_dir.
// Errors: kInvalidArgument for a bad repo key or missing data dir/remote URL; kIo on disk failures.
Result<std::unique_ptr<Workspace>> OpenWorkspace(const WorkspaceOptions& options);

}  // namespace wavebot::git
