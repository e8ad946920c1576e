// `wavebot doctor`'s GitHub checks: each prints one pass/fail line with what to do about a failure.
#pragma once

#include <ostream>
#include <string>

#include "common/result.h"

namespace wavebot {
class Clock;
}

namespace wavebot::github {

struct DoctorInput {
  std::string api_url = "https://api.github.com";
  std::string app_id;
  std::string private_key_file;
  std::string token;           // PAT mode when set
  std::string webhook_secret;
  std::string repo;            // optional "owner/name": also checks that repository's installation
  Clock* clock = nullptr;
};

struct DoctorReport {
  int passed = 0;
  int failed = 0;
};

// Runs every check in order, writing "PASS ..." / "FAIL ...: why" lines to `out`. A check whose
// prerequisite failed is reported as skipped and counted as failed. Never throws.
DoctorReport RunDoctor(const DoctorInput& input, std::ostream& out);

}  // namespace wavebot::github
