// `wavebot doctor`: checks a deployed configuration end to end, one PASS/FAIL line per check, each
// failure with what to do about it. cmd_doctor.cc loads the configuration and fills DoctorInput;
// everything here only reads its input, the file system, the network and PATH.
#pragma once

#include <map>
#include <ostream>
#include <string>

#include "common/result.h"

namespace wavebot {
class Clock;
}

namespace wavebot::github {

struct DoctorInput {
  // Configuration: where it came from (for the PASS line) and why it did not load (empty: it did).
  std::string config_source = "defaults + environment";
  std::string config_error;
  std::string listen = "127.0.0.1:8080";  // host:port of `wavebot serve`
  std::string data_dir;                   // empty: the data directory checks are skipped
  // GitHub
  std::string api_url = "https://api.github.com";
  std::string git_base_url;  // clone URLs: <git_base_url>/<owner>/<name>.git; empty: from api_url
  std::string app_id;
  std::string private_key_file;
  std::string token;  // PAT mode when set
  std::string webhook_secret;
  std::string repo;  // optional "owner/name": installation and git reachability
  // Programs, looked up on `path` (a PATH value; empty: the process's PATH).
  std::string git_program = "git";
  std::string agent_program;  // argv[0] of the agent command; empty: not checked
  std::string agent_source;   // where agent_program came from, for messages
  std::string path;
  bool local_only = false;  // skip everything that talks to GitHub
  Clock* clock = nullptr;   // null: the real clock
};

struct DoctorReport {
  int passed = 0;
  int failed = 0;
};

// Runs every check in order, writing "PASS <check>" or "FAIL <check>: <why>" followed by an indented
// "fix: <hint>" line to `out`. A check whose prerequisite failed is not run (the prerequisite's failure
// says what to fix). Never throws; thread-compatible.
DoctorReport RunDoctor(const DoctorInput& input, std::ostream& out);

// The minimum GitHub App permissions wavebot needs (permission name -> "read" | "write"), derived from
// the REST endpoints src/github/client_impl.cc calls. config/app-manifest.json grants exactly these
// (tests/deploy checks both against each other and against the code).
const std::map<std::string, std::string>& RequiredPermissions();

// GET http://<listen>/healthz (a 0.0.0.0 or :: host is asked on loopback). Returns the HTTP status, or
// kUnavailable when nothing answers within `timeout_ms`; kInvalidArgument for a bad `listen`.
Result<int> ProbeHealthz(const std::string& listen, int timeout_ms = 3000);

// Finds `program` on the colon-separated `path` (a name with a '/' is taken as is). Returns its
// absolute path if it is an executable regular file, else kNotFound.
Result<std::string> FindOnPath(const std::string& program, const std::string& path);

}  // namespace wavebot::github
