// The per-installation write budget (docs/github.md, "The write budget"): GitHub's secondary limits
// allow an installation at most 80 content-generating requests a minute and 500 an hour; wavebot keeps
// under them by design instead of spending writes on 403s. Pure bookkeeping over time points the caller
// passes (no clock, no sleeping): RestClient asks it before every write and does the waiting itself.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace wavebot::github {

// How a write may spend its installation's budget.
enum class WritePriority {
  kUrgent,      // waits for a slot when the budget is spent
  kDeferrable,  // refused at once (ErrorCode::kDeferred) when it would take a slot of the reserve
};

struct WriteBudgetLimits {
  int per_minute = 80;  // 0: no minute window
  int per_hour = 500;   // 0: no hour window
  // The slots of each window a deferrable write may not take: a fifth of the window's limit.
  int MinuteReserve() const { return per_minute / 5; }
  int HourReserve() const { return per_hour / 5; }
};

// What one budget key (a credential: "installation:<id>", "pat") has spent and been held to.
struct WriteBudgetUsage {
  std::string key;
  int64_t in_last_minute = 0;  // slots taken in the last minute (reservations not yet due included)
  int64_t in_last_hour = 0;
  int64_t waits = 0;           // writes that had to wait for a slot
  int64_t waited_ms = 0;       // how long they waited, in all
  int64_t deferred = 0;        // deferrable writes refused to keep the reserve
};

// Sliding windows: a slot taken at t counts until t + 1 minute (t + 1 hour). A sliding window is at least
// as strict as any fixed window GitHub may use: no minute, however aligned, holds more than the limit.
// Not thread-safe: the caller holds its own lock.
class WriteBudget {
 public:
  explicit WriteBudget(WriteBudgetLimits limits) : limits_(limits) {}

  struct Grant {
    bool deferred = false;  // kDeferrable only: refused, nothing taken
    // When the write may be sent (>= now); its slot is taken at that time already, so writes asked for
    // later queue behind it in order.
    std::chrono::system_clock::time_point at;
    bool waits = false;  // at > now
  };
  // Takes a slot for one write of `key` at `now`, or refuses a deferrable one.
  Grant Take(const std::string& key, std::chrono::system_clock::time_point now, WritePriority priority);
  // Gives back a slot that Take granted at `taken_at` for `at` whose write was never sent (the wait was
  // cancelled, or ended past the call's deadline); its wait is not counted either.
  void Release(const std::string& key, std::chrono::system_clock::time_point at,
               std::chrono::system_clock::time_point taken_at);

  const WriteBudgetLimits& limits() const { return limits_; }
  bool enabled() const { return limits_.per_minute > 0 || limits_.per_hour > 0; }
  // The write of the slot granted for `at` has its answer at `done`: the slot counts from then on. GitHub
  // counted the write when it arrived, somewhere between sending and answering; counting it from the
  // answer keeps the windows from closing here before they close there.
  void Settle(const std::string& key, std::chrono::system_clock::time_point at,
              std::chrono::system_clock::time_point done);
  // Every key that has taken or been refused a slot, in key order.
  std::vector<WriteBudgetUsage> Usage(std::chrono::system_clock::time_point now) const;

 private:
  struct Key {
    std::multiset<std::chrono::system_clock::time_point> slots;  // taken within the last hour, and future
    int64_t waits = 0;
    int64_t waited_ms = 0;
    int64_t deferred = 0;
  };
  static int64_t CountSince(const Key& k, std::chrono::system_clock::time_point since);

  WriteBudgetLimits limits_;
  std::map<std::string, Key> keys_;
};

}  // namespace wavebot::github
