// Recovers webhooks GitHub failed to deliver. GitHub does not retry a failed delivery, so `wavebot serve`
// runs this periodically: list the App's deliveries of the last three days and ask GitHub to redeliver
// each one (by X-GitHub-Delivery guid) that has no successful attempt, once.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

#include "common/result.h"
#include "github/client.h"

namespace wavebot {
class Clock;
}

namespace wavebot::github {

struct RedeliveryStats {
  int listed = 0;         // deliveries seen in the window
  int failed = 0;         // guids with no successful attempt
  int redelivered = 0;    // redeliveries requested by this pass
  int already_asked = 0;  // failed guids this Redeliverer already asked for
};

// Thread-safe; one instance per process keeps the dedupe memory.
class Redeliverer {
 public:
  // `api` and `clock` are not owned and must outlive this.
  Redeliverer(AppApi* api, Clock* clock, std::chrono::hours window = std::chrono::hours(72));

  // One pass. Errors listing deliveries are returned; a failed redelivery request is logged and retried
  // on the next pass (its guid is not remembered).
  Result<RedeliveryStats> RunOnce();

 private:
  AppApi* api_;
  Clock* clock_;
  std::chrono::hours window_;
  std::mutex mu_;
  std::map<std::string, std::chrono::system_clock::time_point> asked_;  // guarded by mu_; guid -> when
};

}  // namespace wavebot::github
