// Where an agent run's log is and how to read it, for the dashboard. Reads files only; thread-safe.
#pragma once

#include <cstdint>
#include <string>

#include "engine/engine_store.h"

namespace wavebot::dashboard {

struct LogDirs {
  // <data_dir>/engine/runner/logs: run-ticket's agent logs, one directory per repository below it
  // (<runner_logs>/<owner>/<name>/, core::RepoPath), so equal ticket numbers of two repositories never
  // share a log.
  std::string runner_logs;
  std::string executor;     // <data_dir>/executor: the local executor's per-run output logs
};

// Whether `path`, symlinks resolved, lies inside `dir`.
bool InsideDir(const std::string& path, const std::string& dir);

// The log file of `attempt` of ticket `number` of repository `repo` ("owner/name"): the recorded path
// once the run has ended (only inside `repo`'s own log directory or the executor's: a result naming any
// other file, another repository's log included, is not believed); while it runs, the newest agent log
// of that ticket and mode in `repo`'s log directory begun since the run started; else the executor's
// output log of the run (named by the attempt's id, unique across repositories). "" when none exists (yet).
std::string FindLogFile(const LogDirs& dirs, const std::string& repo, int64_t number, const engine::AttemptRecord& attempt);

// At most the last `max_bytes` of the file, starting at a line boundary when cut. `*size` (may be null)
// is set to the file's size. "" when the file cannot be read.
std::string ReadLogTail(const std::string& path, int64_t max_bytes, int64_t* size);

// The bytes of `path` from `offset` up to its current end, at most `max_bytes`; "" at the end or when
// the file cannot be read.
std::string ReadLogFrom(const std::string& path, int64_t offset, int64_t max_bytes);

}  // namespace wavebot::dashboard
