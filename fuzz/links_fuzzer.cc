// Fuzzes the dependency-link parser: any bytes must parse without crashing, and every reference found
// must be well-formed.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "core/links.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto links = wavebot::core::ParseLinks(text);
  for (const auto* refs : {&links.depends_on, &links.task_list}) {
    for (const auto& ref : *refs) {
      if (ref.number <= 0) std::abort();
      if (!ref.repo.empty() && ref.repo.find('/') == std::string::npos) std::abort();
    }
  }
  return 0;
}
