// The simulator's reads of its bare repositories, in process (libgit2) rather than a `git` process each:
// they are asked for by many routes under the simulator's lock (a check run's create, a PR's create,
// every check-run list), and a process per ask put the stand-in's fork and exec into the latencies the
// benchmarks measure of wavebot. Writes (update-ref, merge-tree, commit-tree) stay `git` processes, and
// pushes and fetches go through `git http-backend` (git_http_server.h).
#pragma once

#include <map>
#include <string>

namespace wavebot::sandbox::sim {

// Every ref under refs/ of the repository at git_dir, name → the object it points at (a symbolic ref
// resolved), as `git for-each-ref --format='%(refname) %(objectname)'` lists them. Empty (and *error
// set) when the repository cannot be read.
std::map<std::string, std::string> ListRefs(const std::string& git_dir, std::string* error);

// What `git merge-base --is-ancestor ancestor descendant` exits with: 0 when ancestor is descendant or
// one of its ancestors, 1 when not, 128 when either is not a commit of the repository.
int IsAncestorExitCode(const std::string& git_dir, const std::string& ancestor,
                       const std::string& descendant);

// Whether `rev` names a commit of the repository (`git cat-file -e rev^{commit}`).
bool HasCommit(const std::string& git_dir, const std::string& rev);

}  // namespace wavebot::sandbox::sim
