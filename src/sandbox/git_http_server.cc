#include "sandbox/git_http_server.h"

#include <fcntl.h>
#include <httplib.h>
#include <poll.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <regex>
#include <thread>
#include <vector>

#include "sandbox/process.h"

extern char** environ;

namespace wavebot::sandbox {
namespace {

std::string Base64Decode(const std::string& in) {
  static const std::string kChars =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  int val = 0;
  int bits = -8;
  for (unsigned char c : in) {
    if (c == '=') break;
    auto pos = kChars.find(static_cast<char>(c));
    if (pos == std::string::npos) return {};
    val = (val << 6) + static_cast<int>(pos);
    bits += 6;
    if (bits >= 0) {
      out.push_back(static_cast<char>((val >> bits) & 0xFF));
      bits -= 8;
    }
  }
  return out;
}

std::string RegexEscape(const std::string& s) {
  static const std::string kSpecial = R"(\^$.|?*+()[]{})";
  std::string out;
  for (char c : s) {
    if (kSpecial.find(c) != std::string::npos) out.push_back('\\');
    out.push_back(c);
  }
  return out;
}

// Splits "<repo>/<suffix>" where suffix is one of git's smart/dumb endpoints. Returns false when the
// path names no repository or tries to leave the root.
bool SplitRepoPath(const std::string& path, std::string* repo, std::string* suffix) {
  static const char* kSuffixes[] = {"/info/refs", "/git-upload-pack", "/git-receive-pack", "/HEAD",
                                    "/objects/"};
  for (const char* s : kSuffixes) {
    auto pos = path.find(s);
    if (pos == std::string::npos || pos == 0) continue;
    *repo = path.substr(0, pos);
    *suffix = path.substr(pos);
    break;
  }
  if (repo->empty()) return false;
  // No absolute paths, no "..", no empty components.
  if ((*repo)[0] == '/') return false;
  size_t start = 0;
  while (start <= repo->size()) {
    auto end = repo->find('/', start);
    if (end == std::string::npos) end = repo->size();
    std::string comp = repo->substr(start, end - start);
    if (comp.empty() || comp == "." || comp == "..") return false;
    start = end + 1;
  }
  return true;
}

void IgnoreSigpipeOnce() {
  static std::once_flag once;
  std::call_once(once, [] { ::signal(SIGPIPE, SIG_IGN); });
}

struct Pipe {
  int fd[2] = {-1, -1};
  bool Open() { return ::pipe2(fd, O_CLOEXEC) == 0; }
  void Close(int i) {
    if (fd[i] >= 0) ::close(fd[i]);
    fd[i] = -1;
  }
  ~Pipe() {
    Close(0);
    Close(1);
  }
};

bool WriteAll(int fd, const char* data, size_t len) {
  while (len > 0) {
    ssize_t n = ::write(fd, data, len);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data += n;
    len -= static_cast<size_t>(n);
  }
  return true;
}

// Drains `out_fd` and `err_fd` until both reach EOF.
void Drain(int out_fd, int err_fd, std::string* out, std::string* err) {
  pollfd fds[2] = {{out_fd, POLLIN, 0}, {err_fd, POLLIN, 0}};
  int open = 2;
  char buf[65536];
  while (open > 0) {
    int r = ::poll(fds, 2, -1);
    if (r < 0) {
      if (errno == EINTR) continue;
      return;
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      ssize_t n = ::read(fds[i].fd, buf, sizeof(buf));
      if (n > 0) {
        (i == 0 ? out : err)->append(buf, static_cast<size_t>(n));
      } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
        fds[i].fd = -1;
        --open;
      }
    }
  }
}

class GitBackend {
 public:
  explicit GitBackend(GitHttpOptions options) : opt_(std::move(options)) {}

