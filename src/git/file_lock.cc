#include "git/file_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

namespace wavebot::git {
namespace {

Result<std::unique_ptr<FileLock>> Lock(const std::string& path, bool wait, int* fd_out) {
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
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

Result<std::unique_ptr<FileLock>> FileLock::TryAcquireFor(const std::string& path, std::chrono::milliseconds patience) {
  const auto deadline = std::chrono::steady_clock::now() + patience;
  while (true) {
    auto lock = TryAcquire(path);
    if (!lock.ok() || *lock || std::chrono::steady_clock::now() >= deadline) return lock;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

std::string FileLock::Holders(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path target = fs::weakly_canonical(path, ec);
  std::string out;
  for (const auto& proc : fs::directory_iterator("/proc", ec)) {
    const std::string pid = proc.path().filename().string();
    if (pid.empty() || pid.find_first_not_of("0123456789") != std::string::npos) continue;
    std::error_code e2;
    for (const auto& fd : fs::directory_iterator(proc.path() / "fd", e2)) {
      std::error_code e3;
      if (fs::read_symlink(fd.path(), e3) != target || e3) continue;
      std::string cmdline;
      std::getline(std::ifstream(proc.path() / "cmdline"), cmdline);
      for (char& c : cmdline) c = c == '\0' ? ' ' : c;
      while (!cmdline.empty() && cmdline.back() == ' ') cmdline.pop_back();
      out += (out.empty() ? "" : ", ") + ("pid " + pid) + (cmdline.empty() ? "" : " (" + cmdline.substr(0, 80) + ")");
      break;
    }
  }
  return out;
}

FileLock::~FileLock() {
  if (fd_ >= 0) ::close(fd_);
}

}  // namespace wavebot::git
