// A loopback git server (git http-backend behind sandbox::GitHttpServer) with one seeded repository
// "octo/demo.git", for the git and agents tests. Pushes need the token; reads take any credentials.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <string>

#include "git/test_util.h"
#include "sandbox/git_http_server.h"

namespace wavebot::testing {

inline constexpr char kToken[] = "ghs_testtoken_0123456789abcdef";

class GitServerFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = tmp_.Dir() / "server";
    data_ = tmp_.Dir() / "data";
    std::filesystem::create_directories(root_ / "octo");
    std::filesystem::create_directories(data_);
    sandbox::GitHttpOptions opt;
    opt.root = root_.string();
    opt.authorize = [](const std::string& user, const std::string& password, const std::string&, bool is_push) {
      return !is_push || (user == "x-access-token" && password == kToken);
    };
    server_ = std::make_unique<sandbox::GitHttpServer>(opt);
    auto url = server_->Start();
    ASSERT_TRUE(url.ok()) << url.error().ToString();
    base_url_ = *url;
    remote_url_ = base_url_ + "/octo/demo.git";
    ASSERT_EQ(RunShell("git init -q --bare -b main " + (root_ / "octo/demo.git").string()), 0);
    // A "human" clone used to seed and to push behind wavebot's back.
    human_ = tmp_.Dir() / "human";
    ASSERT_EQ(RunShell("git init -q -b main " + human_.string()), 0);
    Human("git config user.name Human && git config user.email human@example.com && "
          "printf 'build/\\n*.log\\n' > .gitignore && echo 'one' > README.md && mkdir -p src && "
          "echo 'int main() {}' > src/main.c && git add -A && git commit -qm seed && "
          "git remote add origin " + AuthedUrl() + " && git push -q origin main");
  }

  // Runs a shell command in the human's clone; fails the test when it fails.
  void Human(const std::string& cmd) {
    ASSERT_EQ(RunShell("cd " + human_.string() + " && (" + cmd + ")"), 0) << cmd;
  }
  std::string AuthedUrl() const {
    return "http://x-access-token:" + std::string(kToken) + "@" + base_url_.substr(7) + "/octo/demo.git";
  }
  std::string RemoteSha(const std::string& branch) {
    return ShellOutput("git --git-dir=" + (root_ / "octo/demo.git").string() + " rev-parse --verify -q refs/heads/" +
                       branch);
  }

  TempDir tmp_;
  std::filesystem::path root_, data_, human_;
  std::unique_ptr<sandbox::GitHttpServer> server_;
  std::string base_url_, remote_url_;
};

}  // namespace wavebot::testing
