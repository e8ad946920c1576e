#include "github/doctor.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <httplib.h>
#include <netinet/in.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <vector>

#include "common/clock.h"
#include "github/client.h"
#include "github/jwt.h"
#include "store/database.h"

extern char** environ;

namespace wavebot::github {
namespace {

class Printer {
 public:
  Printer(std::ostream& out, DoctorReport* r) : out_(out), r_(r) {}
  void Pass(const std::string& what) {
    out_ << "PASS " << what << "\n";
    r_->passed++;
  }
  void Fail(const std::string& what, const std::string& why, const std::string& fix) {
    out_ << "FAIL " << what << ": " << why << "\n";
    if (!fix.empty()) out_ << "     fix: " << fix << "\n";
    r_->failed++;
  }

 private:
  std::ostream& out_;
  DoctorReport* r_;
};

bool Enough(const std::string& have, const std::string& need) {
  return have == "write" || have == "admin" || (need == "read" && have == "read");
}

Result<std::pair<std::string, int>> SplitListen(const std::string& listen) {
  size_t colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == listen.size()) {
    return Error(ErrorCode::kInvalidArgument, "listen address '" + listen + "' is not host:port");
  }
  std::string host = listen.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  char* end = nullptr;
  long port = std::strtol(listen.c_str() + colon + 1, &end, 10);
  if (*end != '\0' || port < 1 || port > 65535) {
    return Error(ErrorCode::kInvalidArgument, "listen address '" + listen + "' has no valid port");
  }
  return std::make_pair(host, static_cast<int>(port));
}

// The address a local client uses to reach a server listening on `host`.
std::string ReachableHost(const std::string& host) {
  if (host == "0.0.0.0" || host.empty()) return "127.0.0.1";
  if (host == "::") return "::1";
  return host;
}

// Tries to bind host:port the way the server would. Returns 0 when it could, else errno.
int TryBind(const std::string& host, int port) {
  bool v6 = host.find(':') != std::string::npos;
  int fd = ::socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return errno;
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  int rc;
  if (v6) {
    sockaddr_in6 a{};
    a.sin6_family = AF_INET6;
    a.sin6_port = htons(static_cast<uint16_t>(port));
    rc = ::inet_pton(AF_INET6, host.c_str(), &a.sin6_addr) == 1
             ? ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a))
             : (errno = EADDRNOTAVAIL, -1);
  } else {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    std::string h = host == "localhost" ? "127.0.0.1" : host;
    rc = ::inet_pton(AF_INET, h.c_str(), &a.sin_addr) == 1
             ? ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a))
             : (errno = EADDRNOTAVAIL, -1);
  }
  int err = rc == 0 ? 0 : errno;
  ::close(fd);
  return err;
}

// Runs argv with `extra_env` added to the environment, stdin/stdout/stderr on /dev/null. Returns the
// exit status (128 + signal when killed), or kIo when the program could not be started.
Result<int> RunQuietly(const std::vector<std::string>& argv, const std::vector<std::string>& extra_env) {
  std::vector<std::string> env_strings;
  // wavebot's own settings (secrets among them) are none of the child's business.
  for (char** e = environ; *e != nullptr; ++e) {
    if (std::strncmp(*e, "WAVEBOT_", 8) != 0) env_strings.emplace_back(*e);
  }
  for (const auto& e : extra_env) env_strings.push_back(e);
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> args = argv;
  std::vector<char*> cargv;
  for (auto& a : args) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  pid_t pid = 0;
  int rc = ::posix_spawn(&pid, cargv[0], &fa, nullptr, cargv.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) return Error(ErrorCode::kIo, "cannot start " + argv[0] + ": " + std::strerror(rc));
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return Error(ErrorCode::kIo, std::string("waitpid: ") + std::strerror(errno));
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

std::string Base64(const std::string& in) {
  static const char* k = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    out += {k[v >> 18], k[(v >> 12) & 63], k[(v >> 6) & 63], k[v & 63]};
  }
  if (i + 1 == in.size()) {
    uint32_t v = uint8_t(in[i]) << 16;
    out += {k[v >> 18], k[(v >> 12) & 63], '=', '='};
  } else if (i + 2 == in.size()) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8);
    out += {k[v >> 18], k[(v >> 12) & 63], k[(v >> 6) & 63], '='};
  }
  return out;
}

