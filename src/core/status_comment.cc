#include "core/status_comment.h"

#include <cstdio>
#include <map>

#include "core/github_limits.h"
#include "core/plan_format.h"

namespace wavebot::core {
namespace {

const char* StateLabel(TicketState s) {
  switch (s) {
    case TicketState::kBlocked: return "⏸️ blocked";
    case TicketState::kReady: return "🟦 ready";
    case TicketState::kRunning: return "⚙️ running";
    case TicketState::kPrOpen: return "🔍 in review";
    case TicketState::kFixing: return "🔧 fixing";
    case TicketState::kDone: return "✅ done";
    case TicketState::kNeedsHuman: return "🆘 needs a human";
  }
  return "";
}

const char* CiLabel(CiStatus c) {
  switch (c) {
    case CiStatus::kNone: return "-";
    case CiStatus::kPending: return "⏳";
    case CiStatus::kSuccess: return "✅";
    case CiStatus::kFailure: return "❌";
  }
  return "-";
}

// At most `max` bytes, cut on a UTF-8 code point boundary.
std::string TruncateUtf8(const std::string& s, size_t max) {
  if (s.size() <= max) return s;
  size_t cut = max;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
  return s.substr(0, cut);
}

}  // namespace

std::string StatusMarker(int64_t epic) { return "<!-- wavebot:status epic=" + std::to_string(epic) + " -->"; }

std::string EscapeMarkdownCell(std::string_view text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '|': out += "\\|"; break;
      case '@': out += "&#64;"; break;
      case '`': out += "&#96;"; break;
      case '\n':
      case '\r':
      case '\t': out += ' '; break;
      default: out += c;
    }
  }
  return out;
}

std::string FormatDuration(int64_t seconds) {
  if (seconds <= 0) return "-";
  char buf[32];
  if (seconds < 3600) {
    std::snprintf(buf, sizeof(buf), "%lldm %02llds", static_cast<long long>(seconds / 60),
                  static_cast<long long>(seconds % 60));
  } else {
    std::snprintf(buf, sizeof(buf), "%lldh %02lldm", static_cast<long long>(seconds / 3600),
                  static_cast<long long>((seconds % 3600) / 60));
  }
  return buf;
}

std::string FormatCost(int64_t microusd) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "$%.2f", static_cast<double>(microusd) / 1e6);
  return buf;
}

