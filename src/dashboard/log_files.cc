#include "dashboard/log_files.h"

#include <filesystem>
#include <fstream>

#include "core/repo_path.h"

namespace wavebot::dashboard {
namespace {
namespace fs = std::filesystem;
}

bool InsideDir(const std::string& path, const std::string& dir) {
  if (path.empty() || dir.empty()) return false;
  std::error_code ec;
  const fs::path p = fs::weakly_canonical(path, ec);  // symlinks resolved: a link out is outside
  if (ec) return false;
  const fs::path d = fs::weakly_canonical(dir, ec);
  if (ec) return false;
  const fs::path rel = p.lexically_relative(d);
  return !rel.empty() && rel.begin()->string() != ".." && rel.string() != ".";
}

std::string FindLogFile(const LogDirs& dirs, const std::string& repo, int64_t number, const engine::AttemptRecord& attempt) {
  std::error_code ec;
  const std::string repo_logs = dirs.runner_logs.empty() ? "" : (fs::path(dirs.runner_logs) / core::RepoPath(repo)).string();
  // The recorded path came from the run's result: served only from wavebot's own log directories, and
  // of the agent logs only this repository's.
  if (!attempt.log_path.empty() && (InsideDir(attempt.log_path, repo_logs) || InsideDir(attempt.log_path, dirs.executor)) &&
      fs::is_regular_file(attempt.log_path, ec)) {
    return attempt.log_path;
  }
  if (attempt.state == "running" && !repo_logs.empty()) {
    // run-ticket names its log ticket-<N>-attempt-<k>-<mode>.log; the run's k is not recorded.
    const std::string prefix = "ticket-" + std::to_string(number) + "-attempt-";
    const std::string suffix = "-" + attempt.mode + ".log";
    const auto since = attempt.started_at - std::chrono::seconds(2);
    std::string best;
    fs::file_time_type best_time{};
    for (const auto& entry : fs::directory_iterator(repo_logs, ec)) {
      const std::string name = entry.path().filename().string();
      if (name.rfind(prefix, 0) != 0 || name.size() < suffix.size() ||
          name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0) {
        continue;
      }
      std::error_code e2;
      auto mtime = entry.last_write_time(e2);
      if (e2) continue;
      auto sys = std::chrono::file_clock::to_sys(mtime);
      if (sys < since) continue;  // an earlier run's log
      if (best.empty() || mtime > best_time) {
        best = entry.path().string();
        best_time = mtime;
      }
    }
    if (!best.empty()) return best;
  }
  if (!dirs.executor.empty()) {
    // The local executor names it after the job id ("attempt-<id>") with every other character than
    // [A-Za-z0-9] made '_' (local_executor.cc).
    fs::path out = fs::path(dirs.executor) / ("attempt_" + std::to_string(attempt.id) + ".out.log");
    if (fs::is_regular_file(out, ec)) return out.string();
  }
  return "";
}

std::string ReadLogTail(const std::string& path, int64_t max_bytes, int64_t* size) {
  if (size) *size = 0;
  if (path.empty()) return "";
  std::ifstream in(path, std::ios::binary);
  if (!in) return "";
  in.seekg(0, std::ios::end);
  const int64_t end = in.tellg();
  if (end < 0) return "";
  const int64_t start = end > max_bytes ? end - max_bytes : 0;
  in.seekg(start);
  std::string text(static_cast<size_t>(end - start), '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<size_t>(in.gcount()));
  if (size) *size = start + static_cast<int64_t>(text.size());
  if (start > 0) {
    auto nl = text.find('\n');
    text = nl == std::string::npos ? "" : text.substr(nl + 1);
  }
  return text;
}

std::string ReadLogFrom(const std::string& path, int64_t offset, int64_t max_bytes) {
  if (path.empty()) return "";
  std::ifstream in(path, std::ios::binary);
  if (!in) return "";
  in.seekg(0, std::ios::end);
  const int64_t end = in.tellg();
  if (end <= offset) return "";
  in.seekg(offset);
  std::string text(static_cast<size_t>(std::min(end - offset, max_bytes)), '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<size_t>(in.gcount()));
  return text;
}

}  // namespace wavebot::dashboard
