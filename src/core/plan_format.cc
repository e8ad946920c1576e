#include "core/plan_format.h"

#include <nlohmann/json.hpp>

#include <algorithm>

namespace wavebot::core {
namespace {

std::string Ticket(int64_t n) { return "#" + std::to_string(n); }

std::string JoinTickets(const std::vector<int64_t>& ns) {
  std::string s;
  for (int64_t n : ns) s += (s.empty() ? "" : ", ") + Ticket(n);
  return s.empty() ? "-" : s;
}

// Truncates to `width` display columns (counting UTF-8 code points), adding an ellipsis.
std::string Fit(const std::string& s, size_t width) {
  size_t cols = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) {
      if (++cols > width) return s.substr(0, i) + "\u2026";
    }
  }
  return s;
}

size_t Columns(const std::string& s) {
  return static_cast<size_t>(std::count_if(s.begin(), s.end(),
                                           [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

std::string Pad(const std::string& s, size_t width) {
  size_t cols = Columns(s);
  return cols >= width ? s : s + std::string(width - cols, ' ');
}

}  // namespace

std::string PlanToText(const Plan& plan) {
  std::string out = "Epic #" + std::to_string(plan.epic) + ": " + plan.epic_title + "\n";
  out += std::to_string(plan.tickets.size()) + " tickets, " + std::to_string(plan.waves.size()) +
         " waves, critical path " + std::to_string(plan.critical_path) + ", max width " +
         std::to_string(plan.max_width) + "\n\n";
  constexpr size_t kTitle = 48;
  size_t title_width = 5;
  for (const auto& t : plan.tickets) title_width = std::max(title_width, std::min(kTitle + 1, Columns(t.title)));
  out += Pad("WAVE", 6) + Pad("TICKET", 9) + Pad("TITLE", title_width + 2) + "DEPENDS ON\n";
  for (size_t w = 0; w < plan.waves.size(); ++w) {
    for (int64_t n : plan.waves[w]) {
      const PlannedTicket* t = plan.Find(n);
      out += Pad(std::to_string(w + 1), 6) + Pad(Ticket(n), 9) + Pad(Fit(t->title, kTitle), title_width + 2) +
             JoinTickets(t->depends_on) + "\n";
    }
  }
  if (!plan.blocked.empty()) {
    out += "\nBlocked:\n";
    for (const auto& b : plan.blocked) {
      const PlannedTicket* t = plan.Find(b.ticket);
      out += "  " + Pad(Ticket(b.ticket), 8) + (t ? Fit(t->title, kTitle) : "") + "\n      " + b.reason + "\n";
    }
  }
  if (!plan.done.empty()) out += "\nDone: " + JoinTickets(plan.done) + "\n";
  if (!plan.not_ready.empty()) out += "\nMembers without the ready label: " + JoinTickets(plan.not_ready) + "\n";
  if (!plan.unknown_references.empty()) {
    out += "\nUnknown references:\n";
    for (const auto& u : plan.unknown_references) {
      out += "  " + u.reference + " (in " + Ticket(u.ticket) + ")\n";
    }
  }
  for (const auto& w : plan.warnings) out += "warning: " + w + "\n";
  return out;
}

std::string PlanToJson(const Plan& plan) {
  nlohmann::ordered_json j;
  j["epic"] = plan.epic;
  j["title"] = plan.epic_title;
  j["waves"] = plan.waves;
  j["critical_path"] = plan.critical_path;
  j["max_width"] = plan.max_width;
  auto& tickets = j["tickets"] = nlohmann::ordered_json::array();
  for (const auto& t : plan.tickets) {
    tickets.push_back({{"number", t.number}, {"title", t.title}, {"wave", t.wave}, {"depends_on", t.depends_on}});
  }
  auto& blocked = j["blocked"] = nlohmann::ordered_json::array();
  for (const auto& b : plan.blocked) blocked.push_back({{"ticket", b.ticket}, {"reason", b.reason}});
  j["done"] = plan.done;
  j["not_ready"] = plan.not_ready;
  auto& unknown = j["unknown_references"] = nlohmann::ordered_json::array();
  for (const auto& u : plan.unknown_references) unknown.push_back({{"ticket", u.ticket}, {"reference", u.reference}});
  auto& edges = j["edges"] = nlohmann::ordered_json::array();
  for (const auto& [a, b] : plan.edges) edges.push_back({a, b});
  j["warnings"] = plan.warnings;
  // One top-level key per line, arrays of objects one element per line, everything else compact:
  // readable in a terminal and still one stable document.
  constexpr auto kReplace = nlohmann::json::error_handler_t::replace;
  std::string out = "{\n";
  bool first_key = true;
  for (const auto& [key, value] : j.items()) {
    out += first_key ? "  " : ",\n  ";
    first_key = false;
    out += nlohmann::json(key).dump() + ": ";
    if (value.is_array() && !value.empty() && value.front().is_object()) {
      out += "[\n";
      for (size_t i = 0; i < value.size(); ++i) {
        out += "    " + value[i].dump(-1, ' ', false, kReplace) + (i + 1 < value.size() ? ",\n" : "\n");
      }
      out += "  ]";
    } else {
      out += value.dump(-1, ' ', false, kReplace);
    }
  }
  out += "\n}\n";
  return out;
}

std::string EscapeMermaidLabel(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '"': out += "#quot;"; break;
      case '<': out += "#lt;"; break;
      case '>': out += "#gt;"; break;
      case '&': out += "#amp;"; break;
      case '`': out += "#96;"; break;
      case '@': out += "#64;"; break;
      case '\n':
      case '\r':
      case '\t': out += ' '; break;
      default: out += c;
    }
  }
  return out;
}

std::string PlanToMermaid(const Plan& plan) {
  std::string out = "graph TD\n";
  auto node = [&](int64_t n) {
    const PlannedTicket* t = plan.Find(n);
    return "  t" + std::to_string(n) + "[\"#" + std::to_string(n) + " " +
           EscapeMermaidLabel(t ? Fit(t->title, 60) : "") + "\"]\n";
  };
  for (size_t w = 0; w < plan.waves.size(); ++w) {
    out += "  subgraph wave" + std::to_string(w + 1) + "[\"Wave " + std::to_string(w + 1) + "\"]\n";
    for (int64_t n : plan.waves[w]) out += "  " + node(n);
    out += "  end\n";
  }
  if (!plan.blocked.empty()) {
    out += "  subgraph blocked[\"Blocked\"]\n";
    for (const auto& b : plan.blocked) out += "  " + node(b.ticket);
    out += "  end\n";
  }
  for (const auto& t : plan.tickets) {
    for (int64_t d : t.depends_on) {
      out += "  t" + std::to_string(d) + " --> t" + std::to_string(t.number) + "\n";
    }
  }
  return out;
}

}  // namespace wavebot::core
