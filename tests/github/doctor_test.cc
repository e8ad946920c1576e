// `wavebot doctor` against the simulator: a good deployment passes every check, and each kind of
// misconfiguration gives exactly its own FAIL line with a fix.
#include "github/doctor.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "github/sim_fixture.h"
#include "store/database.h"

namespace wavebot::testing {
namespace {

// A loopback port nothing listens on: bound to port 0, read back, and closed again.
int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
    port = ntohs(a.sin_port);
  }
  ::close(fd);
  return port;
}

// A loopback HTTP server answering GET /healthz with `status` (and whatever else `setup` adds).
class StubServer {
 public:
  explicit StubServer(int healthz_status, std::function<void(httplib::Server&)> setup = nullptr) {
    if (healthz_status > 0) {
      server_.Get("/healthz", [healthz_status](const httplib::Request&, httplib::Response& res) {
        res.status = healthz_status;
        res.set_content("{}", "application/json");
      });
    }
    if (setup) setup(server_);
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  ~StubServer() {
    server_.stop();
    thread_.join();
  }
  int port() const { return port_; }
  std::string listen() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
};

class DoctorTest : public SimTest {
 protected:
  github::DoctorInput Input() {
    std::string key = dir_.path() + "/app.pem";
    std::ofstream(key) << sim_->app_private_key_pem();
    chmod(key.c_str(), 0600);
    github::DoctorInput in;
    in.listen = "127.0.0.1:" + std::to_string(FreePort());
    in.data_dir = dir_.path() + "/data";
    in.api_url = sim_->api_url();
    in.git_base_url = sim_->api_url() + "/git";
    in.app_id = std::to_string(sim_->app_id());
    in.private_key_file = key;
    in.webhook_secret = "0123456789abcdef0123";
    in.repo = "octo/demo";
    in.agent_program = "sh";
    in.agent_source = "test";
    in.clock = &clock_;
    return in;
  }
  std::string Run(const github::DoctorInput& in, github::DoctorReport* report = nullptr) {
    std::ostringstream out;
    auto r = github::RunDoctor(in, out);
    if (report) *report = r;
    return out.str();
  }
  static int Count(const std::string& text, const std::string& what) {
    int n = 0;
    for (size_t p = text.find(what); p != std::string::npos; p = text.find(what, p + 1)) n++;
    return n;
  }
  // Exactly one FAIL line, naming `check`, followed by a fix line.
  static void ExpectOnlyFailure(const std::string& out, const std::string& check) {
    EXPECT_EQ(Count(out, "FAIL "), 1) << out;
    size_t at = out.find("FAIL " + check);
    ASSERT_NE(at, std::string::npos) << out;
    EXPECT_NE(out.find("\n     fix: ", at), std::string::npos) << "no fix hint after the failure:\n" << out;
  }
};

TEST_F(DoctorTest, AGoodDeploymentPassesEveryCheck) {
  github::DoctorReport r;
  std::string out = Run(Input(), &r);
  EXPECT_EQ(r.failed, 0) << out;
  for (const char* line :
       {"PASS configuration loads", "PASS data directory", "PASS database", "opens (schema version",
        "PASS listen address", "is free", "PASS webhook secret is set",
        "PASS git: ", "PASS agent command (test): ", "PASS GitHub accepts the JWT", "PASS the App is wavebot: comments as wavebot[bot], commits as ",
        "PASS the App is installed on octo/demo", "PASS installation token obtained",
        "PASS permissions actions:write, checks:write", "PASS git reaches "}) {
    EXPECT_NE(out.find(line), std::string::npos) << "missing '" << line << "' in\n" << out;
  }
  EXPECT_EQ(r.passed, Count(out, "PASS "));
  // The database was created and migrated where the server will look for it.
  EXPECT_TRUE(std::filesystem::exists(dir_.path() + "/data/wavebot.db"));
}

TEST_F(DoctorTest, ConfigurationThatDoesNotLoadStopsEverythingElse) {
  auto in = Input();
  in.config_error = "config/wavebot.yaml:3: key 'listen': not host:port";
  github::DoctorReport r;
  std::string out = Run(in, &r);
  ExpectOnlyFailure(out, "configuration loads: config/wavebot.yaml:3");
  EXPECT_EQ(r.passed, 0) << out;
  EXPECT_EQ(sim_->request_count(), 0);
}

TEST_F(DoctorTest, DataDirectoryThatCannotBeCreated) {
  auto in = Input();
  std::ofstream(dir_.path() + "/a-file") << "x";
  in.data_dir = dir_.path() + "/a-file/data";  // below a regular file: ENOTDIR even for root
  std::string out = Run(in);
  ExpectOnlyFailure(out, "data directory " + in.data_dir + ": cannot create it");
  EXPECT_EQ(out.find("database"), std::string::npos) << "the database check needs the directory:\n" << out;
}

TEST_F(DoctorTest, DatabaseWrittenByANewerWavebot) {
  auto in = Input();
  std::filesystem::create_directories(in.data_dir);
  {
    auto migrations = store::SchemaMigrations();
    migrations.push_back(
        {static_cast<int>(migrations.size()) + 1, "from the future", "CREATE TABLE future(x);"});
    store::DatabaseOptions o;
    o.path = in.data_dir + "/wavebot.db";
    auto db = store::Database::Open(o, migrations);
    ASSERT_TRUE(db.ok()) << db.error().ToString();
  }
  std::string out = Run(in);
  ExpectOnlyFailure(out, "database " + in.data_dir + "/wavebot.db");
  EXPECT_NE(out.find("a newer wavebot wrote this database"), std::string::npos) << out;
}

TEST_F(DoctorTest, DatabaseFileThatIsNotADatabase) {
  auto in = Input();
  std::filesystem::create_directories(in.data_dir);
  std::ofstream(in.data_dir + "/wavebot.db") << std::string(4096, 'x');
  std::string out = Run(in);
  ExpectOnlyFailure(out, "database " + in.data_dir + "/wavebot.db");
  EXPECT_NE(out.find("restore it from a backup"), std::string::npos) << out;
}

TEST_F(DoctorTest, PortTakenByAnotherProgram) {
  StubServer other(/*healthz_status=*/0);  // answers 404 on /healthz: not wavebot
  auto in = Input();
  in.listen = other.listen();
  std::string out = Run(in);
  ExpectOnlyFailure(out, "listen address " + in.listen + ": the port is taken by another program");
}

TEST_F(DoctorTest, PortServedByARunningWavebotPasses) {
  StubServer wavebot(200);
  auto in = Input();
  in.listen = wavebot.listen();
  github::DoctorReport r;
  std::string out = Run(in, &r);
  EXPECT_EQ(r.failed, 0) << out;
  EXPECT_NE(out.find("is served by wavebot (/healthz answered 200)"), std::string::npos) << out;
}

TEST_F(DoctorTest, BadListenAddress) {
  auto in = Input();
  in.listen = "localhost";
  ExpectOnlyFailure(Run(in), "listen address: listen address 'localhost' is not host:port");
  in.listen = "127.0.0.1:99999";
  ExpectOnlyFailure(Run(in), "listen address: listen address '127.0.0.1:99999' has no valid port");
}

TEST_F(DoctorTest, WebhookSecretMissingOrShort) {
  auto in = Input();
  in.webhook_secret = "";
  ExpectOnlyFailure(Run(in), "webhook secret: WAVEBOT_WEBHOOK_SECRET is empty");
  in.webhook_secret = "short";
  ExpectOnlyFailure(Run(in), "webhook secret: shorter than 16 characters");
}

TEST_F(DoctorTest, GitOrAgentNotOnPath) {
  auto in = Input();
  in.git_program = "wavebot-no-such-git";
  std::string out = Run(in);
  ExpectOnlyFailure(out, "git: 'wavebot-no-such-git' is not found on PATH");
  EXPECT_EQ(out.find("git reaches"), std::string::npos) << out;

  in = Input();
  in.agent_program = "wavebot-no-such-agent";
  ExpectOnlyFailure(Run(in), "agent command (test): 'wavebot-no-such-agent' is not found on PATH");

  in = Input();
  in.path = "/nonexistent-dir";  // an empty PATH finds nothing, not even sh
  std::string none = Run(in);
  EXPECT_EQ(Count(none, "FAIL "), 2) << none;
}

TEST_F(DoctorTest, AppCredentialProblems) {
  auto in = Input();
  in.app_id = "";
  ExpectOnlyFailure(Run(in), "app id: WAVEBOT_APP_ID is empty");

  in = Input();
  in.private_key_file = dir_.path() + "/missing.pem";
  ExpectOnlyFailure(Run(in), "private key: " + in.private_key_file + " does not exist");

  in = Input();
  chmod(in.private_key_file.c_str(), 0644);
  std::string loose = Run(in);
  ExpectOnlyFailure(loose, "private key permissions");
  EXPECT_NE(loose.find("chmod 600 " + in.private_key_file), std::string::npos) << loose;

  in = Input();
  std::ofstream(in.private_key_file) << "garbage";
  ExpectOnlyFailure(Run(in), "private key: ");

  in = Input();
  in.app_id = "999";  // a key of another App: GitHub refuses the JWT
  std::string other = Run(in);
  ExpectOnlyFailure(other, "GitHub accepts the JWT");
  EXPECT_NE(other.find("same App"), std::string::npos) << other;
}

TEST_F(DoctorTest, AppNotInstalledOnTheRepository) {
  auto in = Input();
  in.repo = "octo/missing";
  ExpectOnlyFailure(Run(in), "installation on octo/missing");
  in.repo = "no-slash";
  ExpectOnlyFailure(Run(in), "repository: --repo must be OWNER/NAME");
}

TEST_F(DoctorTest, GitHostUnreachable) {
  auto in = Input();
  in.git_base_url = "http://127.0.0.1:" + std::to_string(FreePort());
  ExpectOnlyFailure(Run(in), "git reaches " + in.git_base_url + "/octo/demo.git: git ls-remote exited with");
}

TEST_F(DoctorTest, ApiUnreachable) {
  auto in = Input();
  in.api_url = "http://127.0.0.1:" + std::to_string(FreePort());
  std::string out = Run(in);
  ExpectOnlyFailure(out, "GitHub accepts the JWT");
  EXPECT_NE(out.find("WAVEBOT_GITHUB_API"), std::string::npos) << out;
}

TEST_F(DoctorTest, InstallationMissingAPermission) {
  // GitHub's answers for an App whose installation was granted less than wavebot needs.
  StubServer api(0, [](httplib::Server& s) {
    s.Get("/app/installations", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(R"([{"id": 7, "account": {"login": "octo"}}])", "application/json");
    });
    s.Get("/repos/octo/demo/installation", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(R"({"id": 7, "account": {"login": "octo"}})", "application/json");
    });
    s.Get("/app", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(R"({"id": 1, "slug": "octo-wave"})", "application/json");
    });
    s.Get(R"(/users/octo-wave\[bot\])", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(R"({"id": 99, "login": "octo-wave[bot]", "type": "Bot"})", "application/json");
    });
    s.Post("/app/installations/7/access_tokens", [](const httplib::Request&, httplib::Response& res) {
      res.status = 201;
      res.set_content(R"({"token": "ghs_x", "expires_at": "2099-01-01T00:00:00Z", "permissions":
                         {"contents": "write", "issues": "write", "pull_requests": "read", "checks": "write",
                          "metadata": "read"}})",
                      "application/json");
    });
  });
  auto in = Input();
  in.api_url = "http://127.0.0.1:" + std::to_string(api.port());
  std::string out = Run(in);
  ExpectOnlyFailure(out, "permissions: the installation lacks actions:write pull_requests:write");
}

