// The libgit2 implementation of git::Workspace.
//
// On-disk layout under <data_dir>/git/<owner>/<name>/:
//   mirror.git/         bare repository, remote "origin" (URL without credentials), remote branches in
//                       refs/remotes/origin/*, ticket branches in refs/heads/*
//   mirror.lock         held while the mirror's refs change (fetch, branch creation, worktree add, a push's
//                       remote-tracking ref; not while a push talks to the remote)
//   worktrees/w<N>/     worktrees sharing mirror.git's objects; w<N>.lock held while a ticket uses one
#include <dirent.h>
#include <sys/stat.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "git/file_lock.h"
#include "git/libgit2_util.h"
#include "git/mirror_compare.h"
#include "git/ref_names.h"
#include "git/workspace.h"

namespace wavebot::git {
namespace {

namespace fs = std::filesystem;

// Payload of the remote callbacks: the options holding the token, and what the push reported.
struct CredPayload {
  const WorkspaceOptions* options;
  int attempts = 0;
  std::string rejection;  // "<ref>: <status>" when the remote refused a ref update
};

int CredentialCallback(git_credential** out, const char*, const char*, unsigned int allowed, void* payload) {
  auto* p = static_cast<CredPayload*>(payload);
  if (p->options->token.empty() || (allowed & GIT_CREDENTIAL_USERPASS_PLAINTEXT) == 0) {
    git_error_set_str(GIT_ERROR_NET, "authentication required and no usable token");
    return GIT_EAUTH;
  }
  if (p->attempts++ > 0) {
    git_error_set_str(GIT_ERROR_NET, "the remote rejected the token (authentication failed)");
    return GIT_EAUTH;
  }
  return git_credential_userpass_plaintext_new(out, p->options->token_user.c_str(), p->options->token.c_str());
}

std::string ReadFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int64_t DiskBytes(const fs::path& root, const fs::path& skip = {}) {
  int64_t total = 0;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(root, fs::directory_options::skip_permission_denied, ec), end;
       it != end; it.increment(ec)) {
    if (ec) break;
    if (!skip.empty() && it->path() == skip) {
      it.disable_recursion_pending();
      continue;
    }
    struct stat st;
    if (::lstat(it->path().c_str(), &st) == 0 && !S_ISDIR(st.st_mode)) total += st.st_blocks * 512;
  }
  return total;
}

// True when checking out `commit` may transform file contents: the tree has a .gitattributes file, the
// repository has info/attributes, or the configuration sets autocrlf/eol/attributesFile. Otherwise
// checkout filters are a no-op, and skipping their per-file attribute lookups makes checkout ~40% faster.
bool NeedsFilters(git_repository* repo, git_commit* commit) {
  git_config* c = nullptr;
  if (git_repository_config_snapshot(&c, repo) == 0) {
    ConfigPtr cfg(c);
    for (const char* key : {"core.autocrlf", "core.eol", "core.attributesfile"}) {
      git_config_entry* e = nullptr;
      if (git_config_get_entry(&e, cfg.get(), key) == 0) {
        bool set = e != nullptr && std::string(e->value) != "false";
        git_config_entry_free(e);
        if (set) return true;
      }
    }
  }
  if (fs::exists(fs::path(git_repository_commondir(repo)) / "info" / "attributes")) return true;
  git_tree* t = nullptr;
  if (git_commit_tree(&t, commit) != 0) return true;
  TreePtr tree(t);
  bool found = false;
  git_tree_walk(
      tree.get(), GIT_TREEWALK_PRE,
      [](const char*, const git_tree_entry* entry, void* payload) -> int {
        if (std::string(git_tree_entry_name(entry)) == ".gitattributes") {
          *static_cast<bool*>(payload) = true;
          return -1;  // stop
        }
        return 0;
      },
      &found);
  return found;
}

Result<RepoPtr> OpenRepo(const std::string& path) {
  EnsureLibgit2();
  git_repository* r = nullptr;
  if (int rc = git_repository_open_ext(&r, path.c_str(), GIT_REPOSITORY_OPEN_NO_SEARCH, nullptr); rc != 0) {
    return GitError(rc, "open repository " + path);
  }
  return RepoPtr(r);
}

Result<git_oid> ResolveRef(git_repository* repo, const std::string& name) {
  git_oid oid;
  if (int rc = git_reference_name_to_id(&oid, repo, name.c_str()); rc != 0) return GitError(rc, "resolve " + name);
  return oid;
}

// Fetches origin's branches into refs/remotes/origin/* with the token from the callback.
Status FetchRepo(git_repository* repo, const WorkspaceOptions& options) {
  git_remote* r = nullptr;
  if (int rc = git_remote_lookup(&r, repo, "origin"); rc != 0) return GitError(rc, "lookup remote origin");
  RemotePtr remote(r);
  CredPayload payload{&options, 0, {}};
  git_fetch_options fo = GIT_FETCH_OPTIONS_INIT;
  fo.callbacks.credentials = CredentialCallback;
  fo.callbacks.payload = &payload;
  fo.prune = GIT_FETCH_PRUNE;
  fo.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE;
  if (int rc = git_remote_fetch(remote.get(), nullptr, &fo, "wavebot fetch"); rc != 0) {
    Error e = GitError(rc, "fetch " + options.remote_url);
    if (payload.attempts > 0 && rc == GIT_EAUTH) return Error(ErrorCode::kUnauthenticated, e.message());
    return e;
  }
  return OkStatus();
}

class Libgit2Workspace;

class Libgit2TicketWorktree final : public TicketWorktree {
 public:
  Libgit2TicketWorktree(const WorkspaceOptions* options, std::string mirror_path, std::string mirror_lock,
                        std::unique_ptr<FileLock> lock, RepoPtr repo, std::string path, const TicketSpec& spec,
                        std::string start, std::string base, std::string remote_head, bool reused)
      : options_(options),
        mirror_path_(std::move(mirror_path)),
        mirror_lock_path_(std::move(mirror_lock)),
        lock_(std::move(lock)),
        repo_(std::move(repo)),
        path_(std::move(path)),
        branch_(spec.branch),
        ticket_(spec.ticket),
        start_(std::move(start)),
        base_(std::move(base)),
        remote_head_(std::move(remote_head)),
        reused_(reused) {
    dotgit_ = ReadFile(fs::path(path_) / ".git");
    config_ = ReadFile(fs::path(mirror_path_) / "config");
    hooks_ = HooksListing();
  }

