// The one registration table of the webhook pipeline: (event, action) -> handler.
//
// The engine plugs in here: Router::Register("issue_comment", "created", fn). A handler returns an
// error (or throws) to have the delivery retried with backoff; after the configured number of failed
// attempts the delivery is parked as dead. Handlers run on dispatcher threads, at most one delivery of
// a repository at a time, so they must be thread-safe across repositories.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"
#include "webhook/events.h"

namespace wavebot::webhook {

using Handler = std::function<Status(const Event&)>;

inline constexpr std::string_view kAnyAction = "*";

class Router {
 public:
  // Registers `handler` for `event` and `action` (kAnyAction matches every action, including none).
  // A later registration for the same pair replaces the earlier. Not thread-safe: register everything
  // before the dispatcher starts.
  void Register(std::string event, std::string action, Handler handler);
  // The handler for (event, action): an exact action match first, then kAnyAction; nullptr if none.
  const Handler* Find(std::string_view event, std::string_view action) const;
  // Registered (event, action) pairs, sorted.
  std::vector<std::pair<std::string, std::string>> Routes() const;

 private:
  std::map<std::pair<std::string, std::string>, Handler, std::less<>> table_;
};

}  // namespace wavebot::webhook