TEST_F(DoctorTest, PersonalAccessTokenMode) {
  auto token = sim_->CreateUserToken("maintainer");
  ASSERT_TRUE(token.ok());
  ASSERT_TRUE(sim_->SetCollaborator(kRepo, "maintainer", "admin").ok());
  auto in = Input();
  in.app_id = "";
  in.private_key_file = "";
  in.token = *token;
  github::DoctorReport r;
  std::string out = Run(in, &r);
  EXPECT_EQ(r.failed, 0) << out;
  EXPECT_NE(out.find("PASS token reads octo/demo"), std::string::npos) << out;
  EXPECT_NE(out.find("PASS git reaches"), std::string::npos) << out;

  in.token = "ghp_wrong";
  ExpectOnlyFailure(Run(in), "token reads octo/demo");
}

TEST_F(DoctorTest, LocalOnlyNeverTalksToGithub) {
  auto in = Input();
  in.local_only = true;
  github::DoctorReport r;
  std::string out = Run(in, &r);
  EXPECT_EQ(r.failed, 0) << out;
  EXPECT_NE(out.find("PASS JWT signs"), std::string::npos) << out;
  EXPECT_EQ(sim_->request_count(), 0) << out;
}

TEST(ProbeHealthz, AnswersStatusOrUnavailable) {
  StubServer ok(200);
  auto r = github::ProbeHealthz(ok.listen());
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_EQ(*r, 200);
  StubServer busy(503);
  EXPECT_EQ(github::ProbeHealthz("0.0.0.0:" + std::to_string(busy.port())).value_or(0), 503);
  auto none = github::ProbeHealthz("127.0.0.1:" + std::to_string(FreePort()), 500);
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().code(), ErrorCode::kUnavailable);
  EXPECT_EQ(github::ProbeHealthz("nonsense").error().code(), ErrorCode::kInvalidArgument);
}