  ~Libgit2TicketWorktree() override {
    // Return to the pool: detach HEAD so that the branch is free for another worktree.
    git_oid head;
    if (git_reference_name_to_id(&head, repo_.get(), "HEAD") == 0) {
      git_repository_set_head_detached(repo_.get(), &head);
    }
  }

  const std::string& path() const override { return path_; }
  const std::string& branch() const override { return branch_; }
  const std::string& start_sha() const override { return start_; }
  const std::string& base_sha() const override { return base_; }
  const std::string& remote_head() const override { return remote_head_; }
  bool reused() const override { return reused_; }

  Result<std::string> Head() override {
    auto oid = ResolveRef(repo_.get(), "HEAD");
    if (!oid.ok()) return oid.error();
    return OidHex(&*oid);
  }

  Result<std::string> CommitAll(const std::string& title) override {
    git_index* idx = nullptr;
    if (int rc = git_repository_index(&idx, repo_.get()); rc != 0) return GitError(rc, "open index");
    IndexPtr index(idx);
    git_index_read(index.get(), 1);
    char star[] = "*";
    char* patterns[] = {star};
    git_strarray all = {patterns, 1};
    if (int rc = git_index_add_all(index.get(), &all, GIT_INDEX_ADD_DEFAULT, nullptr, nullptr); rc != 0) {
      return GitError(rc, "stage changes");
    }
    if (int rc = git_index_update_all(index.get(), &all, nullptr, nullptr); rc != 0) {
      return GitError(rc, "stage deletions");
    }
    if (int rc = git_index_write(index.get()); rc != 0) return GitError(rc, "write index");
    git_oid tree_oid;
    if (int rc = git_index_write_tree(&tree_oid, index.get()); rc != 0) return GitError(rc, "write tree");

    auto head_oid = ResolveRef(repo_.get(), "HEAD");
    if (!head_oid.ok()) return head_oid.error();
    git_commit* c = nullptr;
    if (int rc = git_commit_lookup(&c, repo_.get(), &*head_oid); rc != 0) return GitError(rc, "lookup HEAD");
    CommitPtr parent(c);
    // A merge in progress (MergeForResolution) becomes a merge commit with MERGE_HEAD as second parent.
    CommitPtr merge_parent;
    git_oid merge_oid;
    if (git_reference_name_to_id(&merge_oid, repo_.get(), "MERGE_HEAD") == 0) {
      git_commit* m = nullptr;
      if (int rc = git_commit_lookup(&m, repo_.get(), &merge_oid); rc != 0) return GitError(rc, "lookup MERGE_HEAD");
      merge_parent.reset(m);
    }
    if (!merge_parent && git_oid_equal(git_commit_tree_id(parent.get()), &tree_oid)) return OidHex(&*head_oid);

    git_tree* t = nullptr;
    if (int rc = git_tree_lookup(&t, repo_.get(), &tree_oid); rc != 0) return GitError(rc, "lookup tree");
    TreePtr tree(t);
    git_signature* s = nullptr;
    if (int rc = git_signature_now(&s, options_->identity.name.c_str(), options_->identity.email.c_str()); rc != 0) {
      return GitError(rc, "bot signature");
    }
    SignaturePtr sig(s);
    std::string message = title + "\n\nWavebot-Ticket: #" + std::to_string(ticket_) + "\n";
    const git_commit* parents[] = {parent.get(), merge_parent.get()};
    git_oid commit_oid;
    if (int rc = git_commit_create(&commit_oid, repo_.get(), "HEAD", sig.get(), sig.get(), nullptr,
                                   message.c_str(), tree.get(), merge_parent ? 2 : 1, parents);
        rc != 0) {
      return GitError(rc, "commit");
    }
    git_repository_state_cleanup(repo_.get());
    return OidHex(&commit_oid);
  }