  void Handle(const httplib::Request& req, httplib::Response& res, const httplib::ContentReader* reader,
              const std::string& path) {
    std::string repo, suffix;
    if (!SplitRepoPath(path, &repo, &suffix)) {
      res.status = 404;
      res.set_content("not a git repository path\n", "text/plain");
      return;
    }
    std::string service = req.get_param_value("service");
    bool is_push = suffix == "/git-receive-pack" || service == "git-receive-pack";

    std::string user = "anonymous";
    if (opt_.authorize) {
      std::string password;
      bool have = false;
      std::string auth = req.get_header_value("Authorization");
      if (auth.rfind("Basic ", 0) == 0) {
        std::string decoded = Base64Decode(auth.substr(6));
        auto colon = decoded.find(':');
        if (colon != std::string::npos) {
          user = decoded.substr(0, colon);
          password = decoded.substr(colon + 1);
          have = true;
        }
      }
      if (!have || !opt_.authorize(user, password, repo, is_push)) {
        res.status = 401;
        res.set_header("WWW-Authenticate", "Basic realm=\"" + opt_.realm + "\"");
        res.set_content("authentication required\n", "text/plain");
        return;
      }
    }
    RunCgi(req, res, reader, "/" + repo + suffix, user);
  }

 private:
  void RunCgi(const httplib::Request& req, httplib::Response& res, const httplib::ContentReader* reader,
              const std::string& path_info, const std::string& user) {
    std::vector<std::string> env;
    if (const char* p = std::getenv("PATH")) env.push_back(std::string("PATH=") + p);
    env.push_back("GIT_PROJECT_ROOT=" + opt_.root);
    env.push_back("GIT_HTTP_EXPORT_ALL=1");
    env.push_back("PATH_INFO=" + path_info);
    std::string query;
    for (const auto& [k, v] : req.params) {
      if (!query.empty()) query += "&";
      query += k + "=" + v;
    }
    env.push_back("QUERY_STRING=" + query);
    env.push_back("REQUEST_METHOD=" + req.method);
    env.push_back("CONTENT_TYPE=" + req.get_header_value("Content-Type"));
    env.push_back("REMOTE_USER=" + user);
    env.push_back("REMOTE_ADDR=127.0.0.1");
    env.push_back("GIT_CONFIG_NOSYSTEM=1");
    // http-backend only serves receive-pack to authenticated users unless configured otherwise.
    env.push_back("GIT_CONFIG_COUNT=1");
    env.push_back("GIT_CONFIG_KEY_0=http.receivepack");
    env.push_back("GIT_CONFIG_VALUE_0=true");
    if (req.has_header("Git-Protocol")) env.push_back("HTTP_GIT_PROTOCOL=" + req.get_header_value("Git-Protocol"));
    // httplib (built with zlib) already inflates gzip request bodies; pass the encoding through only
    // when the body still is gzip (starts with the gzip magic), so http-backend decodes it itself.
    std::string encoding = req.get_header_value("Content-Encoding");

    Pipe in, out, err;
    if (!in.Open() || !out.Open() || !err.Open()) {
      res.status = 500;
      return;
    }

    // The body is streamed into the child as it arrives. The child is spawned at the first chunk: its
    // first bytes tell whether the body is still gzip (starts with the gzip magic).
    pid_t pid = -1;
    int spawn_rc = 0;
    std::string cgi_out, cgi_err;
    std::thread drain;
    bool write_ok = true;
    auto spawn = [&](const char* first, size_t len) {
      if (!encoding.empty() && len >= 2 && static_cast<unsigned char>(first[0]) == 0x1f &&
          static_cast<unsigned char>(first[1]) == 0x8b) {
        env.push_back("HTTP_CONTENT_ENCODING=" + encoding);
      }
      std::vector<char*> envp;
      for (auto& e : env) envp.push_back(e.data());
      envp.push_back(nullptr);
      std::string arg0 = opt_.git_binary, arg1 = "http-backend";
      char* argv[] = {arg0.data(), arg1.data(), nullptr};
      const int stdio[3] = {in.fd[0], out.fd[1], err.fd[1]};
      spawn_rc = SpawnChild(argv, envp.data(), stdio, "", false, &pid);
      in.Close(0);
      out.Close(1);
      err.Close(1);
      if (spawn_rc != 0) return false;
      drain = std::thread([&] { Drain(out.fd[0], err.fd[0], &cgi_out, &cgi_err); });
      return true;
    };
    bool spawned = false;
    auto feed = [&](const char* data, size_t len) {
      if (!spawned) {
        spawned = true;
        if (!spawn(data, len)) return false;
      }
      // Keep reading the request even when the child stopped reading, so the connection stays sane.
      if (write_ok && !WriteAll(in.fd[1], data, len)) write_ok = false;
      return true;
    };
    if (reader != nullptr) {
      (*reader)(feed);
    } else if (!req.body.empty()) {
      feed(req.body.data(), req.body.size());
    }
    if (!spawned) {
      spawned = true;
      spawn("", 0);
    }
    in.Close(1);
    if (spawn_rc != 0) {
      spdlog::error("git http-backend: spawn failed: {}", std::strerror(spawn_rc));
      res.status = 500;
      return;
    }
    drain.join();
    int wstatus = 0;
    while (::waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
    }
    if (!cgi_err.empty()) spdlog::debug("git http-backend {}: {}", path_info, cgi_err);

    auto header_end = cgi_out.find("\r\n\r\n");
    size_t sep = 4;
    auto lf_end = cgi_out.find("\n\n");
    if (header_end == std::string::npos || (lf_end != std::string::npos && lf_end < header_end)) {
      header_end = lf_end;
      sep = 2;
    }
    if (header_end == std::string::npos) {
      spdlog::error("git http-backend {}: no CGI headers (exit {}): {}", path_info, wstatus, cgi_err);
      res.status = 500;
      res.set_content("git http-backend failed\n", "text/plain");
      return;
    }
    std::string content_type = "application/octet-stream";
    res.status = 200;
    size_t pos = 0;
    std::string headers = cgi_out.substr(0, header_end);
    while (pos < headers.size()) {
      auto eol = headers.find('\n', pos);
      if (eol == std::string::npos) eol = headers.size();
      std::string line = headers.substr(pos, eol - pos);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      pos = eol + 1;
      auto colon = line.find(':');
      if (colon == std::string::npos) continue;
      std::string name = line.substr(0, colon);
      std::string value = line.substr(colon + 1);
      while (!value.empty() && value.front() == ' ') value.erase(0, 1);
      if (strcasecmp(name.c_str(), "Status") == 0) {
        res.status = std::atoi(value.c_str());
      } else if (strcasecmp(name.c_str(), "Content-Type") == 0) {
        content_type = value;
      } else if (strcasecmp(name.c_str(), "Content-Length") != 0) {
        res.set_header(name.c_str(), value);
      }
    }
    res.set_content(cgi_out.substr(header_end + sep), content_type.c_str());
  }

