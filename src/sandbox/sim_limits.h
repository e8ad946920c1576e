// GitHub's REST rate limits as the simulator enforces them (docs/github.md, "The simulator"): pure
// bookkeeping over the simulator's clock, used under SimulatorImpl::mu_ (not thread-safe itself).
//
// Both are counted per subject, as GitHub counts them: "installation:<id>" for every token of an
// installation (wavebot mints several per installation: its cached token and per-run narrowed ones),
// "user:<login>" for a user's token.
// - The primary limit: `primary_per_hour` requests in an hour-long window opened by the subject's first
//   request; 304 answers are not counted (the caller decides what it counts).
// - The secondary limit on content creation, for installations: at most `content_per_minute`
//   content-generating requests in any sliding minute and `content_per_hour` in any sliding hour.
// - The secondary limit on points: at most `points_per_minute` points of REST requests in any sliding
//   minute, a GET, HEAD or OPTIONS 1 point and any other method 5 ("Calculating points for the
//   secondary rate limit"; GitHub does not say that a 304 costs none, so it costs its point here).
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <string>

namespace wavebot::sandbox::sim {

class RateLimits {
 public:
  using TimePoint = std::chrono::system_clock::time_point;
  struct Options {
    int64_t primary_per_hour = 5000;
    int content_per_minute = 80;  // 0: no minute window
    int content_per_hour = 500;   // 0: no hour window
    int points_per_minute = 900;  // 0: no points limit
  };
  explicit RateLimits(Options options) : opt_(options) {}

  struct PrimaryWindow {
    TimePoint start;
    int64_t used = 0;
  };
  // The subject's primary window at `now` (a new one when the last is an hour old). The caller counts
  // a request with ++used.
  PrimaryWindow& Primary(const std::string& subject, TimePoint now);
  bool PrimaryExhausted(const PrimaryWindow& w) const { return w.used >= opt_.primary_per_hour; }
  int64_t primary_limit() const { return opt_.primary_per_hour; }

  // A content-generating request of `subject` at `now`: 0 when it may go (and it is counted), else the
  // seconds until the windows have room for it (what GitHub's retry-after says), at least 1.
  int64_t TakeContentSlot(const std::string& subject, TimePoint now);
  // A request of `points` of `subject` at `now`: 0 when it may go (and it is counted), else the seconds
  // until the minute has room for it, at least 1.
  int64_t TakePoints(const std::string& subject, TimePoint now, int points);

 private:
  Options opt_;
  std::map<std::string, PrimaryWindow> primary_;
  std::map<std::string, std::deque<TimePoint>> content_;  // within the last hour, oldest first
  struct Points {
    std::deque<std::pair<TimePoint, int>> taken;  // within the last minute, oldest first
    int64_t sum = 0;                              // of `taken`
  };
  std::map<std::string, Points> points_;
};

}  // namespace wavebot::sandbox::sim
