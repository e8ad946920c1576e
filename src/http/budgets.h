// The shared budgets of one HTTP listener, kept apart from the socket code so that they can be tested
// alone: how many connections one client address may hold, and how many request-body bytes may be held
// in memory at once across every connection. Both are thread-safe.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

namespace wavebot::http {

// Connections per client address. An IPv6 address counts by its /64 (one subscriber's usual share),
// an IPv4 address (or an IPv4-mapped IPv6 one) by itself.
class AddressLimiter {
 public:
  // `max_per_address` <= 0: unlimited.
  explicit AddressLimiter(int max_per_address) : max_(max_per_address) {}
  // Takes a slot for `address` (numeric, as getpeername gives it): true when one was free. Every true
  // must be matched by one Release(address).
  bool TryAcquire(const std::string& address);
  void Release(const std::string& address);
  // Connections held by `address` now (for tests).
  int Held(const std::string& address) const;

  // The key `address` is counted under: itself, or "<first four groups>::/64" for IPv6.
  static std::string KeyOf(const std::string& address);

 private:
  const int max_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, int> held_;  // guarded by mu_; no zero entries
};

// Bytes of request bodies in memory. A request reserves what it will buffer before reading it.
class ByteBudget {
 public:
  // `capacity` <= 0: unlimited.
  explicit ByteBudget(int64_t capacity) : capacity_(capacity) {}
  // Reserves `n` bytes: false (and nothing reserved) when that would exceed the capacity.
  bool TryReserve(int64_t n);
  void Release(int64_t n);
  int64_t in_use() const;
  int64_t capacity() const { return capacity_; }

 private:
  const int64_t capacity_;
  mutable std::mutex mu_;
  int64_t in_use_ = 0;  // guarded by mu_
};

// A reservation that gives its bytes back when it goes out of scope.
class Reservation {
 public:
  explicit Reservation(ByteBudget* budget) : budget_(budget) {}
  ~Reservation() { budget_->Release(bytes_); }
  Reservation(const Reservation&) = delete;
  Reservation& operator=(const Reservation&) = delete;
  // Reserves `n` more bytes; false when the budget cannot give them (the earlier ones stay held).
  bool Grow(int64_t n) {
    if (!budget_->TryReserve(n)) return false;
    bytes_ += n;
    return true;
  }
  int64_t bytes() const { return bytes_; }

 private:
  ByteBudget* budget_;
  int64_t bytes_ = 0;
};

}  // namespace wavebot::http
