// Runs a child process and captures its output (the simulator's git plumbing and its CI).
#pragma once

#include <sys/types.h>

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

// Starts argv[0] (looked up on PATH) with `envp` as its environment, stdin, stdout and stderr from
// `stdio`, SIGPIPE at its default; in its own process group when `own_group`, in `cwd` when not empty.
// With posix_spawn, not fork: the simulator runs inside large, threaded processes (the sandbox, the
// benches), and fork copied their page tables for every git command. Returns 0 or the errno of the
// failed start.
int SpawnChild(char* const argv[], char* const envp[], const int stdio[3], const std::string& cwd,
               bool own_group, pid_t* pid);

// Runs argv[0] (looked up on PATH) in its own process group. kIo when it cannot be started.
// Thread-safe.
Result<ProcessResult> RunProcess(const std::vector<std::string>& argv, const ProcessOptions& options = {});

}  // namespace wavebot::sandbox
