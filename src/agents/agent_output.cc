#include "agents/agent_output.h"

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>

#include "common/status_code.h"

namespace wavebot::agents {
namespace {

using json = nlohmann::json;

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

bool Has(const std::string& lower, std::initializer_list<const char*> words) {
  for (const char* w : words) {
    if (lower.find(w) != std::string::npos) return true;
  }
  return false;
}

std::string OneLine(const std::string& s, size_t max = 300) {
  std::string out = s.substr(0, max);
  std::replace(out.begin(), out.end(), '\n', ' ');
  return s.size() > max ? out + "…" : out;
}

int64_t IntField(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_number() ? it->get<int64_t>() : 0;
}

// Claude Code: "assistant" events carry text and tool_use blocks; "result" is the last event and holds
// the totals (num_turns, total_cost_usd, usage), is_error, subtype and api_error_status.
void ClaudeEvent(const json& e, AgentReport* r) {
  const std::string type = e.value("type", "");
  if (type == "assistant" && e.contains("message") && e["message"].is_object()) {
    const auto& content = e["message"].value("content", json::array());
    for (const auto& block : content) {
      if (!block.is_object()) continue;
      const std::string bt = block.value("type", "");
      if (bt == "text") {
        r->transcript.push_back("agent: " + OneLine(block.value("text", "")));
      } else if (bt == "tool_use") {
        const json input = block.value("input", json::object());
        std::string what = input.is_object() && input.contains("command") && input["command"].is_string()
                               ? "$ " + input["command"].get<std::string>()
                           : input.is_object() && input.contains("file_path") && input["file_path"].is_string()
                               ? input["file_path"].get<std::string>()
                               : "";
        r->transcript.push_back("[" + block.value("name", "tool") + "] " + OneLine(what));
      }
    }
  } else if (type == "result") {
    r->turns = static_cast<int>(IntField(e, "num_turns"));
    if (e.contains("total_cost_usd") && e["total_cost_usd"].is_number()) {
      r->cost_usd = e["total_cost_usd"].get<double>();
      r->cost_reported = true;
    }
    if (e.contains("usage") && e["usage"].is_object()) {
      const auto& u = e["usage"];
      r->input_tokens = IntField(u, "input_tokens") + IntField(u, "cache_creation_input_tokens") +
                        IntField(u, "cache_read_input_tokens");
      r->output_tokens = IntField(u, "output_tokens");
    }
    r->api_status = static_cast<int>(IntField(e, "api_error_status"));
    const std::string subtype = e.value("subtype", "");
    std::string message = e.contains("result") && e["result"].is_string() ? e["result"].get<std::string>() : "";
    if (message.empty() && e.contains("errors") && e["errors"].is_array()) {
      for (const auto& err : e["errors"]) {
        if (err.is_string()) message += (message.empty() ? "" : "; ") + err.get<std::string>();
      }
    }
    r->message = message;
    if (subtype == "error_max_turns") {
      r->end = AgentEnd::kMaxTurns;
    } else if (subtype == "error_max_budget_usd") {
      r->end = AgentEnd::kBudgetExhausted;
    } else if (e.value("is_error", false) || subtype.rfind("error", 0) == 0) {
      r->end = ClassifyApiError(r->api_status, message);
    } else {
      r->end = AgentEnd::kSuccess;
    }
    r->transcript.push_back((r->end == AgentEnd::kSuccess ? "result: " : "error: ") + OneLine(message));
  }
}

// Codex CLI (`exec --json`): item.completed events carry the agent's messages and commands;
// turn.completed carries the usage; turn.failed (after a top-level "error") ends a failed run.
void CodexEvent(const json& e, AgentReport* r, bool* failed) {
  const std::string type = e.value("type", "");
  if (type == "item.completed" && e.contains("item") && e["item"].is_object()) {
    const auto& item = e["item"];
    const std::string it = item.value("type", "");
    if (it == "agent_message") {
      ++r->turns;
      r->message = item.value("text", "");
      r->transcript.push_back("agent: " + OneLine(r->message));
    } else if (it == "command_execution") {
      ++r->turns;
      std::string exit = item.contains("exit_code") && item["exit_code"].is_number()
                             ? " (exit " + std::to_string(item["exit_code"].get<int>()) + ")"
                             : "";
      r->transcript.push_back("$ " + OneLine(item.value("command", "")) + exit);
    } else if (it == "file_change" || it == "mcp_tool_call" || it == "web_search") {
      ++r->turns;
      r->transcript.push_back("[" + it + "]");
    } else if (it == "error") {
      r->transcript.push_back("warning: " + OneLine(item.value("message", "")));
    }
  } else if (type == "turn.completed" && e.contains("usage") && e["usage"].is_object()) {
    r->input_tokens += IntField(e["usage"], "input_tokens");
    r->output_tokens += IntField(e["usage"], "output_tokens");
    if (!*failed) r->end = AgentEnd::kSuccess;
  } else if (type == "turn.failed" || type == "error") {
    std::string message = type == "error" ? e.value("message", "")
                          : e.contains("error") && e["error"].is_object() ? e["error"].value("message", "")
                                                                          : "";
    if (message.empty()) return;
    // A top-level "error" may be a retry notice of a turn that still completes; turn.failed is final.
    if (type == "turn.failed") *failed = true;
    if (type == "error" && r->end == AgentEnd::kSuccess) return;
    r->message = message;
    static const std::regex kStatus(R"(status:? (\d{3})\b)", std::regex::icase);
    std::smatch m;
    r->api_status = std::regex_search(message, m, kStatus) ? std::stoi(m[1].str()) : 0;
    r->end = ClassifyApiError(r->api_status, message);
    if (type == "turn.failed") r->transcript.push_back("error: " + OneLine(message));
  }
}

}  // namespace

bool IsStructuredPreset(const std::string& preset) { return preset == "claude" || preset == "codex"; }

AgentEnd ClassifyApiError(int status, const std::string& message) {
  const std::string m = Lower(message);
  // Quota and billing first: OpenAI answers them with 429 too, and waiting does not help.
  if (status == 402 || Has(m, {"insufficient_quota", "quota exceeded", "exceeded your current quota", "billing",
                               "credit balance"})) {
    return AgentEnd::kQuotaExhausted;
  }
  if (status == 401 || status == 403 ||
      Has(m, {"invalid api key", "incorrect api key", "invalid x-api-key", "not logged in", "please run /login",
              "authentication", "unauthorized", "forbidden", "oauth token"})) {
    return AgentEnd::kAuthFailed;
  }
  if (status == 429 || HasStatusCode(m, "429") ||
      Has(m, {"too many requests", "rate limit", "rate_limit", "usage limit"})) {
    return AgentEnd::kRateLimited;
  }
  if (status >= 500 || Has(m, {"overloaded", "at capacity", "high demand", "service unavailable",
                               "internal server error", "bad gateway", "gateway timeout"})) {
    return AgentEnd::kApiUnavailable;
  }
  return AgentEnd::kError;
}

AgentReport ParseAgentOutput(const std::string& preset, const std::string& output) {
  AgentReport r;
  if (!IsStructuredPreset(preset)) return r;
  bool codex_failed = false;
  std::istringstream in(output);
  std::string line;
  while (std::getline(in, line)) {
    size_t start = line.find_first_not_of(" \t\r");
    if (start == std::string::npos || line[start] != '{') continue;
    json e = json::parse(line.begin() + static_cast<std::ptrdiff_t>(start), line.end(), nullptr, false);
    if (!e.is_object()) continue;
    if (preset == "claude") {
      ClaudeEvent(e, &r);
    } else {
      CodexEvent(e, &r, &codex_failed);
    }
  }
  return r;
}

}  // namespace wavebot::agents
