// The status comment on an epic issue: found by its hidden marker and edited in place. A table per
// ticket (wave, state, PR, CI, runs, time), a Mermaid graph coloured by state, and totals.
// Pure; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/decide.h"
#include "core/ticket.h"

namespace wavebot::core {

struct StatusTicket {
  int64_t number = 0;
  std::string title;
  int wave = 0;  // 0: blocked
  TicketState state = TicketState::kBlocked;
  std::vector<int64_t> depends_on;
  int64_t pr = 0;
  CiStatus ci = CiStatus::kNone;
  int runs_used = 0;
  int64_t seconds = 0;  // time since first dispatch (or until done)
  std::string note;     // blocked or stuck reason
  int64_t cost_microusd = 0;  // the agent runs' own cost reports, summed (USD * 1e6; 0: none reported)
};

struct StatusInput {
  int64_t epic = 0;
  std::string epic_title;
  std::string state;  // running, paused, cancelled, done, planned
  std::string strategy;
  std::string epic_branch;
  int64_t epic_pr = 0;
  bool epic_pr_closes_tickets = false;  // its body says "Closes #N" for the merged tickets
  int max_attempts = 4;
  int64_t budget_microusd = 0;  // agent.max_epic_cost_usd (USD * 1e6); 0: none
  // What the epic's passes spent of GitHub's rate limits; shown once the epic is done.
  int64_t github_requests = 0;
  int64_t github_not_modified = 0;
  int64_t github_writes = 0;
  std::vector<StatusTicket> tickets;
};

// "<!-- wavebot:status epic=N -->": the first line of the comment; how wavebot finds it again.
std::string StatusMarker(int64_t epic);

std::string RenderStatusComment(const StatusInput& in);

// Escapes user text for a Markdown table cell: HTML special characters, pipes, line breaks, and '@' so
// that titles cannot mention people.
std::string EscapeMarkdownCell(std::string_view text);

// "$0.35" for 350000 micro-dollars.
std::string FormatCost(int64_t microusd);

// "23.8 per merged ticket; 17.1 without 304s, 4.1 writes": GitHub requests spent over `merged` (> 0)
// tickets, for the epic's summary and the dashboard.
std::string FormatRequestsPerTicket(int64_t requests, int64_t not_modified, int64_t writes, int merged);

// "3m 20s", "1h 05m", "-" for 0.
std::string FormatDuration(int64_t seconds);

}  // namespace wavebot::core
