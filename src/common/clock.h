// Time as an injectable dependency, so that timeouts, token expiry, backoff and rate-limit waits are
// tested by advancing a fake clock instead of sleeping.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>

namespace wavebot {

// A one-way "the process is stopping" flag that wakes whoever waits on it: `wavebot serve` stops it on
// SIGTERM so that every wait (retry backoffs, Retry-After pauses, transfers in flight) ends at once.
// Thread-safe; never reset.
class StopSignal {
 public:
  void Stop();
  bool stopped() const { return stopped_.load(std::memory_order_acquire); }
  // Waits up to `d` of real time; returns false when stopped first (or already), true otherwise.
  bool WaitFor(std::chrono::milliseconds d) const;

 private:
  std::atomic<bool> stopped_{false};
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
};

class Clock {
 public:
  virtual ~Clock() = default;
  // Wall-clock time (used for token expiry, timestamps). Thread-safe.
  virtual std::chrono::system_clock::time_point Now() const = 0;
  // Blocks the caller for `d` of this clock's time. A fake clock advances instead. Thread-safe.
  virtual void SleepFor(std::chrono::milliseconds d) = 0;
  // Like SleepFor, but returns false at once (without waiting the rest) when `stop` is or becomes
  // stopped; true when the whole of `d` passed. A null `stop` is SleepFor. Thread-safe.
  virtual bool SleepFor(std::chrono::milliseconds d, const StopSignal* stop);
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
  bool SleepFor(std::chrono::milliseconds d, const StopSignal* stop) override {
    if (stop != nullptr && stop->stopped()) return false;
    SleepFor(d);
    return true;
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

// Real time run faster by `scale`: Now() starts at the real time of construction and advances `scale`
// times as fast; SleepFor(d) sleeps d / scale of real time. For benchmarks that measure something per
// hour of simulated time (GitHub's rate-limit windows, Retry-After waits) in minutes of real time: the
// simulator and wavebot's GitHub client share one such clock. Thread-safe.
class ScaledClock final : public Clock {
 public:
  explicit ScaledClock(double scale);
  std::chrono::system_clock::time_point Now() const override;
  void SleepFor(std::chrono::milliseconds d) override;
  bool SleepFor(std::chrono::milliseconds d, const StopSignal* stop) override;
  double scale() const { return scale_; }
  // Real time that `d` of this clock's time takes (at least 1 ms for a positive `d`).
  std::chrono::milliseconds Real(std::chrono::milliseconds d) const;

 private:
  const double scale_;
  const std::chrono::system_clock::time_point start_;
  const std::chrono::steady_clock::time_point steady_start_;
};

}  // namespace wavebot
