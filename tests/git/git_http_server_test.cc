#include "sandbox/git_http_server.h"

#include <gtest/gtest.h>
#include <httplib.h>
#include <zlib.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "git/test_util.h"

namespace wavebot::sandbox {
namespace {

namespace fs = std::filesystem;
using wavebot::testing::RunShell;
using wavebot::testing::TempDir;

class GitHttpServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = tmp_.Dir() / "root";
    fs::create_directories(root_ / "octo");
    ASSERT_EQ(RunShell("git init -q --bare -b main " + (root_ / "octo/demo.git").string()), 0);
    GitHttpOptions opt;
    opt.root = root_.string();
    opt.authorize = [this](const std::string& user, const std::string& password, const std::string& repo,
                           bool is_push) {
      last_repo_ = repo;
      if (is_push) ++pushes_;
      return user == "x-access-token" && password == "s3cret-token";
    };
    server_ = std::make_unique<GitHttpServer>(opt);
    auto url = server_->Start();
    ASSERT_TRUE(url.ok()) << url.error().ToString();
    base_ = *url;
    host_port_ = base_.substr(std::string("http://").size());
  }

  std::string Url(const std::string& cred) {
    return "http://" + cred + "@" + host_port_ + "/octo/demo.git";
  }

  TempDir tmp_;
  fs::path root_;
  std::unique_ptr<GitHttpServer> server_;
  std::string base_, host_port_;
  std::string last_repo_;
  std::atomic<int> pushes_{0};
};

TEST_F(GitHttpServerTest, PushAndCloneWithTokenRoundTrip) {
  fs::path work = tmp_.Dir() / "work";
  ASSERT_EQ(RunShell("git init -q -b main " + work.string() + " && cd " + work.string() +
                     " && echo hello > a.txt && git add a.txt && git -c user.name=t -c user.email=t@e "
                     "commit -qm first && git push -q " + Url("x-access-token:s3cret-token") + " main"),
            0);
  EXPECT_EQ(last_repo_, "octo/demo.git");
  EXPECT_GT(pushes_.load(), 0);
  fs::path clone = tmp_.Dir() / "clone";
  ASSERT_EQ(RunShell("git clone -q " + Url("x-access-token:s3cret-token") + " " + clone.string()), 0);
  EXPECT_TRUE(fs::exists(clone / "a.txt"));
}

TEST_F(GitHttpServerTest, WrongTokenIsRefusedWith401) {
  httplib::Client cli(base_);
  cli.set_basic_auth("x-access-token", "wrong");
  auto res = cli.Get("/octo/demo.git/info/refs?service=git-upload-pack");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 401);
  EXPECT_NE(res->get_header_value("WWW-Authenticate").find("Basic"), std::string::npos);
  auto noauth = httplib::Client(base_).Get("/octo/demo.git/info/refs?service=git-receive-pack");
  ASSERT_TRUE(noauth);
  EXPECT_EQ(noauth->status, 401);
  // The git CLI, given a wrong token, fails (and never prompts: GIT_TERMINAL_PROMPT=0).
  EXPECT_NE(RunShell("GIT_TERMINAL_PROMPT=0 git ls-remote " + Url("x-access-token:nope") + " 2>/dev/null"), 0);
}

TEST_F(GitHttpServerTest, PathsOutsideTheRootAreRejected) {
  httplib::Client cli(base_);
  cli.set_basic_auth("x-access-token", "s3cret-token");
  auto res = cli.Get("/octo/../../etc/info/refs?service=git-upload-pack");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 404);
  auto missing = cli.Get("/octo/missing.git/info/refs?service=git-upload-pack");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
}

std::string Gzip(const std::string& in) {
  z_stream zs{};
  deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY);
  std::string out(in.size() + 128, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

TEST_F(GitHttpServerTest, GzipEncodedUploadPackRequestIsDecoded) {
  fs::path work = tmp_.Dir() / "work";
  ASSERT_EQ(RunShell("git init -q -b main " + work.string() + " && cd " + work.string() +
                     " && echo hi > a && git add a && git -c user.name=t -c user.email=t@e commit -qm c && "
                     "git push -q " + Url("x-access-token:s3cret-token") + " main"),
            0);
  std::string sha;
  {
    FILE* f = popen(("git -C " + work.string() + " rev-parse HEAD").c_str(), "r");
    char buf[64] = {0};
    ASSERT_NE(fgets(buf, sizeof(buf), f), nullptr);
    pclose(f);
    sha = std::string(buf, 40);
  }
  // A v0 upload-pack request: want <sha>, flush, done.
  std::string want = "want " + sha + "\n";
  char len[5];
  std::snprintf(len, sizeof(len), "%04zx", want.size() + 4);
  std::string body = std::string(len) + want + "0000" + "0009done\n";
  httplib::Client cli(base_);
  cli.set_basic_auth("x-access-token", "s3cret-token");
  httplib::Headers headers = {{"Content-Encoding", "gzip"}};
  auto res = cli.Post("/octo/demo.git/git-upload-pack", headers, Gzip(body),
                      "application/x-git-upload-pack-request");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->get_header_value("Content-Type"), "application/x-git-upload-pack-result");
  EXPECT_NE(res->body.find("PACK"), std::string::npos);
}

TEST(GitHttpServerStartTest, MissingRootIsAnError) {
  GitHttpOptions opt;
  opt.root = "/nonexistent/wavebot/root";
  GitHttpServer server(opt);
  auto url = server.Start();
  ASSERT_FALSE(url.ok());
  EXPECT_EQ(url.error().code(), ErrorCode::kFailedPrecondition);
}

}  // namespace
}  // namespace wavebot::sandbox
