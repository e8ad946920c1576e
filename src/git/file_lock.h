// An exclusive advisory lock on a file (flock), held by the object's lifetime. Works across processes
// and across threads of one process (each FileLock opens its own file description).
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "common/result.h"

namespace wavebot::git {

class FileLock {
 public:
  // Blocks until the lock on `path` (created if missing) is held. kIo when the file cannot be opened.
  static Result<std::unique_ptr<FileLock>> Acquire(const std::string& path);
  // Returns the lock when free now, nullptr when another holder has it, an error on I/O failure.
  static Result<std::unique_ptr<FileLock>> TryAcquire(const std::string& path);
  // Like TryAcquire, but keeps trying for up to `patience`. A lock is held by its open file description,
  // which a child being forked holds too until it execs (O_CLOEXEC closes it only then): a lock just
  // released by a process that forks a lot can stay held for moments after its last fd is closed.
  static Result<std::unique_ptr<FileLock>> TryAcquireFor(const std::string& path, std::chrono::milliseconds patience);
  // The processes that have `path` open, as "pid 123 (wavebot serve)" separated by ", ": who may hold
  // the lock, for an error message. Empty when none is found (or /proc cannot be read).
  static std::string Holders(const std::string& path);
  ~FileLock();
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

 private:
  explicit FileLock(int fd) : fd_(fd) {}
  int fd_;
};

}  // namespace wavebot::git
