#include "github/doctor.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <sstream>

#include "github/sim_fixture.h"

namespace wavebot::testing {
namespace {

class DoctorTest : public SimTest {
 protected:
  github::DoctorInput Input() {
    std::string key = dir_.path() + "/app.pem";
    std::ofstream(key) << sim_->app_private_key_pem();
    chmod(key.c_str(), 0600);
    github::DoctorInput in;
    in.api_url = sim_->api_url();
    in.app_id = std::to_string(sim_->app_id());
    in.private_key_file = key;
    in.webhook_secret = "0123456789abcdef0123";
    in.repo = "octo/demo";
    in.clock = &clock_;
    return in;
  }
};

TEST_F(DoctorTest, AllChecksPassOnAGoodSetup) {
  std::ostringstream out;
  auto r = github::RunDoctor(Input(), out);
  EXPECT_EQ(r.failed, 0) << out.str();
  EXPECT_GE(r.passed, 8) << out.str();
  EXPECT_NE(out.str().find("PASS installation token obtained"), std::string::npos) << out.str();
}

TEST_F(DoctorTest, EachProblemIsOneClearFailLine) {
  auto in = Input();
  chmod(in.private_key_file.c_str(), 0644);
  in.webhook_secret = "";
  std::ostringstream out;
  auto r = github::RunDoctor(in, out);
  EXPECT_EQ(r.failed, 2) << out.str();
  EXPECT_NE(out.str().find("FAIL webhook secret"), std::string::npos);
  EXPECT_NE(out.str().find("chmod 600"), std::string::npos);

  in = Input();
  std::ofstream(in.private_key_file) << "garbage";
  std::ostringstream bad;
  EXPECT_GE(github::RunDoctor(in, bad).failed, 1);
  EXPECT_NE(bad.str().find("FAIL private key"), std::string::npos) << bad.str();

  in = Input();
  in.repo = "octo/missing";
  std::ostringstream missing;
  EXPECT_EQ(github::RunDoctor(in, missing).failed, 1) << missing.str();
  EXPECT_NE(missing.str().find("FAIL installation on octo/missing"), std::string::npos) << missing.str();
}

TEST_F(DoctorTest, CliExitsNonZeroOnFailure) {
  auto in = Input();
  std::string cmd = std::string("env -i PATH=/usr/bin:/bin WAVEBOT_GITHUB_API=") + in.api_url +
                    " WAVEBOT_APP_ID=" + in.app_id + " WAVEBOT_PRIVATE_KEY_FILE=" + in.private_key_file + " " +
                    WAVEBOT_BINARY + " doctor --repo octo/demo > " + dir_.path() + "/out.txt 2>&1";
  int rc = std::system(cmd.c_str());
  std::ifstream f(dir_.path() + "/out.txt");
  std::stringstream ss;
  ss << f.rdbuf();
  EXPECT_NE(rc, 0) << ss.str();  // no webhook secret
  EXPECT_NE(ss.str().find("FAIL webhook secret"), std::string::npos) << ss.str();
  EXPECT_NE(ss.str().find("PASS installation token obtained"), std::string::npos) << ss.str();
}

}  // namespace
}  // namespace wavebot::testing
