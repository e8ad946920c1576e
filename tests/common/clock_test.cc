// ScaledClock: simulated time for benchmarks of GitHub's per-hour limits.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "common/clock.h"

namespace wavebot {
namespace {

using namespace std::chrono_literals;

TEST(ScaledClockTest, SleepingTakesAFractionOfTheRealTimeAndTheClockMovesAsFarAsAsked) {
  ScaledClock clock(1000);
  const auto before = clock.Now();
  const auto real_before = std::chrono::steady_clock::now();
  clock.SleepFor(std::chrono::milliseconds(20s));  // 20 ms of real time
  const auto real = std::chrono::steady_clock::now() - real_before;
  EXPECT_GE(clock.Now() - before, 20s);
  EXPECT_LT(real, 10s) << "slept the unscaled time";
  EXPECT_EQ(clock.Real(std::chrono::milliseconds(60s)), 60ms);
  EXPECT_EQ(clock.Real(std::chrono::milliseconds(1)), 1ms) << "a positive wait never rounds to none";
}

TEST(ScaledClockTest, AStopEndsTheWait) {
  ScaledClock clock(1);
  StopSignal stop;
  std::thread stopper([&] { stop.Stop(); });
  EXPECT_FALSE(clock.SleepFor(std::chrono::milliseconds(1h), &stop));
  stopper.join();
}

TEST(ScaledClockTest, ANonPositiveScaleIsRealTime) {
  ScaledClock clock(0);
  EXPECT_EQ(clock.scale(), 1);
}

}  // namespace
}  // namespace wavebot