  Result<std::vector<ChangedFile>> ChangedFiles() override {
    auto head = ResolveRef(repo_.get(), "HEAD");
    if (!head.ok()) return head.error();
    git_oid start;
    git_oid_fromstr(&start, start_.c_str());
    auto a = TreeOf(start);
    if (!a.ok()) return a.error();
    auto b = TreeOf(*head);
    if (!b.ok()) return b.error();
    git_diff* d = nullptr;
    if (int rc = git_diff_tree_to_tree(&d, repo_.get(), a->get(), b->get(), nullptr); rc != 0) {
      return GitError(rc, "diff");
    }
    DiffPtr diff(d);
    git_diff_find_options fo = GIT_DIFF_FIND_OPTIONS_INIT;
    fo.flags = GIT_DIFF_FIND_RENAMES;
    git_diff_find_similar(diff.get(), &fo);
    std::vector<ChangedFile> out;
    size_t n = git_diff_num_deltas(diff.get());
    for (size_t i = 0; i < n; ++i) {
      const git_diff_delta* delta = git_diff_get_delta(diff.get(), i);
      ChangedFile f;
      f.status = git_diff_status_char(delta->status);
      f.path = delta->status == GIT_DELTA_DELETED ? delta->old_file.path : delta->new_file.path;
      out.push_back(f);
      if (delta->status == GIT_DELTA_RENAMED) out.push_back({delta->old_file.path, 'D'});
    }
    return out;
  }

  Status VerifyIntegrity(bool allow_rewrite) override {
    if (ReadFile(fs::path(path_) / ".git") != dotgit_) {
      return Error(ErrorCode::kFailedPrecondition, "the worktree's .git file was changed or removed");
    }
    if (ReadFile(fs::path(mirror_path_) / "config") != config_) {
      return Error(ErrorCode::kFailedPrecondition, "the repository's git config was changed");
    }
    if (HooksListing() != hooks_) return Error(ErrorCode::kFailedPrecondition, "git hooks were changed");
    git_reference* h = nullptr;
    if (int rc = git_reference_lookup(&h, repo_.get(), "HEAD"); rc != 0) return GitError(rc, "lookup HEAD");
    RefPtr head(h);
    if (git_reference_type(head.get()) != GIT_REFERENCE_SYMBOLIC ||
        std::string(git_reference_symbolic_target(head.get())) != "refs/heads/" + branch_) {
      return Error(ErrorCode::kFailedPrecondition, "HEAD is no longer on the ticket branch " + branch_);
    }
    auto oid = ResolveRef(repo_.get(), "HEAD");
    if (!oid.ok()) return oid.error();
    if (!allow_rewrite) {
      git_oid start;
      git_oid_fromstr(&start, start_.c_str());
      if (!git_oid_equal(&start, &*oid) && git_graph_descendant_of(repo_.get(), &*oid, &start) != 1) {
        return Error(ErrorCode::kFailedPrecondition, "the branch no longer contains its start commit " + start_);
      }
    }
    return OkStatus();
  }

  // The exchange with the remote runs without mirror.lock: it only reads the shared objects (a fetch
  // meanwhile adds packs atomically) and this worktree's own branch (held by its worktree lock), so runs
  // finishing together push at once instead of one after another (each push a round trip or more to
  // GitHub). Only the remote-tracking ref, which fetches write too, is updated under the lock.
  Status Push() override {
    auto head = ResolveRef(repo_.get(), "HEAD");
    if (!head.ok()) return head.error();
    git_remote* r = nullptr;
    if (int rc = git_remote_lookup(&r, repo_.get(), "origin"); rc != 0) return GitError(rc, "lookup origin");
    RemotePtr remote(r);
    CredPayload payload{options_, 0, {}};
    git_remote_callbacks cbs = GIT_REMOTE_CALLBACKS_INIT;
    cbs.credentials = CredentialCallback;
    cbs.payload = &payload;
    if (int rc = git_remote_connect(remote.get(), GIT_DIRECTION_PUSH, &cbs, nullptr, nullptr); rc != 0) {
      return GitError(rc, "connect for push");
    }
    const git_remote_head** heads = nullptr;
    size_t nheads = 0;
    if (int rc = git_remote_ls(&heads, &nheads, remote.get()); rc != 0) return GitError(rc, "list remote refs");
    std::string full = "refs/heads/" + branch_;
    std::string current;
    for (size_t i = 0; i < nheads; ++i) {
      if (full == heads[i]->name) current = OidHex(&heads[i]->oid);
    }
    std::string new_head = OidHex(&*head);
    if (current == new_head) return OkStatus();  // already there (a repeated push)
    if (current != remote_head_) {
      return Error(ErrorCode::kConflict, "remote branch " + branch_ + " is at " + (current.empty() ? "nothing" : current) +
                                             " but wavebot expected " + (remote_head_.empty() ? "nothing" : remote_head_) +
                                             ": someone else pushed; not overwriting");
    }
    // Forced within the lease: libgit2 sends the advertised old value, which receive-pack re-checks
    // atomically, so a push racing ours between the advertisement and the update is not overwritten.
    std::string spec = "+" + full + ":" + full;
    char* specs[] = {spec.data()};
    git_strarray refspecs = {specs, 1};
    git_push_options po = GIT_PUSH_OPTIONS_INIT;
    po.callbacks = cbs;
    po.callbacks.push_update_reference = [](const char* ref, const char* status, void* data) -> int {
      if (status != nullptr) static_cast<CredPayload*>(data)->rejection = std::string(ref) + ": " + status;
      return 0;
    };
    if (int rc = git_remote_upload(remote.get(), &refspecs, &po); rc != 0) return GitError(rc, "push " + branch_);
    git_remote_disconnect(remote.get());
    if (!payload.rejection.empty()) {
      return Error(ErrorCode::kConflict, "push rejected by the remote: " + payload.rejection);
    }
    auto lock = FileLock::Acquire(mirror_lock_path_);
    if (!lock.ok()) return lock.error();
    git_reference* tracking = nullptr;
    if (git_reference_create(&tracking, repo_.get(), ("refs/remotes/origin/" + branch_).c_str(), &*head, 1,
                             "wavebot push") == 0) {
      git_reference_free(tracking);
    }
    remote_head_ = new_head;
    return OkStatus();
  }

