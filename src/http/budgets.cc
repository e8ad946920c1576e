#include "http/budgets.h"

#include <arpa/inet.h>

#include <cstring>

namespace wavebot::http {

std::string AddressLimiter::KeyOf(const std::string& address) {
  in6_addr a6{};
  if (address.find(':') == std::string::npos || inet_pton(AF_INET6, address.c_str(), &a6) != 1) return address;
  if (IN6_IS_ADDR_V4MAPPED(&a6)) return address;
  char buf[INET6_ADDRSTRLEN] = {0};
  std::memset(a6.s6_addr + 8, 0, 8);
  inet_ntop(AF_INET6, &a6, buf, sizeof(buf));
  return std::string(buf) + "/64";
}

bool AddressLimiter::TryAcquire(const std::string& address) {
  const std::string key = KeyOf(address);
  std::lock_guard lock(mu_);
  int& n = held_[key];
  if (max_ > 0 && n >= max_) {
    if (n == 0) held_.erase(key);
    return false;
  }
  ++n;
  return true;
}

void AddressLimiter::Release(const std::string& address) {
  const std::string key = KeyOf(address);
  std::lock_guard lock(mu_);
  auto it = held_.find(key);
  if (it == held_.end()) return;
  if (--it->second <= 0) held_.erase(it);
}

int AddressLimiter::Held(const std::string& address) const {
  std::lock_guard lock(mu_);
  auto it = held_.find(KeyOf(address));
  return it == held_.end() ? 0 : it->second;
}

bool ByteBudget::TryReserve(int64_t n) {
  std::lock_guard lock(mu_);
  if (capacity_ > 0 && in_use_ + n > capacity_) return false;
  in_use_ += n;
  return true;
}

void ByteBudget::Release(int64_t n) {
  std::lock_guard lock(mu_);
  in_use_ -= n;
}

int64_t ByteBudget::in_use() const {
  std::lock_guard lock(mu_);
  return in_use_;
}

}  // namespace wavebot::http
