#include "common/clock.h"

#include <algorithm>
#include <thread>

namespace wavebot {
namespace {

class SystemClock final : public Clock {
 public:
  std::chrono::system_clock::time_point Now() const override { return std::chrono::system_clock::now(); }
  void SleepFor(std::chrono::milliseconds d) override { std::this_thread::sleep_for(d); }
  bool SleepFor(std::chrono::milliseconds d, const StopSignal* stop) override {
    if (stop == nullptr) {
      SleepFor(d);
      return true;
    }
    return stop->WaitFor(d);
  }
};

}  // namespace

void StopSignal::Stop() {
  {
    std::lock_guard lock(mu_);
    stopped_.store(true, std::memory_order_release);
  }
  cv_.notify_all();
}

bool StopSignal::WaitFor(std::chrono::milliseconds d) const {
  std::unique_lock lock(mu_);
  return !cv_.wait_for(lock, d, [this] { return stopped(); });
}

bool Clock::SleepFor(std::chrono::milliseconds d, const StopSignal* stop) {
  if (stop != nullptr && stop->stopped()) return false;
  SleepFor(d);
  return stop == nullptr || !stop->stopped();
}

ScaledClock::ScaledClock(double scale)
    : scale_(scale > 0 ? scale : 1), start_(std::chrono::system_clock::now()),
      steady_start_(std::chrono::steady_clock::now()) {}

std::chrono::system_clock::time_point ScaledClock::Now() const {
  const auto real = std::chrono::steady_clock::now() - steady_start_;
  return start_ + std::chrono::duration_cast<std::chrono::system_clock::duration>(real * scale_);
}

std::chrono::milliseconds ScaledClock::Real(std::chrono::milliseconds d) const {
  if (d.count() <= 0) return std::chrono::milliseconds(0);
  return std::chrono::milliseconds(std::max<int64_t>(1, static_cast<int64_t>(static_cast<double>(d.count()) / scale_)));
}

void ScaledClock::SleepFor(std::chrono::milliseconds d) { std::this_thread::sleep_for(Real(d)); }

bool ScaledClock::SleepFor(std::chrono::milliseconds d, const StopSignal* stop) {
  if (stop == nullptr) {
    SleepFor(d);
    return true;
  }
  return stop->WaitFor(Real(d));
}

Clock* RealClock() {
  static SystemClock* clock = new SystemClock();
  return clock;
}

}  // namespace wavebot
