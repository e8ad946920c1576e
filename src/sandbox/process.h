// Runs a child process and captures its output (the simulator's git plumbing and its CI).
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "common/result.h"

namespace wavebot::sandbox {

struct ProcessResult {
  int exit_code = -1;      // -1 when killed by a signal or timed out
  bool timed_out = false;
  std::string output;      // stdout and stderr interleaved
};

struct ProcessOptions {
  std::string cwd;                          // empty: inherit
  std::map<std::string, std::string> env;   // added to (overriding) the parent's environment
  std::string stdin_data;
  std::chrono::milliseconds timeout{std::chrono::minutes(10)};  // then the process group is killed
};

// Runs argv[0] (looked up on PATH) in its own process group. kIo when it cannot be started.
// Thread-safe.
Result<ProcessResult> RunProcess(const std::vector<std::string>& argv, const ProcessOptions& options = {});

}  // namespace wavebot::sandbox
