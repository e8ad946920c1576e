// A git smart-HTTP server for bare repositories under a root directory, by running `git http-backend`
// as a CGI child process per request. Used by the GitHub simulator (mounted on its own httplib server)
// and by the git/agents tests (standalone on 127.0.0.1).
//
// URLs: <prefix>/<repo path>/info/refs?service=..., <prefix>/<repo path>/git-upload-pack,
// <prefix>/<repo path>/git-receive-pack, where <repo path> is relative to the root, e.g. "o/r.git".
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "common/result.h"

namespace httplib {
class Server;
}

namespace wavebot::sandbox {

// Decides whether a request may proceed. `repo_path` is the repository path relative to the root
// (e.g. "octo/demo.git"); `is_push` is true for git-receive-pack (info/refs or the pack POST).
// Called on server threads: must be thread-safe. Returning false answers 401 with WWW-Authenticate.
using GitAuthCallback = std::function<bool(const std::string& user, const std::string& password,
                                           const std::string& repo_path, bool is_push)>;

struct GitHttpOptions {
  std::string root;           // directory holding the bare repositories; must exist
  GitAuthCallback authorize;  // empty: no authentication, every request allowed as user "anonymous"
  std::string realm = "wavebot-git";
  std::string git_binary = "git";  // looked up on PATH
};

// Mounts the git endpoints on `server` under `prefix` (e.g. "/git" or "" for the root). `server` must
// outlive nothing here: the handlers copy `options`. Call before the server starts listening.
// `path_regex` (one capture: the path below `prefix`) narrows what is taken, e.g. to repositories only
// when other handlers share the root: httplib tries streaming POST handlers like these before any other.
void MountGitHttp(httplib::Server* server, const std::string& prefix, GitHttpOptions options,
                  const std::string& path_regex = "(.+)");

// A standalone loopback git server. Start/Stop are not thread-safe against each other; requests are
// served concurrently on httplib's thread pool.
class GitHttpServer {
 public:
  explicit GitHttpServer(GitHttpOptions options);
  ~GitHttpServer();  // stops the server
  GitHttpServer(const GitHttpServer&) = delete;
  GitHttpServer& operator=(const GitHttpServer&) = delete;

  // Binds 127.0.0.1 on a free port and serves in a background thread. Returns the base URL
  // ("http://127.0.0.1:<port>"); a repository "o/r.git" is at base + "/o/r.git".
  // Errors: kIo when binding fails, kFailedPrecondition when already started or root is missing.
  Result<std::string> Start();
  // Stops serving and joins the thread. Idempotent.
  void Stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace wavebot::sandbox