  Result<RebaseOutcome> Rebase(const std::string& onto_branch) override {
    {
      auto lock = FileLock::Acquire(mirror_lock_path_);
      if (!lock.ok()) return lock.error();
      WAVEBOT_RETURN_IF_ERROR(FetchRepo(repo_.get(), *options_));
    }
    auto onto_oid = ResolveRef(repo_.get(), "refs/remotes/origin/" + onto_branch);
    if (!onto_oid.ok()) return onto_oid.error();
    git_annotated_commit* ac = nullptr;
    if (int rc = git_annotated_commit_lookup(&ac, repo_.get(), &*onto_oid); rc != 0) return GitError(rc, "annotate");
    AnnotatedPtr upstream(ac);
    git_rebase_options ro = GIT_REBASE_OPTIONS_INIT;
    ro.checkout_options.checkout_strategy = GIT_CHECKOUT_SAFE;
    git_rebase* rb = nullptr;
    if (int rc = git_rebase_init(&rb, repo_.get(), nullptr, upstream.get(), nullptr, &ro); rc != 0) {
      return GitError(rc, "start rebase onto " + onto_branch);
    }
    RebasePtr rebase(rb);
    git_signature* s = nullptr;
    git_signature_now(&s, options_->identity.name.c_str(), options_->identity.email.c_str());
    SignaturePtr sig(s);
    RebaseOutcome outcome;
    git_rebase_operation* op = nullptr;
    int rc;
    while ((rc = git_rebase_next(&op, rebase.get())) == 0) {
      git_index* idx = nullptr;
      if (int irc = git_repository_index(&idx, repo_.get()); irc != 0) return GitError(irc, "open index");
      IndexPtr index(idx);
      if (git_index_has_conflicts(index.get())) {
        outcome.conflict = true;
        outcome.conflicting_paths = ConflictPaths(index.get());
        break;
      }
      git_oid commit_oid;
      int crc = git_rebase_commit(&commit_oid, rebase.get(), nullptr, sig.get(), nullptr, nullptr);
      if (crc == GIT_EAPPLIED) continue;  // the change is already upstream
      if (crc == GIT_EUNMERGED) {
        outcome.conflict = true;
        outcome.conflicting_paths = ConflictPaths(index.get());
        break;
      }
      if (crc != 0) {
        Error e = GitError(crc, "rebase commit");
        git_rebase_abort(rebase.get());
        return e;
      }
    }
    if (outcome.conflict) {
      if (int arc = git_rebase_abort(rebase.get()); arc != 0) return GitError(arc, "abort rebase");
      auto h = Head();
      if (!h.ok()) return h.error();
      outcome.head = *h;
      return outcome;
    }
    if (rc != GIT_ITEROVER) {
      Error e = GitError(rc, "rebase");
      git_rebase_abort(rebase.get());
      return e;
    }
    if (int frc = git_rebase_finish(rebase.get(), sig.get()); frc != 0) return GitError(frc, "finish rebase");
    auto h = Head();
    if (!h.ok()) return h.error();
    outcome.head = *h;
    start_ = base_ = OidHex(&*onto_oid);
    return outcome;
  }

  Result<RebaseOutcome> MergeForResolution(const std::string& onto_branch) override {
    {
      auto lock = FileLock::Acquire(mirror_lock_path_);
      if (!lock.ok()) return lock.error();
      WAVEBOT_RETURN_IF_ERROR(FetchRepo(repo_.get(), *options_));
    }
    auto onto_oid = ResolveRef(repo_.get(), "refs/remotes/origin/" + onto_branch);
    if (!onto_oid.ok()) return onto_oid.error();
    git_annotated_commit* ac = nullptr;
    if (int rc = git_annotated_commit_lookup(&ac, repo_.get(), &*onto_oid); rc != 0) return GitError(rc, "annotate");
    AnnotatedPtr theirs(ac);
    git_merge_options mo = GIT_MERGE_OPTIONS_INIT;
    git_checkout_options co = GIT_CHECKOUT_OPTIONS_INIT;
    co.checkout_strategy = GIT_CHECKOUT_SAFE | GIT_CHECKOUT_ALLOW_CONFLICTS;
    const git_annotated_commit* heads[] = {theirs.get()};
    if (int rc = git_merge(repo_.get(), heads, 1, &mo, &co); rc != 0) return GitError(rc, "merge " + onto_branch);
    git_index* idx = nullptr;
    if (int rc = git_repository_index(&idx, repo_.get()); rc != 0) return GitError(rc, "open index");
    IndexPtr index(idx);
    RebaseOutcome outcome;
    outcome.conflict = git_index_has_conflicts(index.get()) != 0;
    outcome.conflicting_paths = ConflictPaths(index.get());
    if (!outcome.conflict) {
      auto h = CommitAll("Merge " + onto_branch);
      if (!h.ok()) return h.error();
    }
    auto h = Head();
    if (!h.ok()) return h.error();
    outcome.head = *h;
    return outcome;
  }

