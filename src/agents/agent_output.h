// What a coding agent CLI says about its own run, read from its structured output rather than by
// grepping its log: Claude Code's `--output-format stream-json` events and Codex CLI's `exec --json`
// events (one JSON object per line; other lines, e.g. warnings on stderr, are skipped). Pure functions,
// thread-safe. The figures are the CLI's own report (cost is its list-price estimate), recorded as such.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace wavebot::agents {

// How the agent's run ended, as far as its own report tells.
enum class AgentEnd {
  kUnknown,          // no final event (the CLI crashed, was killed, or is not a structured preset)
  kSuccess,          // it finished its turn without error
  kError,            // an error that is none of the below (reason holds the CLI's message)
  kMaxTurns,         // Claude: subtype error_max_turns
  kBudgetExhausted,  // Claude: subtype error_max_budget_usd
  kRateLimited,      // the model API answered 429 (not a quota/billing 429)
  kApiUnavailable,   // 529 overloaded, 503 at capacity, other 5xx
  kAuthFailed,       // 401/403, invalid or missing key, not logged in
  kQuotaExhausted,   // quota or billing: credit balance too low, insufficient_quota
};

struct AgentReport {
  AgentEnd end = AgentEnd::kUnknown;
  std::string message;         // the CLI's final result or error text ("" when none)
  int api_status = 0;          // HTTP status of the model API error, when the CLI names one
  double cost_usd = 0;         // Claude's total_cost_usd; 0 with cost_reported=false for Codex
  bool cost_reported = false;
  int turns = 0;               // Claude's num_turns; Codex: model responses that ran a tool or answered
  int64_t input_tokens = 0;    // including cached input
  int64_t output_tokens = 0;
  std::vector<std::string> transcript;  // human-readable lines: the agent's messages and commands
};

// Parses `output` (the agent's interleaved stdout and stderr) for `preset` ("claude" or "codex";
// anything else yields an empty report with end kUnknown). Lines that are not JSON objects are ignored.
AgentReport ParseAgentOutput(const std::string& preset, const std::string& output);

// Classifies a model-API error message of either CLI by its HTTP status (0 when unknown) and wording.
// Returns kError when it is none of the specific classes.
AgentEnd ClassifyApiError(int status, const std::string& message);

// True for presets whose output ParseAgentOutput understands.
bool IsStructuredPreset(const std::string& preset);

}  // namespace wavebot::agents
