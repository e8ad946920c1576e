// Runs a command for CLI tests and captures its output. Test-only helper.
#pragma once

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <string>

namespace wavebot::testing {

struct CommandResult {
  int exit_code = -1;
  std::string out;  // stdout and stderr together unless the command redirects
};

// Runs `command` through /bin/sh and returns its exit code and output. Blocks until it exits.
inline CommandResult RunShell(const std::string& command) {
  CommandResult r;
  FILE* p = ::popen(command.c_str(), "r");
  if (!p) return r;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
  int status = ::pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

}  // namespace wavebot::testing