 private:
  std::vector<std::string> ConflictPaths(git_index* index) {
    std::set<std::string> paths;
    git_index_conflict_iterator* it = nullptr;
    if (git_index_conflict_iterator_new(&it, index) != 0) return {};
    const git_index_entry *ancestor, *ours, *theirs;
    while (git_index_conflict_next(&ancestor, &ours, &theirs, it) == 0) {
      const git_index_entry* e = ours ? ours : theirs ? theirs : ancestor;
      if (e != nullptr) paths.insert(e->path);
    }
    git_index_conflict_iterator_free(it);
    return {paths.begin(), paths.end()};
  }

  Result<TreePtr> TreeOf(const git_oid& commit_oid) {
    git_commit* c = nullptr;
    if (int rc = git_commit_lookup(&c, repo_.get(), &commit_oid); rc != 0) return GitError(rc, "lookup commit");
    CommitPtr commit(c);
    git_tree* t = nullptr;
    if (int rc = git_commit_tree(&t, commit.get()); rc != 0) return GitError(rc, "commit tree");
    return TreePtr(t);
  }

  std::string HooksListing() {
    std::string out;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(fs::path(mirror_path_) / "hooks", ec)) {
      out += e.path().filename().string() + ":" + std::to_string(e.is_regular_file(ec) ? e.file_size(ec) : 0) + "\n";
    }
    return out;
  }

  const WorkspaceOptions* options_;
  std::string mirror_path_, mirror_lock_path_;
  std::unique_ptr<FileLock> lock_;
  RepoPtr repo_;
  std::string path_, branch_;
  int64_t ticket_;
  std::string start_, base_, remote_head_;
  bool reused_;
  std::string dotgit_, config_, hooks_;
};

class Libgit2Workspace final : public Workspace {
 public:
  explicit Libgit2Workspace(WorkspaceOptions options) : options_(std::move(options)) {
    root_ = fs::path(options_.data_dir) / "git" / options_.repo_key;
    mirror_ = MirrorPath(options_.data_dir, options_.repo_key);
    mirror_lock_ = (root_ / "mirror.lock").string();
    worktrees_ = root_ / "worktrees";
  }

  Status Init() {
    std::error_code ec;
    fs::create_directories(worktrees_, ec);
    if (ec) return Error(ErrorCode::kIo, "create " + worktrees_.string() + ": " + ec.message());
    auto lock = FileLock::Acquire(mirror_lock_);
    if (!lock.ok()) return lock.error();
    return InitLocked();
  }

  // git's own lock files in the mirror that only operations under mirror.lock take (the configuration,
  // FETCH_HEAD, the mirror's HEAD, remote-tracking refs): while we hold mirror.lock, one that exists was left
  // by a process killed mid-write (kill -9, a crash), and would refuse every later write ("failed to lock
  // file"). Lock files of refs/heads are not touched here: a worktree's commit takes them without mirror.lock
  // (Acquire clears the one of its own branch once no worktree has the branch checked out).
  void ClearStaleLocksLocked() {
    std::error_code ec;
    std::vector<fs::path> stale;
    // HEAD.lock too: only the mirror's creation writes its HEAD (worktrees have their own), and a process
    // killed while libgit2 created the mirror left it, failing every later init ("init mirror: failed to
    // lock file ... HEAD.lock"); with it gone the init completes the half-made mirror.
    for (const char* name : {"config.lock", "FETCH_HEAD.lock", "HEAD.lock"}) {
      if (fs::exists(fs::path(mirror_) / name, ec)) stale.push_back(fs::path(mirror_) / name);
    }
    const fs::path remotes = fs::path(mirror_) / "refs" / "remotes";
    if (fs::is_directory(remotes, ec)) {
      for (auto it = fs::recursive_directory_iterator(remotes, ec); !ec && it != fs::recursive_directory_iterator();
           it.increment(ec)) {
        if (it->path().extension() == ".lock") stale.push_back(it->path());
      }
    }
    for (const auto& p : stale) {
      spdlog::warn("git: removing {} left by a process that stopped while writing it", p.string());
      fs::remove(p, ec);
    }
  }

