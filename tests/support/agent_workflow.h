// The agent workflow wavebot ships (.github/workflows/wavebot-agent.yml) and the inputs the actions
// executor dispatches it with, for the tests that run it on the simulator. Test-only.
#pragma once

#include <fstream>
#include <iterator>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace wavebot::testing {

inline std::string AgentWorkflow() {
  std::ifstream in(WAVEBOT_SOURCE_DIR "/.github/workflows/wavebot-agent.yml");
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// A dispatch starting the runs `dispatch_id` and `more` (one job each; the first names the run).
inline std::map<std::string, std::string> AgentDispatchInputs(
    const std::string& dispatch_id, std::vector<std::string> more = {},
    const std::string& api_url = "http://127.0.0.1:9",
    const std::string& runs_on = R"(["self-hosted","wavebot"])") {
  more.insert(more.begin(), dispatch_id);
  return {{"dispatch_id", dispatch_id}, {"runs", nlohmann::json(more).dump()},
          {"api_url", api_url},         {"base", "main"},
          {"tickets", "#2 implement"},  {"runs_on", runs_on}};
}

}  // namespace wavebot::testing