  GitHttpOptions opt_;
};

}  // namespace

void MountGitHttp(httplib::Server* server, const std::string& prefix, GitHttpOptions options,
                  const std::string& path_regex) {
  IgnoreSigpipeOnce();
  auto backend = std::make_shared<GitBackend>(std::move(options));
  std::string pattern = RegexEscape(prefix) + "/" + path_regex;
  server->Get(pattern, [backend](const httplib::Request& req, httplib::Response& res) {
    backend->Handle(req, res, nullptr, req.matches[1]);
  });
  server->Post(pattern, [backend](const httplib::Request& req, httplib::Response& res,
                                  const httplib::ContentReader& reader) {
    backend->Handle(req, res, &reader, req.matches[1]);
  });
}

struct GitHttpServer::Impl {
  GitHttpOptions options;
  httplib::Server server;
  std::thread thread;
  bool started = false;
};

GitHttpServer::GitHttpServer(GitHttpOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
}

GitHttpServer::~GitHttpServer() { Stop(); }

Result<std::string> GitHttpServer::Start() {
  if (impl_->started) return Error(ErrorCode::kFailedPrecondition, "git http server already started");
  struct stat st;
  if (::stat(impl_->options.root.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return Error(ErrorCode::kFailedPrecondition, "git root is not a directory: " + impl_->options.root);
  }
  MountGitHttp(&impl_->server, "", impl_->options);
  int port = impl_->server.bind_to_any_port("127.0.0.1");
  if (port <= 0) return Error(ErrorCode::kIo, "cannot bind 127.0.0.1 for the git http server");
  impl_->thread = std::thread([this] { impl_->server.listen_after_bind(); });
  impl_->started = true;
  return "http://127.0.0.1:" + std::to_string(port);
}

void GitHttpServer::Stop() {
  if (!impl_->started) return;
  impl_->server.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
  impl_->started = false;
}

}  // namespace wavebot::sandbox