  // Creates or opens the mirror and points "origin" at the remote. The caller holds mirror.lock.
  Status InitLocked() {
    EnsureLibgit2();
    ClearStaleLocksLocked();
    git_repository* r = nullptr;
    if (!fs::exists(fs::path(mirror_) / "HEAD")) {
      git_repository_init_options io = GIT_REPOSITORY_INIT_OPTIONS_INIT;
      io.flags = GIT_REPOSITORY_INIT_BARE | GIT_REPOSITORY_INIT_MKPATH;
      if (int rc = git_repository_init_ext(&r, mirror_.c_str(), &io); rc != 0) return GitError(rc, "init mirror");
    } else if (int rc = git_repository_open_bare(&r, mirror_.c_str()); rc != 0) {
      return GitError(rc, "open mirror");
    }
    RepoPtr repo(r);
    git_remote* rem = nullptr;
    int rc = git_remote_lookup(&rem, repo.get(), "origin");
    if (rc == GIT_ENOTFOUND) {
      if (int crc = git_remote_create(&rem, repo.get(), "origin", options_.remote_url.c_str()); crc != 0) {
        return GitError(crc, "create remote");
      }
    } else if (rc != 0) {
      return GitError(rc, "lookup remote");
    } else if (std::string(git_remote_url(rem)) != options_.remote_url) {
      git_remote_set_url(repo.get(), "origin", options_.remote_url.c_str());
    }
    git_remote_free(rem);
    return OkStatus();
  }

  Status Fetch() override {
    auto lock = FileLock::Acquire(mirror_lock_);
    if (!lock.ok()) return lock.error();
    auto repo = OpenRepo(mirror_);
    if (!repo.ok()) return repo.error();
    return FetchRepo(repo->get(), options_);
  }

  // Whether the mirror's remote-tracking refs are where the caller saw the remote's (TicketSpec::
  // expected_base_head and expected_remote_head): then a fetch would change nothing.
  static bool MirrorHolds(git_repository* mirror, const TicketSpec& spec) {
    if (!spec.expected_base_head || spec.expected_base_head->empty() || !spec.expected_remote_head) return false;
    auto base = ResolveRef(mirror, "refs/remotes/origin/" + spec.base_branch);
    if (!base.ok() || OidHex(&*base) != *spec.expected_base_head) return false;
    auto branch = ResolveRef(mirror, "refs/remotes/origin/" + spec.branch);
    return (branch.ok() ? OidHex(&*branch) : std::string()) == *spec.expected_remote_head;
  }

