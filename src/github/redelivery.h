// Recovers webhooks GitHub failed to deliver. GitHub does not retry a failed delivery, so `wavebot serve`
// runs this periodically: list the App's deliveries of the last three days and ask GitHub to redeliver
// each one (by X-GitHub-Delivery guid) that has no successful attempt. A guid still failing is asked for
// again after a backoff (1, 2, 4, 8 minutes by default), up to a bound, then given up with a warning.
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
  int already_asked = 0;  // failed guids asked for, whose backoff has not passed yet
  int given_up = 0;       // failed guids asked for `max_asks` times
};

struct RedeliveryOptions {
  std::chrono::hours window{72};                  // GitHub keeps deliveries this long
  std::chrono::seconds first_backoff{60};         // before asking a second time; doubles each time
  int max_asks = 5;                               // then the guid is given up
};

// Thread-safe; one instance per process keeps the dedupe memory.
class Redeliverer {
 public:
  // `api` and `clock` are not owned and must outlive this.
  Redeliverer(AppApi* api, Clock* clock, RedeliveryOptions options = {});

  // One pass. Errors listing deliveries are returned; a failed redelivery request is logged and retried
  // on the next pass (its guid is not remembered).
  Result<RedeliveryStats> RunOnce();

 private:
  AppApi* api_;
  Clock* clock_;
  struct Asked {
    int times = 0;
    std::chrono::system_clock::time_point first, next;  // first ask; earliest next ask
  };
  RedeliveryOptions options_;
  std::mutex mu_;
  std::map<std::string, Asked> asked_;  // guarded by mu_; by guid
};

}  // namespace wavebot::github
