#include "github/doctor.h"

#include <sys/stat.h>

#include <set>

#include "common/clock.h"
#include "github/client.h"
#include "github/jwt.h"

namespace wavebot::github {
namespace {

class Printer {
 public:
  Printer(std::ostream& out, DoctorReport* r) : out_(out), r_(r) {}
  void Pass(const std::string& what) {
    out_ << "PASS " << what << "\n";
    r_->passed++;
  }
  void Fail(const std::string& what, const std::string& why) {
    out_ << "FAIL " << what << ": " << why << "\n";
    r_->failed++;
  }

 private:
  std::ostream& out_;
  DoctorReport* r_;
};

// What wavebot needs of an installation token (GitHub permission name -> minimum level).
const std::map<std::string, std::string> kNeeded = {{"contents", "write"},      {"issues", "write"},
                                                    {"pull_requests", "write"}, {"checks", "write"},
                                                    {"metadata", "read"}};

bool Enough(const std::string& have, const std::string& need) {
  return have == "write" || have == "admin" || (need == "read" && have == "read");
}

}  // namespace

DoctorReport RunDoctor(const DoctorInput& in, std::ostream& out) {
  DoctorReport report;
  Printer p(out, &report);
  Clock* clock = in.clock ? in.clock : RealClock();

  if (in.webhook_secret.empty()) {
    p.Fail("webhook secret", "WAVEBOT_WEBHOOK_SECRET is empty: set it to the secret configured on the GitHub App");
  } else if (in.webhook_secret.size() < 16) {
    p.Fail("webhook secret", "shorter than 16 characters: use a long random secret");
  } else {
    p.Pass("webhook secret is set");
  }

  ClientOptions co;
  co.api_url = in.api_url;
  co.clock = clock;
  co.call_deadline = std::chrono::seconds(30);
  if (!in.token.empty()) {
    co.token = in.token;
    p.Pass("personal access token mode (WAVEBOT_TOKEN)");
  } else {
    if (in.app_id.empty()) {
      p.Fail("app id", "WAVEBOT_APP_ID is empty (or set WAVEBOT_TOKEN for personal-access-token mode)");
      return report;
    }
    p.Pass("app id " + in.app_id);
    struct stat st;
    if (in.private_key_file.empty()) {
      p.Fail("private key", "WAVEBOT_PRIVATE_KEY_FILE is empty");
      return report;
    }
    if (::stat(in.private_key_file.c_str(), &st) != 0) {
      p.Fail("private key", in.private_key_file + " does not exist or is not readable");
      return report;
    }
    if ((st.st_mode & 077) != 0) {
      p.Fail("private key permissions", in.private_key_file + " is readable by group or others: chmod 600 it");
    } else {
      p.Pass("private key permissions (owner only)");
    }
    auto key = PrivateKey::FromFile(in.private_key_file);
    if (!key.ok()) {
      p.Fail("private key", key.error().message());
      return report;
    }
    p.Pass("private key parses (RSA)");
    auto jwt = MakeAppJwt(**key, in.app_id, clock->Now());
    if (!jwt.ok()) {
      p.Fail("JWT", jwt.error().message());
      return report;
    }
    p.Pass("JWT signs (RS256)");
    co.app_id = in.app_id;
    co.private_key_pem = (*key)->PrivatePem();
  }
  auto client = NewClient(co);
  if (!client.ok()) {
    p.Fail("client", client.error().message());
    return report;
  }
  RepoRef repo;
  if (!in.repo.empty()) {
    size_t slash = in.repo.find('/');
    if (slash == std::string::npos) {
      p.Fail("repository", "--repo must be OWNER/NAME, got '" + in.repo + "'");
      return report;
    }
    repo = RepoRef{in.repo.substr(0, slash), in.repo.substr(slash + 1)};
  }
  if (!in.token.empty()) {
    if (repo.owner.empty()) {
      p.Fail("token", "give --repo OWNER/NAME to check the token against a repository");
      return report;
    }
    auto r = (*client)->GetRepository(repo);
    if (!r.ok()) {
      p.Fail("repository " + in.repo, r.error().message());
    } else {
      p.Pass("token reads " + r->full_name + " (default branch " + r->default_branch + ")");
    }
    return report;
  }
  auto installations = (*client)->ListInstallations();
  if (!installations.ok()) {
    p.Fail("GitHub accepts the JWT", installations.error().message());
    return report;
  }
  if (installations->empty()) {
    p.Fail("installations", "the App is installed nowhere: install it on the repositories wavebot should work on");
    return report;
  }
  p.Pass("GitHub accepts the JWT (" + std::to_string(installations->size()) + " installation(s))");
  int64_t installation = installations->front().id;
  if (!repo.owner.empty()) {
    auto inst = (*client)->GetRepoInstallation(repo);
    if (!inst.ok()) {
      p.Fail("installation on " + in.repo, inst.error().message());
      return report;
    }
    installation = inst->id;
    p.Pass("the App is installed on " + in.repo);
  }
  auto token = (*client)->CreateInstallationToken(installation);
  if (!token.ok()) {
    p.Fail("installation token", token.error().message());
    return report;
  }
  p.Pass("installation token obtained (expires " + token->expires_at + ")");
  std::string missing;
  for (const auto& [perm, level] : kNeeded) {
    auto it = token->permissions.find(perm);
    if (it == token->permissions.end() || !Enough(it->second, level)) missing += " " + perm + ":" + level;
  }
  if (!missing.empty()) {
    p.Fail("permissions", "the App lacks" + missing + " (edit the App's permissions and accept them)");
  } else {
    p.Pass("permissions: contents, issues, pull_requests, checks write; metadata read");
  }
  return report;
}

}  // namespace wavebot::github