  Result<std::unique_ptr<TicketWorktree>> Acquire(const TicketSpec& spec) override {
    if (!IsValidBranchName(spec.branch)) {
      return Error(ErrorCode::kInvalidArgument, "invalid branch name '" + spec.branch + "'");
    }
    if (!IsValidBranchName(spec.base_branch)) {
      return Error(ErrorCode::kInvalidArgument, "invalid base branch name '" + spec.base_branch + "'");
    }
    auto mlock = FileLock::Acquire(mirror_lock_);
    if (!mlock.ok()) return mlock.error();
    auto mirror = OpenRepo(mirror_);
    if (!mirror.ok()) {
      // Something (an agent following its worktree's gitdir, a full disk) damaged the shared mirror. It
      // is only a cache of the remote, so it is rebuilt and fetched again; pooled worktrees that no
      // longer open are removed below.
      spdlog::warn("git: the mirror {} cannot be opened ({}); rebuilding it from the remote", mirror_,
                   mirror.error().ToString());
      std::error_code ec;
      fs::remove_all(mirror_, ec);
      if (ec) return Error(ErrorCode::kIo, "remove damaged mirror " + mirror_ + ": " + ec.message());
      WAVEBOT_RETURN_IF_ERROR(InitLocked());
      mirror = OpenRepo(mirror_);
      if (!mirror.ok()) return mirror.error();
      WAVEBOT_RETURN_IF_ERROR(FetchRepo(mirror->get(), options_));
    } else if (spec.fetch && !MirrorHolds(mirror->get(), spec)) {
      WAVEBOT_RETURN_IF_ERROR(FetchRepo(mirror->get(), options_));
    }

    auto base = ResolveRef(mirror->get(), "refs/remotes/origin/" + spec.base_branch);
    if (!base.ok()) return Error(ErrorCode::kNotFound, "base branch '" + spec.base_branch + "' is not on the remote");
    std::string base_sha = OidHex(&*base);
    std::string remote_head;
    if (auto rh = ResolveRef(mirror->get(), "refs/remotes/origin/" + spec.branch); rh.ok()) remote_head = OidHex(&*rh);
    if (spec.expected_remote_head && *spec.expected_remote_head != remote_head) {
      return Error(ErrorCode::kConflict, "remote branch " + spec.branch + " is at " +
                                             (remote_head.empty() ? "nothing" : remote_head) + " but wavebot last pushed " +
                                             (spec.expected_remote_head->empty() ? "nothing" : *spec.expected_remote_head) +
                                             ": someone else pushed");
    }
    git_oid start_oid = remote_head.empty() ? *base : *ResolveRef(mirror->get(), "refs/remotes/origin/" + spec.branch);
    std::string start = OidHex(&start_oid);

    // A run that died (kill -9, OOM) leaves its worktree idle but still on the ticket branch, which
    // would block the branch forever: detach idle worktrees that hold it.
    for (const auto& name : WorktreeNames()) {
      auto wl = FileLock::TryAcquire((worktrees_ / (name + ".lock")).string());
      if (!wl.ok() || *wl == nullptr) continue;
      auto repo = OpenRepo((worktrees_ / name).string());
      if (!repo.ok()) continue;
      git_reference* h = nullptr;
      if (git_reference_lookup(&h, repo->get(), "HEAD") != 0) continue;
      RefPtr head(h);
      if (git_reference_type(head.get()) == GIT_REFERENCE_SYMBOLIC &&
          std::string(git_reference_symbolic_target(head.get())) == "refs/heads/" + spec.branch) {
        git_oid oid;
        if (git_reference_name_to_id(&oid, repo->get(), "HEAD") == 0) git_repository_set_head_detached(repo->get(), &oid);
      }
    }

    // The ticket branch at its start commit. It must not be checked out anywhere: libgit2 only guards
    // the mirror's own HEAD when force-moving a branch, so ask about every worktree.
    {
      git_reference* existing = nullptr;
      if (git_branch_lookup(&existing, mirror->get(), spec.branch.c_str(), GIT_BRANCH_LOCAL) == 0) {
        RefPtr ref(existing);
        if (git_branch_is_checked_out(ref.get()) == 1) {
          return Error(ErrorCode::kConflict, "branch " + spec.branch + " is checked out by a running ticket");
        }
      }
    }
    // The branch is checked out nowhere, and we hold mirror.lock, which every other writer of a branch
    // not checked out holds too: a lock file of it was left by a process killed while it moved the branch
    // (a run's commit or rebase), and would fail this ticket's every run from now on.
    {
      std::error_code ec;
      const fs::path stale = fs::path(mirror_) / "refs" / "heads" / (spec.branch + ".lock");
      if (fs::exists(stale, ec)) {
        spdlog::warn("git: removing {} left by a process that stopped while moving the branch",
                     stale.string());
        fs::remove(stale, ec);
      }
    }
    git_commit* c = nullptr;
    if (int rc = git_commit_lookup(&c, mirror->get(), &start_oid); rc != 0) return GitError(rc, "lookup start");
    CommitPtr start_commit(c);
    git_reference* br = nullptr;
    if (int rc = git_branch_create(&br, mirror->get(), spec.branch.c_str(), start_commit.get(), 1); rc != 0) {
      Error e = GitError(rc, "create branch " + spec.branch);
      return Error(ErrorCode::kConflict, e.message() + " (is the ticket already running?)");
    }
    RefPtr branch_ref(br);

    // An idle pooled worktree, else a fresh one.
    for (const auto& name : WorktreeNames()) {
      auto wl = FileLock::TryAcquire((worktrees_ / (name + ".lock")).string());
      if (!wl.ok()) return wl.error();
      if (*wl == nullptr) continue;  // busy
      fs::path path = worktrees_ / name;
      auto repo = OpenRepo(path.string());
      if (!repo.ok()) {
        RemoveWorktree(mirror->get(), name);
        continue;
      }
      auto ready = ResetTo(repo->get(), spec.branch, start_commit.get());
      if (!ready.ok()) {
        spdlog::warn("git: pooled worktree {} could not be reset ({}); removing it", path.string(),
                     ready.error().ToString());
        repo->reset();
        RemoveWorktree(mirror->get(), name);
        continue;
      }
      return std::unique_ptr<TicketWorktree>(new Libgit2TicketWorktree(
          &options_, mirror_, mirror_lock_, std::move(*wl), std::move(*repo), path.string(), spec, start,
          base_sha, remote_head, true));
    }
    std::string name = NewWorktreeName();
    auto wl = FileLock::Acquire((worktrees_ / (name + ".lock")).string());
    if (!wl.ok()) return wl.error();
    fs::path path = worktrees_ / name;
    git_worktree_add_options wo = GIT_WORKTREE_ADD_OPTIONS_INIT;
    wo.ref = branch_ref.get();
    wo.checkout_options.checkout_strategy = GIT_CHECKOUT_FORCE;  // the directory is new: nothing to protect
    wo.checkout_options.disable_filters = !NeedsFilters(mirror->get(), start_commit.get());
    git_worktree* w = nullptr;
    if (int rc = git_worktree_add(&w, mirror->get(), name.c_str(), path.c_str(), &wo); rc != 0) {
      return GitError(rc, "add worktree " + path.string());
    }
    WorktreePtr wt(w);
    auto repo = OpenRepo(path.string());
    if (!repo.ok()) return repo.error();
    return std::unique_ptr<TicketWorktree>(new Libgit2TicketWorktree(&options_, mirror_, mirror_lock_, std::move(*wl),
                                                                     std::move(*repo), path.string(), spec, start,
                                                                     base_sha, remote_head, false));
  }

  Result<int> Prune(const std::vector<std::string>& finished_branches) override {
    auto mlock = FileLock::Acquire(mirror_lock_);
    if (!mlock.ok()) return mlock.error();
    auto mirror = OpenRepo(mirror_);
    if (!mirror.ok()) return mirror.error();
    for (const auto& b : finished_branches) {
      if (!IsValidBranchName(b)) continue;
      git_reference* r = nullptr;
      if (git_branch_lookup(&r, mirror->get(), b.c_str(), GIT_BRANCH_LOCAL) != 0) continue;
      RefPtr ref(r);
      if (git_branch_is_checked_out(ref.get()) == 0) git_branch_delete(ref.get());
    }
    int idle = 0, removed = 0;
    for (const auto& name : WorktreeNames()) {
      auto wl = FileLock::TryAcquire((worktrees_ / (name + ".lock")).string());
      if (!wl.ok() || *wl == nullptr) continue;
      if (++idle > options_.max_idle_worktrees) {
        RemoveWorktree(mirror->get(), name);
        ++removed;
      }
    }
    return removed;
  }