std::string GitBaseUrl(const DoctorInput& in) {
  if (!in.git_base_url.empty()) return in.git_base_url;
  return DefaultGitBaseUrl(in.api_url);
}

class Doctor {
 public:
  Doctor(const DoctorInput& in, std::ostream& out, DoctorReport* report)
      : in_(in), p_(out, report), clock_(in.clock ? in.clock : RealClock()) {
    path_ = in.path;
    if (path_.empty()) {
      const char* p = std::getenv("PATH");
      path_ = p ? p : "/usr/bin:/bin";
    }
  }

  void Run() {
    if (!in_.config_error.empty()) {
      p_.Fail("configuration loads", in_.config_error,
              "correct the file and line named above (docs/configuration.md lists every key)");
      return;  // nothing below would check what will really run
    }
    p_.Pass("configuration loads (" + in_.config_source + ")");
    bool data_ok = CheckDataDir();
    if (data_ok) CheckDatabase();
    CheckListen();
    CheckWebhookSecret();
    std::string git = CheckProgram("git", in_.git_program, "install git (Debian: apt-get install git)");
    if (!in_.agent_program.empty()) {
      CheckProgram(
          "agent command (" + in_.agent_source + ")", in_.agent_program,
          "install the agent on this machine (or the runner image) so that it is on PATH for wavebot, "
          "or set agent.preset / agent.command in .github/wavebot.yml");
    }
    std::string token = CheckCredentials();
    if (!git.empty() && !token.empty() && !repo_.owner.empty()) CheckGitReachable(git, token);
  }

