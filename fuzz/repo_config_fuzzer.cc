// Fuzzes the repository configuration loader: any bytes give a config or an error naming the file.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "config/repo_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto c = wavebot::config::ParseRepoConfig(text, "fuzz.yml");
  if (!c.ok() && c.error().message().find("fuzz.yml") == std::string::npos) std::abort();
  if (c.ok() && (c->max_parallel < 1 || c->max_attempts < 1)) std::abort();
  return 0;
}