namespace {

// How much of the status to show: everything, or less when it would not fit in a GitHub comment.
struct Detail {
  bool graph = true;          // the Mermaid graph
  bool done_rows = true;      // a table row per merged ticket (else one line listing them)
  size_t title_bytes = 1024;  // titles in the table cut to this
};

std::string Render(const StatusInput& in, const Detail& detail) {
  std::map<TicketState, int> counts;
  for (const auto& t : in.tickets) counts[t.state]++;
  std::string out = StatusMarker(in.epic) + "\n";
  out += "## 🌊 wavebot: epic #" + std::to_string(in.epic) + "\n\n";
  out += "**" + std::to_string(counts[TicketState::kDone]) + " of " + std::to_string(in.tickets.size()) +
         " tickets merged** · state `" + in.state + "` · strategy `" + in.strategy + "` · branch `" + in.epic_branch +
         "`";
  if (in.epic_pr) {
    out += " · epic PR #" + std::to_string(in.epic_pr) + (in.epic_pr_closes_tickets ? " (merging it closes the tickets)" : "");
  }
  int64_t cost = 0;
  for (const auto& t : in.tickets) cost += t.cost_microusd;
  if (cost > 0 || in.budget_microusd > 0) {
    out += " · agent cost " + FormatCost(cost) + (in.budget_microusd > 0 ? " of " + FormatCost(in.budget_microusd) : "");
  }
  out += "\n\n";
  if (in.state == "done" && in.github_requests > 0 && counts[TicketState::kDone] > 0) {
    out += "GitHub requests: " + std::to_string(in.github_requests) + " (" +
           FormatRequestsPerTicket(in.github_requests, in.github_not_modified, in.github_writes,
                                   counts[TicketState::kDone]) +
           ")\n\n";
  }
  if (in.budget_microusd > 0 && cost >= in.budget_microusd) {
    out += "**The epic's agent budget (`agent.max_epic_cost_usd`, " + FormatCost(in.budget_microusd) +
           ") is spent: wavebot starts no new agent runs.** Raise it in `.github/wavebot.yml` to go on.\n\n";
  }
  if (!detail.done_rows && counts[TicketState::kDone] > 0) {
    out += "Merged:";
    for (const auto& t : in.tickets) {
      if (t.state == TicketState::kDone) out += " #" + std::to_string(t.number);
    }
    out += "\n\n";
  }
  out += "| wave | ticket | state | PR | CI | runs | time | note |\n|---|---|---|---|---|---|---|---|\n";
  for (const auto& t : in.tickets) {
    if (!detail.done_rows && t.state == TicketState::kDone) continue;
    out += "| " + (t.wave ? std::to_string(t.wave) : std::string("-")) + " | #" + std::to_string(t.number) + " " +
           EscapeMarkdownCell(TruncateUtf8(t.title, detail.title_bytes)) + " | " + StateLabel(t.state) + " | " +
           (t.pr ? "#" + std::to_string(t.pr) : std::string("-")) + " | " + CiLabel(t.ci) + " | " +
           std::to_string(t.runs_used) + "/" + std::to_string(in.max_attempts) +
           (t.cost_microusd > 0 ? " · " + FormatCost(t.cost_microusd) : std::string()) + " | " + FormatDuration(t.seconds) +
           " | " + EscapeMarkdownCell(TruncateUtf8(t.note, detail.title_bytes)) + " |\n";
  }
  // Totals.
  out += "\n";
  bool first = true;
  for (auto s : {TicketState::kDone, TicketState::kPrOpen, TicketState::kFixing, TicketState::kRunning,
                 TicketState::kReady, TicketState::kBlocked, TicketState::kNeedsHuman}) {
    if (!counts[s]) continue;
    out += std::string(first ? "" : " · ") + StateLabel(s) + ": " + std::to_string(counts[s]);
    first = false;
  }
  if (!detail.graph) {
    out += "\n\nThe dependency graph is too large for a GitHub comment: `wavebot plan --repo OWNER/NAME --epic " +
           std::to_string(in.epic) + " --format mermaid` draws it.\n";
    return out;
  }
  out += "\n\n<details><summary>Dependency graph</summary>\n\n```mermaid\ngraph TD\n";
  std::map<int, std::vector<const StatusTicket*>> by_wave;
  for (const auto& t : in.tickets) by_wave[t.wave].push_back(&t);
  for (const auto& [wave, tickets] : by_wave) {
    out += wave ? "  subgraph wave" + std::to_string(wave) + "[\"Wave " + std::to_string(wave) + "\"]\n"
                : std::string("  subgraph blocked[\"Blocked\"]\n");
    for (const auto* t : tickets) {
      out += "    t" + std::to_string(t->number) + "[\"#" + std::to_string(t->number) + " " +
             EscapeMermaidLabel(TruncateUtf8(t->title, 60)) + "\"]:::" + TicketStateName(t->state) + "\n";
    }
    out += "  end\n";
  }
  for (const auto& t : in.tickets) {
    for (int64_t d : t.depends_on) out += "  t" + std::to_string(d) + " --> t" + std::to_string(t.number) + "\n";
  }
  out +=
      "  classDef blocked fill:#eeeeee,stroke:#999999\n"
      "  classDef ready fill:#dbeafe,stroke:#3b82f6\n"
      "  classDef running fill:#fef3c7,stroke:#d97706\n"
      "  classDef pr_open fill:#e0e7ff,stroke:#6366f1\n"
      "  classDef fixing fill:#ffedd5,stroke:#ea580c\n"
      "  classDef done fill:#dcfce7,stroke:#16a34a\n"
      "  classDef needs_human fill:#fee2e2,stroke:#dc2626\n"
      "```\n\n</details>\n";
  return out;
}

}  // namespace

// GitHub refuses a comment over 65,536 characters (422). A large epic first loses its graph, then the
// rows of merged tickets (listed by number instead) and long titles, and at last the table is cut.
std::string FormatRequestsPerTicket(int64_t requests, int64_t not_modified, int64_t writes, int merged) {
  const double m = merged > 0 ? merged : 1;
  char per[160];
  std::snprintf(per, sizeof per, "%.1f per merged ticket; %.1f without 304s, %.1f writes",
                static_cast<double>(requests) / m, static_cast<double>(requests - not_modified) / m,
                static_cast<double>(writes) / m);
  return per;
}

std::string RenderStatusComment(const StatusInput& in) {
  std::string out = Render(in, Detail{});
  if (out.size() <= kMaxBodyBytes) return out;
  out = Render(in, Detail{.graph = false, .done_rows = true, .title_bytes = 1024});
  if (out.size() <= kMaxBodyBytes) return out;
  out = Render(in, Detail{.graph = false, .done_rows = false, .title_bytes = 60});
  return FitBody(std::move(out), "… more tickets than a GitHub comment can hold; `wavebot plan` lists them all.");
}

}  // namespace wavebot::core