 private:
  bool CheckDataDir() {
    if (in_.data_dir.empty()) return false;
    std::error_code ec;
    std::filesystem::create_directories(in_.data_dir, ec);
    if (ec) {
      p_.Fail("data directory " + in_.data_dir, "cannot create it: " + ec.message(),
              "create it and give it to the user wavebot runs as (WAVEBOT_DATA_DIR)");
      return false;
    }
    std::string probe = in_.data_dir + "/.doctor-probe-" + std::to_string(::getpid());
    int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
      p_.Fail("data directory " + in_.data_dir, std::string("not writable: ") + std::strerror(errno),
              "chown it to the user wavebot runs as, or point WAVEBOT_DATA_DIR at a writable volume");
      return false;
    }
    bool wrote = ::write(fd, "ok", 2) == 2;
    ::close(fd);
    ::unlink(probe.c_str());
    if (!wrote) {
      p_.Fail("data directory " + in_.data_dir, "a write failed (disk full?)",
              "free space on its file system");
      return false;
    }
    p_.Pass("data directory " + in_.data_dir + " is writable");
    return true;
  }

  void CheckDatabase() {
    store::DatabaseOptions opts;
    opts.path = in_.data_dir + "/wavebot.db";
    auto db = store::Database::Open(opts);
    if (!db.ok()) {
      p_.Fail(
          "database " + opts.path, db.error().message(),
          db.error().code() == ErrorCode::kFailedPrecondition
              ? "a newer wavebot wrote this database: run that version, or restore a backup (docs/deploy.md)"
              : "check the file's owner and permissions, or restore it from a backup (docs/deploy.md)");
      return;
    }
    p_.Pass("database " + opts.path + " opens (schema version " + std::to_string((*db)->schema_version()) +
            ")");
  }

  void CheckListen() {
    auto hp = SplitListen(in_.listen);
    if (!hp.ok()) {
      p_.Fail("listen address", hp.error().message(), "set WAVEBOT_LISTEN to host:port, e.g. 0.0.0.0:8080");
      return;
    }
    int err = TryBind(hp->first, hp->second);
    if (err == 0) {
      p_.Pass("listen address " + in_.listen + " is free");
      return;
    }
    if (err != EADDRINUSE) {
      p_.Fail("listen address " + in_.listen, std::string("cannot bind: ") + std::strerror(err),
              "use an address of this machine (0.0.0.0 for every interface) and a port above 1023");
      return;
    }
    auto status = ProbeHealthz(in_.listen);
    if (status.ok() && (*status == 200 || *status == 503)) {
      p_.Pass("listen address " + in_.listen + " is served by wavebot (/healthz answered " +
              std::to_string(*status) + ")");
      return;
    }
    p_.Fail("listen address " + in_.listen,
            "the port is taken by another program (no wavebot /healthz there)",
            "stop that program or choose another port with WAVEBOT_LISTEN");
  }

  void CheckWebhookSecret() {
    if (in_.webhook_secret.empty()) {
      p_.Fail("webhook secret", "WAVEBOT_WEBHOOK_SECRET is empty",
              "set WAVEBOT_WEBHOOK_SECRET or WAVEBOT_WEBHOOK_SECRET_FILE to the secret configured on the "
              "GitHub App");
    } else if (in_.webhook_secret.size() < 16) {
      p_.Fail("webhook secret", "shorter than 16 characters",
              "use a long random secret (openssl rand -hex 32) here and on the GitHub App");
    } else {
      p_.Pass("webhook secret is set");
    }
  }

  // Returns the program's absolute path when found and it runs, else "".
  std::string CheckProgram(const std::string& what, const std::string& program, const std::string& fix) {
    auto found = FindOnPath(program, path_);
    if (!found.ok()) {
      p_.Fail(what, "'" + program + "' is not found on PATH (" + path_ + ")", fix);
      return "";
    }
    p_.Pass(what + ": " + *found);
    return *found;
  }

  // Returns a token usable for git over HTTPS (installation token or PAT) when every check passed.
  std::string CheckCredentials() {
    if (!in_.repo.empty()) {
      size_t slash = in_.repo.find('/');
      if (slash == std::string::npos || slash == 0 || slash + 1 == in_.repo.size()) {
        p_.Fail("repository", "--repo must be OWNER/NAME, got '" + in_.repo + "'",
                "give the repository as owner/name, e.g. octo/demo");
        return "";
      }
      repo_ = RepoRef{in_.repo.substr(0, slash), in_.repo.substr(slash + 1)};
    }
    ClientOptions co;
    co.api_url = in_.api_url;
    co.clock = clock_;
    co.call_deadline = std::chrono::seconds(30);
    if (!in_.token.empty()) {
      co.token = in_.token;
      p_.Pass("personal access token mode (WAVEBOT_TOKEN)");
    } else {
      if (in_.app_id.empty()) {
        p_.Fail("app id", "WAVEBOT_APP_ID is empty",
                "set it to the App ID shown on the App's settings page (or WAVEBOT_TOKEN for PAT mode)");
        return "";
      }
      p_.Pass("app id " + in_.app_id);
      if (in_.private_key_file.empty()) {
        p_.Fail("private key", "WAVEBOT_PRIVATE_KEY_FILE is empty",
                "generate a private key on the App's settings page and point WAVEBOT_PRIVATE_KEY_FILE at it");
        return "";
      }
      struct stat st;
      if (::stat(in_.private_key_file.c_str(), &st) != 0) {
        p_.Fail("private key", in_.private_key_file + " does not exist or is not readable",
                "mount the key file there (docs/deploy.md: secrets)");
        return "";
      }
      if ((st.st_mode & 077) != 0) {
        p_.Fail("private key permissions", in_.private_key_file + " is readable by group or others",
                "chmod 600 " + in_.private_key_file);
      } else {
        p_.Pass("private key permissions (owner only)");
      }
      auto key = PrivateKey::FromFile(in_.private_key_file);
      if (!key.ok()) {
        p_.Fail("private key", key.error().message(),
                "use the .pem file GitHub generated for this App (PEM, RSA), unmodified");
        return "";
      }
      p_.Pass("private key parses (RSA)");
      auto jwt = MakeAppJwt(**key, in_.app_id, clock_->Now());
      if (!jwt.ok()) {
        p_.Fail("JWT", jwt.error().message(), "check the private key file");
        return "";
      }
      p_.Pass("JWT signs (RS256)");
      co.app_id = in_.app_id;
      co.private_key_pem = (*key)->PrivatePem();
    }
    if (in_.local_only) return "";
    auto client = NewClient(co);
    if (!client.ok()) {
      p_.Fail("GitHub client", client.error().message(), "check WAVEBOT_GITHUB_API");
      return "";
    }
    if (!in_.token.empty()) return CheckPat(**client);
    return CheckApp(**client);
  }

  std::string CheckPat(Client& client) {
    if (repo_.owner.empty()) {
      p_.Fail("token", "cannot be checked without a repository", "give --repo OWNER/NAME");
      return "";
    }
    auto r = client.GetRepository(repo_);
    if (!r.ok()) {
      p_.Fail("token reads " + in_.repo, r.error().message(),
              r.error().code() == ErrorCode::kUnauthenticated
                  ? "the token is wrong or expired: create a new one (repo scope, or contents/issues/pull "
                    "requests "
                    "write for a fine-grained token)"
                  : "check --repo and that the token's owner can see the repository");
      return "";
    }
    p_.Pass("token reads " + r->full_name + " (default branch " + r->default_branch + ")");
    return in_.token;
  }

  std::string CheckApp(Client& client) {
    auto installations = client.ListInstallations();
    if (!installations.ok()) {
      p_.Fail(
          "GitHub accepts the JWT", installations.error().message(),
          installations.error().code() == ErrorCode::kUnauthenticated
              ? "WAVEBOT_APP_ID and the private key must belong to the same App; is the machine's clock "
                "right?"
              : "check WAVEBOT_GITHUB_API (GitHub Enterprise Server: https://HOST/api/v3) and the network");
      return "";
    }
    if (installations->empty()) {
      p_.Fail("installations", "the App is installed nowhere",
              "install it on the repositories wavebot should work on (docs/deploy.md)");
      return "";
    }
    p_.Pass("GitHub accepts the JWT (" + std::to_string(installations->size()) + " installation(s))");
    // What wavebot will call itself: its own events are recognised by this login and its commits are
    // authored with this account's noreply address.
    if (auto id = client.GetIdentity(RepoRef{}); !id.ok()) {
      p_.Fail("the App's identity", id.error().message(), "check that GET /app and GET /users/<slug>[bot] answer");
    } else {
      p_.Pass("the App is " + id->app_slug + ": comments as " + id->login + ", commits as " + id->NoreplyEmail());
    }
    int64_t installation = installations->front().id;
    if (!repo_.owner.empty()) {
      auto inst = client.GetRepoInstallation(repo_);
      if (!inst.ok()) {
        p_.Fail("installation on " + in_.repo, inst.error().message(),
                "install the App on " + in_.repo + " (the App's page: Install App / Configure)");
        return "";
      }
      installation = inst->id;
      p_.Pass("the App is installed on " + in_.repo);
    }
    auto token = client.CreateInstallationToken(installation);
    if (!token.ok()) {
      p_.Fail("installation token", token.error().message(),
              "check the App's installation and its suspension");
      return "";
    }
    p_.Pass("installation token obtained (expires " + token->expires_at + ")");
    std::string missing;
    std::string granted;
    for (const auto& [perm, level] : RequiredPermissions()) {
      auto it = token->permissions.find(perm);
      if (it == token->permissions.end() || !Enough(it->second, level)) missing += " " + perm + ":" + level;
      granted += (granted.empty() ? "" : ", ") + perm + ":" + level;
    }
    if (!missing.empty()) {
      p_.Fail(
          "permissions", "the installation lacks" + missing,
          "grant them on the App's settings page (config/app-manifest.json lists them), then accept the new "
          "permissions on the installation");
      return "";
    }
    p_.Pass("permissions " + granted);
    return token->token;
  }

  void CheckGitReachable(const std::string& git, const std::string& token) {
    std::string url = GitBaseUrl(in_) + "/" + repo_.owner + "/" + repo_.name + ".git";
    // The token goes through the environment (GIT_CONFIG_*), never on a command line or to disk.
    std::vector<std::string> env = {
        "GIT_TERMINAL_PROMPT=0",
        "GIT_HTTP_LOW_SPEED_LIMIT=1000",
        "GIT_HTTP_LOW_SPEED_TIME=20",
        "GIT_CONFIG_COUNT=1",
        "GIT_CONFIG_KEY_0=http.extraHeader",
        "GIT_CONFIG_VALUE_0=Authorization: Basic " + Base64("x-access-token:" + token),
    };
    auto rc = RunQuietly({git, "ls-remote", "--heads", url}, env);
    if (!rc.ok()) {
      p_.Fail("git reaches " + url, rc.error().message(), "check the git installation");
    } else if (*rc != 0) {
      p_.Fail("git reaches " + url, "git ls-remote exited with " + std::to_string(*rc),
              "check the network/proxy to the git host and the App's contents permission "
              "(WAVEBOT_GIT_BASE_URL overrides the clone host)");
    } else {
      p_.Pass("git reaches " + url);
    }
  }

  const DoctorInput& in_;
  Printer p_;
  Clock* clock_;
  std::string path_;
  RepoRef repo_;
};

}  // namespace