TEST(FindOnPath, FindsExecutablesOnly) {
  EXPECT_EQ(github::FindOnPath("sh", "/nonexistent:/bin:/usr/bin").value_or(""), "/bin/sh");
  EXPECT_FALSE(github::FindOnPath("sh", "/nonexistent").ok());
  EXPECT_FALSE(github::FindOnPath("passwd", "/etc").ok());  // /etc/passwd is not executable
  EXPECT_EQ(github::FindOnPath("/bin/sh", "").value_or(""), "/bin/sh");
}

TEST_F(DoctorTest, CliLoadsTheEnvironmentAndExitsNonZeroOnFailure) {
  auto in = Input();
  std::string base = std::string("env -i PATH=/usr/bin:/bin WAVEBOT_GITHUB_API=") + in.api_url +
                     " WAVEBOT_GIT_BASE_URL=" + in.git_base_url + " WAVEBOT_APP_ID=" + in.app_id +
                     " WAVEBOT_PRIVATE_KEY_FILE=" + in.private_key_file + " WAVEBOT_DATA_DIR=" + in.data_dir +
                     " WAVEBOT_LISTEN=" + in.listen + " ";
  auto run = [&](const std::string& env_and_args, std::string* out) {
    std::string cmd = "cd " + dir_.path() + " && " + base + env_and_args + " > out.txt 2>&1";
    int rc = std::system(cmd.c_str());
    std::ifstream f(dir_.path() + "/out.txt");
    std::stringstream ss;
    ss << f.rdbuf();
    *out = ss.str();
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  };
  std::string out;
  EXPECT_EQ(run(std::string(WAVEBOT_BINARY) + " doctor --repo octo/demo --agent sh", &out), 1) << out;
  EXPECT_NE(out.find("FAIL webhook secret"), std::string::npos) << out;  // none in the environment
  EXPECT_NE(out.find("PASS git reaches"), std::string::npos) << out;
  EXPECT_NE(out.find("passed, 1 failed"), std::string::npos) << out;

  std::ofstream(dir_.path() + "/secret") << "0123456789abcdef0123\n";
  EXPECT_EQ(run("WAVEBOT_WEBHOOK_SECRET_FILE=" + dir_.path() + "/secret " + WAVEBOT_BINARY +
                    " doctor --repo octo/demo --agent sh",
                &out),
            0)
      << out;
  EXPECT_NE(out.find(" 0 failed"), std::string::npos) << out;
  EXPECT_NE(out.find("PASS agent sandbox: bubblewrap can contain agent runs"), std::string::npos) << out;

  // Without bubblewrap (not on PATH): the sandbox check fails and says how to install it; opting out is
  // said plainly.
  EXPECT_EQ(run("WAVEBOT_WEBHOOK_SECRET_FILE=" + dir_.path() + "/secret PATH=/nonexistent:/usr/local/bin " +
                    WAVEBOT_BINARY + " doctor --local",
                &out),
            1)
      << out;
  EXPECT_NE(out.find("FAIL agent sandbox: the agent sandbox needs bubblewrap"), std::string::npos) << out;
  EXPECT_NE(out.find("apt-get install bubblewrap"), std::string::npos) << out;
  EXPECT_EQ(run("WAVEBOT_WEBHOOK_SECRET_FILE=" + dir_.path() + "/secret WAVEBOT_AGENT_SANDBOX=none " +
                    WAVEBOT_BINARY + " doctor --local",
                &out),
            0)
      << out;
  EXPECT_NE(out.find("NOTE agent sandbox: WAVEBOT_AGENT_SANDBOX=none, agents run uncontained"), std::string::npos)
      << out;

  EXPECT_EQ(run("WAVEBOT_LISTEN=nonsense " + std::string(WAVEBOT_BINARY) + " doctor", &out), 1) << out;
  EXPECT_NE(out.find("FAIL configuration loads"), std::string::npos) << out;

  EXPECT_EQ(run(std::string(WAVEBOT_BINARY) + " doctor --healthz", &out), 1) << out;  // nothing serves
  EXPECT_NE(out.find("unhealthy"), std::string::npos) << out;
}

}  // namespace
}  // namespace wavebot::testing
