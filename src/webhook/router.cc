#include "webhook/router.h"

namespace wavebot::webhook {

void Router::Register(std::string event, std::string action, Handler handler) {
  table_[{std::move(event), std::move(action)}] = std::move(handler);
}

const Handler* Router::Find(std::string_view event, std::string_view action) const {
  auto it = table_.find(std::make_pair(std::string(event), std::string(action)));
  if (it == table_.end()) it = table_.find(std::make_pair(std::string(event), std::string(kAnyAction)));
  return it == table_.end() ? nullptr : &it->second;
}

std::vector<std::pair<std::string, std::string>> Router::Routes() const {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& [key, handler] : table_) out.push_back(key);
  return out;
}

}  // namespace wavebot::webhook
