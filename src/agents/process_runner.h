// Child processes behind a small interface (after Prow's git executor): Run(spec) -> Result<Output>.
// The real runner starts the command in a new process group, captures stdout and stderr into a
// size-capped log with credentials censored, and kills the whole group (grandchildren too) on timeout
// or cancellation. Tests drive timeouts with a FakeClock.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/result.h"

namespace wavebot::agents {

struct ProcessSpec {
  std::vector<std::string> args;            // argv; args[0] is looked up on PATH
  std::map<std::string, std::string> env;   // the child's whole environment (nothing is inherited)
  std::string cwd;                          // empty: the caller's
  std::string stdin_path;                   // empty: /dev/null (or stdin_text)
  // When set and stdin_path is empty: the child's stdin is a pipe holding this text, then end of file.
  // How a secret is handed over without an environment or a file (/proc/<pid>/environ, the disk).
  // At most 64 KiB (one pipe buffer).
  std::string stdin_text;
  std::chrono::milliseconds timeout{0};     // 0: none; measured on the runner's clock
  std::chrono::milliseconds kill_grace{2000};  // SIGTERM to the group, then SIGKILL after this (real time)
  std::string log_path;                     // empty: output is not written to a file
  int64_t max_log_bytes = 8 * 1024 * 1024;  // the log file stops growing here (a marker line says so)
  std::vector<std::string> secrets;         // censored in the log and the captured text, beside log::Redact
  const std::atomic<bool>* cancel = nullptr;  // when it becomes true, the group is killed
  // RLIMIT_FSIZE of the child (inherited by its descendants), set right after the spawn; 0 = unchanged.
  int64_t max_file_bytes = 0;
};

struct ProcessOutput {
  int exit_code = -1;      // the exit status, or -1 when killed by a signal
  int term_signal = 0;     // the signal that ended it, 0 when it exited
  bool timed_out = false;  // killed because the timeout passed
  bool cancelled = false;  // killed because cancel became true
  int pid = 0;             // the child's pid (= its process group id)
  int64_t output_bytes = 0;    // bytes the child wrote (before capping)
  bool log_truncated = false;
  std::string head;        // the first 64 KiB of output, censored
  std::string tail;        // the last 64 KiB of output, censored
  std::chrono::milliseconds duration{0};
};

class ProcessRunner {
 public:
  virtual ~ProcessRunner() = default;
  // Runs the command to completion (or timeout/cancel). Errors: kNotFound when the program cannot be
  // executed, kIo for pipe/log failures. A non-zero exit is not an error. Thread-safe.
  virtual Result<ProcessOutput> Run(const ProcessSpec& spec) = 0;
};

// The fork/exec runner. `clock` (not owned, never null) measures timeouts.
std::unique_ptr<ProcessRunner> NewProcessRunner(Clock* clock);

// The first executable file `name` on `path_env` (or `name` itself when it holds a slash); "" if none.
std::string FindProgram(const std::string& name, const std::string& path_env);

}  // namespace wavebot::agents
