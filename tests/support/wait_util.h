// Waiting on a condition with a deadline (never a bare sleep): polls `pred` on a condition variable.
#pragma once

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <string>

namespace wavebot::testing {

// Returns true as soon as pred() holds; false when `timeout` passes first.
inline bool WaitFor(const std::function<bool()>& pred, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  std::mutex mu;
  std::condition_variable cv;
  std::unique_lock lock(mu);
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    cv.wait_for(lock, std::chrono::milliseconds(10));
  }
  return true;
}

// True when no process `pid` is running (it does not exist or is a zombie awaiting its reaper).
inline bool ProcessGone(int pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  if (!stat) return true;
  std::string content;
  try {
    content.assign(std::istreambuf_iterator<char>(stat), std::istreambuf_iterator<char>());
  } catch (const std::exception&) {
    return true;  // it exited while being read (ESRCH)
  }
  auto paren = content.rfind(')');
  return paren == std::string::npos || paren + 2 >= content.size() || content[paren + 2] == 'Z' ||
         content[paren + 2] == 'X';
}

inline std::string ReadAll(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

}  // namespace wavebot::testing
