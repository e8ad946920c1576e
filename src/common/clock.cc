#include "common/clock.h"

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

Clock* RealClock() {
  static SystemClock* clock = new SystemClock();
  return clock;
}

}  // namespace wavebot
