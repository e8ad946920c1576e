// The status comment must stay within GitHub's 65,536-character limit for a comment body however large
// the epic: GitHub answers a longer one 422 and the epic would show no status at all.
#include "core/status_comment.h"

#include <gtest/gtest.h>

#include "core/github_limits.h"

namespace wavebot::core {
namespace {

size_t Chars(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80 ? 1 : 0;
  return n;
}

StatusInput Epic(int tickets, const std::string& title, TicketState state) {
  StatusInput in;
  in.epic = 1;
  in.epic_title = "A big epic";
  in.state = "running";
  in.strategy = "wave";
  in.epic_branch = "epic/1-a-big-epic";
  for (int i = 0; i < tickets; ++i) {
    StatusTicket t;
    t.number = 2 + i;
    t.title = title + " " + std::to_string(i);
    t.wave = 1 + i / 25;
    t.state = i % 3 == 0 ? TicketState::kDone : state;
    if (i >= 25) t.depends_on = {2 + i - 25, 2 + (i * 7) % 25};
    t.pr = 1000 + i;
    t.runs_used = 2;
    t.seconds = 600 + i;
    t.note = i % 5 == 0 ? "agent-stuck: " + title : "";
    in.tickets.push_back(t);
  }
  return in;
}

TEST(StatusCommentTest, ADoneEpicSaysWhatItSpentOfGitHubsRateLimitsPerMergedTicket) {
  StatusInput in = Epic(6, "Add a function", TicketState::kDone);
  in.github_requests = 60;
  in.github_not_modified = 15;
  in.github_writes = 21;
  in.state = "running";
  EXPECT_EQ(RenderStatusComment(in).find("GitHub requests"), std::string::npos) << "only in the summary";
  in.state = "done";
  EXPECT_NE(RenderStatusComment(in).find("GitHub requests: 60 (10.0 per merged ticket; 7.5 without 304s, 3.5 writes)"),
            std::string::npos)
      << RenderStatusComment(in);
}

// The merged tickets stay open until the epic PR merges: the status comment says so next to it.
TEST(StatusCommentTest, TheEpicPrSaysWhetherMergingItClosesTheTickets) {
  StatusInput in = Epic(3, "Add a function", TicketState::kDone);
  in.epic_pr = 42;
  EXPECT_NE(RenderStatusComment(in).find("· epic PR #42\n"), std::string::npos) << RenderStatusComment(in);
  in.epic_pr_closes_tickets = true;
  EXPECT_NE(RenderStatusComment(in).find("· epic PR #42 (merging it closes the tickets)"), std::string::npos)
      << RenderStatusComment(in);
}

TEST(StatusCommentTest, SmallEpicShowsEverything) {
  std::string out = RenderStatusComment(Epic(8, "Add a function", TicketState::kRunning));
  EXPECT_EQ(out.rfind(StatusMarker(1), 0), 0u);
  EXPECT_NE(out.find("```mermaid"), std::string::npos);
  EXPECT_NE(out.find("| #2 Add a function 0 |"), std::string::npos);
}

TEST(StatusCommentTest, FiveHundredTicketsFitInAGitHubComment) {
  // Typical titles: the graph goes, the table stays whole.
  StatusInput typical = Epic(500, "Implement the parser for the configuration file format", TicketState::kPrOpen);
  std::string out = RenderStatusComment(typical);
  EXPECT_LE(out.size(), kMaxBodyBytes);
  EXPECT_LE(Chars(out), 65536u);
  EXPECT_EQ(out.rfind(StatusMarker(1), 0), 0u) << "still found by its marker";
  EXPECT_NE(out.find("#501 "), std::string::npos) << "the last ticket is still listed";
  EXPECT_NE(out.find("**167 of 500 tickets merged**"), std::string::npos);

  // The longest titles GitHub allows (256 characters), full of characters that escaping lengthens,
  // and every ticket open: still within the limit, ending with a pointer to the rest.
  std::string worst;
  while (Chars(worst) < 250) worst += "<&|@é>";
  StatusInput huge = Epic(500, worst, TicketState::kRunning);
  out = RenderStatusComment(huge);
  EXPECT_LE(out.size(), kMaxBodyBytes);
  EXPECT_EQ(out.rfind(StatusMarker(1), 0), 0u);
  EXPECT_NE(out.find("**167 of 500 tickets merged**"), std::string::npos) << "totals survive the cut";
  EXPECT_NE(out.find("wavebot plan"), std::string::npos) << "says where the rest is";
}

TEST(GitHubLimitsTest, FitBodyCutsOnALineAndClosesWhatItOpened) {
  std::string body = "head\n<details><summary>log</summary>\n\n```text\n";
  for (int i = 0; i < 10000; ++i) body += "line " + std::to_string(i) + " of the agent's log\n";
  body += "```\n</details>\n";
  std::string out = FitBody(body, "… cut");
  EXPECT_LE(out.size(), kMaxBodyBytes);
  EXPECT_EQ(out.rfind("head\n<details>", 0), 0u);
  EXPECT_NE(out.find("```\n</details>\n… cut\n"), std::string::npos) << out.substr(out.size() - 200);
  EXPECT_EQ(FitBody("short", "… cut"), "short");
}

TEST(GitHubLimitsTest, FitTitleKeepsAtMost256Characters) {
  EXPECT_EQ(FitTitle("#12: Add mul"), "#12: Add mul");
  std::string exact(256, 'x');
  EXPECT_EQ(FitTitle(exact), exact);
  std::string wide;
  for (int i = 0; i < 300; ++i) wide += "é";
  std::string out = FitTitle("#12: " + wide);
  EXPECT_EQ(Chars(out), 256u);
  EXPECT_EQ(out.substr(out.size() - 3), "…");
}

}  // namespace
}  // namespace wavebot::core
