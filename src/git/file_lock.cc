#include "git/file_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace wavebot::git {
namespace {

Result<std::unique_ptr<FileLock>> Lock(const std::string& path, bool wait, int* fd_out) {
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return Error(ErrorCode::kIo, "open lock " + path + ": " + std::strerror(errno));
  int rc;
  while ((rc = ::flock(fd, LOCK_EX | (wait ? 0 : LOCK_NB))) != 0 && errno == EINTR) {
  }
  if (rc != 0) {
    int err = errno;
    ::close(fd);
    if (err == EWOULDBLOCK) return std::unique_ptr<FileLock>();
    return Error(ErrorCode::kIo, "flock " + path + ": " + std::strerror(err));
  }
  *fd_out = fd;
  return std::unique_ptr<FileLock>();
}

}  // namespace

Result<std::unique_ptr<FileLock>> FileLock::Acquire(const std::string& path) {
  int fd = -1;
  auto r = Lock(path, true, &fd);
  if (!r.ok()) return r.error();
  return std::unique_ptr<FileLock>(new FileLock(fd));
}

Result<std::unique_ptr<FileLock>> FileLock::TryAcquire(const std::string& path) {
  int fd = -1;
  auto r = Lock(path, false, &fd);
  if (!r.ok()) return r.error();
  if (fd < 0) return std::unique_ptr<FileLock>();
  return std::unique_ptr<FileLock>(new FileLock(fd));
}

FileLock::~FileLock() {
  if (fd_ >= 0) ::close(fd_);
}

}  // namespace wavebot::git
