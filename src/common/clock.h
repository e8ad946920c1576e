// Time as an injectable dependency, so that timeouts, token expiry, backoff and rate-limit waits are
// tested by advancing a fake clock instead of sleeping.
#pragma once

#include <chrono>
#include <mutex>

namespace wavebot {

class Clock {
 public:
  virtual ~Clock() = default;
  // Wall-clock time (used for token expiry, timestamps). Thread-safe.
  virtual std::chrono::system_clock::time_point Now() const = 0;
  // Blocks the caller for `d` of this clock's time. A fake clock advances instead. Thread-safe.
  virtual void SleepFor(std::chrono::milliseconds d) = 0;
};

// The process's real clock. Never null; not owned by the caller.
Clock* RealClock();

// A clock that only moves when told to. SleepFor advances it, so code that waits returns at once
// and a test can assert on how long it would have waited. Thread-safe.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(std::chrono::system_clock::time_point start = std::chrono::system_clock::time_point(
                         std::chrono::seconds(1'800'000'000)))
      : now_(start) {}

  std::chrono::system_clock::time_point Now() const override {
    std::lock_guard lock(mu_);
    return now_;
  }
  void SleepFor(std::chrono::milliseconds d) override {
    std::lock_guard lock(mu_);
    now_ += d;
    slept_ += d;
  }
  void Advance(std::chrono::milliseconds d) {
    std::lock_guard lock(mu_);
    now_ += d;
  }
  // Total time callers have slept on this clock.
  std::chrono::milliseconds slept() const {
    std::lock_guard lock(mu_);
    return slept_;
  }

 private:
  mutable std::mutex mu_;
  std::chrono::system_clock::time_point now_;  // guarded by mu_
  std::chrono::milliseconds slept_{0};         // guarded by mu_
};

}  // namespace wavebot
