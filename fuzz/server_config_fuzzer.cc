// Fuzzes the server configuration loader: the input is the YAML file, optionally followed by a line
// "%%" and KEY=VALUE environment lines. Any input gives a configuration whose values are all in their
// documented ranges, or an error naming the file or the environment variable.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "config/server_config.h"

namespace {

const std::string& ConfigPath() {
  static const std::string* path = [] {
    char dir[] = "/tmp/wavebot-fuzz-config-XXXXXX";
    if (!mkdtemp(dir)) std::abort();
    return new std::string(std::string(dir) + "/wavebot.yaml");
  }();
  return *path;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  std::string_view yaml = in, env_text;
  if (auto sep = in.find("\n%%\n"); sep != std::string_view::npos) {
    yaml = in.substr(0, sep);
    env_text = in.substr(sep + 4);
  }
  std::map<std::string, std::string> env;
  while (!env_text.empty()) {
    auto nl = env_text.find('\n');
    std::string_view line = env_text.substr(0, nl);
    env_text = nl == std::string_view::npos ? std::string_view() : env_text.substr(nl + 1);
    if (auto eq = line.find('='); eq != std::string_view::npos) {
      env[std::string(line.substr(0, eq))] = std::string(line.substr(eq + 1));
    }
  }
  const std::string& path = ConfigPath();
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) std::abort();
  if (!yaml.empty() && std::fwrite(yaml.data(), 1, yaml.size(), f) != yaml.size()) std::abort();
  std::fclose(f);

  std::vector<std::string> warnings;
  auto c = wavebot::config::LoadServerConfig(path, env, &warnings);
  if (!c.ok()) {
    const std::string& m = c.error().message();
    if (m.find(path) == std::string::npos && m.find("environment variable") == std::string::npos &&
        m.find("webhook secret file") == std::string::npos)
      std::abort();
    return 0;
  }
  if (c->dispatch_workers < 1 || c->dispatch_workers > 256) std::abort();
  if (c->handler_max_attempts < 1 || c->handler_max_attempts > 100) std::abort();
  if (c->max_parallel < 1 || c->max_parallel > 1024) std::abort();
  if (c->http_threads < 2 || c->http_threads > 1024) std::abort();
  if (c->max_body_bytes < 1024 || c->max_body_bytes > (int64_t{1} << 30)) std::abort();
  if (c->executor != "local" && c->executor != "actions") std::abort();
  if (c->listen.find(':') == std::string::npos) std::abort();
  for (const auto& w : warnings) {
    if (w.find(path) == std::string::npos) std::abort();
  }
  return 0;
}