const std::map<std::string, std::string>& RequiredPermissions() {
  // contents: git refs, merges and pushes; issues: issues, labels, comments, reactions, sub-issues,
  // dependencies; pull_requests: pulls; checks: check runs; actions: runs, jobs, logs and
  // workflow_dispatch (the actions executor); metadata: collaborator permission (always granted).
  static const auto* needed = new std::map<std::string, std::string>{
      {"actions", "write"}, {"checks", "write"},  {"contents", "write"},
      {"issues", "write"},  {"metadata", "read"}, {"pull_requests", "write"}};
  return *needed;
}

Result<int> ProbeHealthz(const std::string& listen, int timeout_ms) {
  auto hp = SplitListen(listen);
  if (!hp.ok()) return hp.error();
  httplib::Client cli(ReachableHost(hp->first), hp->second);
  cli.set_connection_timeout(std::chrono::milliseconds(timeout_ms));
  cli.set_read_timeout(std::chrono::milliseconds(timeout_ms));
  auto res = cli.Get("/healthz");
  if (!res)
    return Error(ErrorCode::kUnavailable,
                 "nothing answers on " + listen + " (" + httplib::to_string(res.error()) + ")");
  return res->status;
}

Result<std::string> FindOnPath(const std::string& program, const std::string& path) {
  auto executable = [](const std::string& p) {
    struct stat st;
    return ::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(p.c_str(), X_OK) == 0;
  };
  if (program.empty()) return Error(ErrorCode::kInvalidArgument, "no program name");
  if (program.find('/') != std::string::npos) {
    if (executable(program)) return program;
    return Error(ErrorCode::kNotFound, program + " is not an executable file");
  }
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find(':', start);
    if (end == std::string::npos) end = path.size();
    std::string dir = path.substr(start, end - start);
    if (dir.empty()) dir = ".";
    std::string candidate = dir + "/" + program;
    if (executable(candidate)) return candidate;
    start = end + 1;
  }
  return Error(ErrorCode::kNotFound, program + " is not on PATH");
}

DoctorReport RunDoctor(const DoctorInput& input, std::ostream& out) {
  DoctorReport report;
  Doctor(input, out, &report).Run();
  return report;
}

}  // namespace wavebot::github
