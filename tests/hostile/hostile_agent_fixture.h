// The fixture of the hostile-agent tests: a loopback git server, a workspace, and agents given as shell
// scripts that run through RunTicket (what `wavebot run-ticket` runs), sandboxed as by default.
#pragma once

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "agents/run_ticket.h"
#include "git/git_fixture.h"

namespace wavebot::agents {

class HostileAgentFixture : public wavebot::testing::GitServerFixture {
 protected:
  void SetUp() override {
    GitServerFixture::SetUp();
    git::WorkspaceOptions o;
    o.data_dir = data_.string();
    o.repo_key = "octo/demo";
    o.remote_url = remote_url_;
    o.token = wavebot::testing::kToken;
    auto ws = git::OpenWorkspace(o);
    ASSERT_TRUE(ws.ok()) << ws.error().ToString();
    ws_ = std::move(*ws);
    runner_ = NewProcessRunner(RealClock());
  }

  // A request running `script` through /bin/sh in the ticket's worktree.
  RunTicketRequest Script(int64_t ticket, const std::string& script) {
    std::filesystem::path prompt = tmp_.Dir() / ("prompt-" + std::to_string(ticket) + ".md");
    std::ofstream(prompt) << "# Ticket #" << ticket << "\n";
    RunTicketRequest r;
    r.ticket = ticket;
    r.branch = "wave/1-epic/" + std::to_string(ticket) + "-t";
    r.base_branch = "main";
    r.prompt_file = prompt.string();
    r.log_dir = (tmp_.Dir() / "logs").string();
    r.agent.preset = "script";
    r.agent.command = {"/bin/sh", "-c", script};
    r.agent.timeout = std::chrono::seconds(60);
    r.secrets = {wavebot::testing::kToken};
    r.parent_env = {{"PATH", "/usr/bin:/bin"}, {"HOME", tmp_.path()}};
    r.home_root = (tmp_.Dir() / "agent-homes").string();  // sandboxed by default, as run-ticket runs agents
    return r;
  }

  RunTicketResult Run(const RunTicketRequest& r) {
    auto res = RunTicket(r, ws_.get(), runner_.get());
    EXPECT_TRUE(res.ok()) << res.error().ToString();
    if (res.ok()) std::printf("ticket #%lld: %s: %s\n", static_cast<long long>(r.ticket), OutcomeName(res->outcome), res->reason.c_str());
    return res.ok() ? *res : RunTicketResult{};
  }

  // The pool is reusable: an ordinary run right after succeeds and is pushed.
  void ExpectNextRunWorks(int64_t ticket) {
    auto r = Run(Script(ticket, "echo fine > fine.txt"));
    EXPECT_EQ(r.outcome, Outcome::kDone) << r.reason;
    EXPECT_EQ(RemoteSha("wave/1-epic/" + std::to_string(ticket) + "-t"), r.head_sha);
  }

  std::unique_ptr<git::Workspace> ws_;
  std::unique_ptr<ProcessRunner> runner_;
};

}  // namespace wavebot::agents