  Result<DiskUsage> Usage() override {
    DiskUsage u;
    u.mirror_bytes = DiskBytes(mirror_);
    for (const auto& name : WorktreeNames()) {
      ++u.worktrees;
      u.worktree_bytes += DiskBytes(worktrees_ / name, worktrees_ / name / ".git");
      auto wl = FileLock::TryAcquire((worktrees_ / (name + ".lock")).string());
      if (wl.ok() && *wl != nullptr) ++u.idle_worktrees;
    }
    return u;
  }

  std::string mirror_path() const override { return mirror_; }

 private:
  // Points the worktree's HEAD at `branch` (already at `target`) and resets hard, removing untracked
  // files and, unless configured to keep them, ignored ones: only files that differ are touched.
  Status ResetTo(git_repository* repo, const std::string& branch, git_commit* target) {
    if (int rc = git_repository_set_head(repo, ("refs/heads/" + branch).c_str()); rc != 0) {
      return GitError(rc, "set HEAD");
    }
    git_checkout_options co = GIT_CHECKOUT_OPTIONS_INIT;
    co.checkout_strategy = GIT_CHECKOUT_FORCE | GIT_CHECKOUT_REMOVE_UNTRACKED;
    if (!options_.keep_ignored_files) co.checkout_strategy |= GIT_CHECKOUT_REMOVE_IGNORED;
    // The object must come from this repository handle (one handle per worktree).
    git_commit* c = nullptr;
    if (int rc = git_commit_lookup(&c, repo, git_commit_id(target)); rc != 0) return GitError(rc, "lookup target");
    CommitPtr commit(c);
    co.disable_filters = !NeedsFilters(repo, commit.get());
    // git_reset forces its own checkout strategy (no removal of untracked files), so check out the
    // tree with ours: it updates the index and touches only the files that differ.
    if (int rc = git_checkout_tree(repo, reinterpret_cast<git_object*>(commit.get()), &co); rc != 0) {
      return GitError(rc, "reset");
    }
    git_repository_state_cleanup(repo);
    return OkStatus();
  }

  std::vector<std::string> WorktreeNames() {
    std::vector<std::string> names;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(worktrees_, ec)) {
      if (e.is_directory(ec)) names.push_back(e.path().filename().string());
    }
    std::sort(names.begin(), names.end());
    return names;
  }

  std::string NewWorktreeName() {
    for (int i = 1;; ++i) {
      std::string name = "w" + std::to_string(i);
      if (!fs::exists(worktrees_ / name) && !fs::exists(fs::path(mirror_) / "worktrees" / name)) return name;
    }
  }

  // Precondition: the caller holds the mirror lock and the worktree is idle.
  void RemoveWorktree(git_repository* mirror, const std::string& name) {
    git_worktree* w = nullptr;
    if (git_worktree_lookup(&w, mirror, name.c_str()) == 0) {
      git_worktree_prune_options po = GIT_WORKTREE_PRUNE_OPTIONS_INIT;
      po.flags = GIT_WORKTREE_PRUNE_VALID | GIT_WORKTREE_PRUNE_LOCKED | GIT_WORKTREE_PRUNE_WORKING_TREE;
      git_worktree_prune(w, &po);
      git_worktree_free(w);
    }
    std::error_code ec;
    fs::remove_all(worktrees_ / name, ec);
    fs::remove_all(fs::path(mirror_) / "worktrees" / name, ec);
  }

  WorkspaceOptions options_;
  fs::path root_, worktrees_;
  std::string mirror_, mirror_lock_;
};

}  // namespace

Result<std::unique_ptr<Workspace>> OpenWorkspace(const WorkspaceOptions& options) {
  if (!IsValidRepoKey(options.repo_key)) {
    return Error(ErrorCode::kInvalidArgument, "invalid repository '" + options.repo_key + "' (want owner/name)");
  }
  if (options.data_dir.empty() || !fs::is_directory(options.data_dir)) {
    return Error(ErrorCode::kInvalidArgument, "data directory '" + options.data_dir + "' does not exist");
  }
  if (options.remote_url.empty()) return Error(ErrorCode::kInvalidArgument, "no remote URL");
  auto scheme = options.remote_url.find("://");
  auto at = options.remote_url.find('@');
  if (scheme != std::string::npos && at != std::string::npos && at < options.remote_url.find('/', scheme + 3)) {
    return Error(ErrorCode::kInvalidArgument, "the remote URL must not carry credentials; pass the token separately");
  }
  auto ws = std::make_unique<Libgit2Workspace>(options);
  WAVEBOT_RETURN_IF_ERROR(ws->Init());
  return std::unique_ptr<Workspace>(std::move(ws));
}

}  // namespace wavebot::git
