#include "common/log.h"

#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <deque>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <vector>

namespace wavebot::log {
namespace {

std::shared_mutex secrets_mu;
// Guarded by secrets_mu; leaked (loggers may run during static destruction).
std::vector<std::string>* secrets = new std::vector<std::string>();       // AddSecret's: never dropped
std::deque<std::string>* short_lived = new std::deque<std::string>();     // oldest first, bounded

// Trims the whitespace a secret read from a file often ends with; "" when too short to redact.
std::string_view Trimmed(std::string_view s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.remove_suffix(1);
  while (!s.empty() && (s.front() == '\n' || s.front() == ' ')) s.remove_prefix(1);
  return s.size() < 4 ? std::string_view() : s;
}

void AppendJsonString(std::string* out, std::string_view s) {
  out->push_back('"');
  for (unsigned char c : s) {
    switch (c) {
      case '"': out->append("\\\""); break;
      case '\\': out->append("\\\\"); break;
      case '\n': out->append("\\n"); break;
      case '\r': out->append("\\r"); break;
      case '\t': out->append("\\t"); break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", c);
          out->append(buf);
        } else {
          out->push_back(static_cast<char>(c));
        }
    }
  }
  out->push_back('"');
}

std::string Timestamp(spdlog::log_clock::time_point tp) {
  auto secs = std::chrono::time_point_cast<std::chrono::seconds>(tp);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(tp - secs).count();
  std::time_t t = spdlog::log_clock::to_time_t(tp);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[96];
  std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  return buf;
}

class RedactingSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  explicit RedactingSink(Format format) : format_(format) {}

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    std::string text = Redact(std::string_view(msg.payload.data(), msg.payload.size()));
    std::string ts = Timestamp(msg.time);
    auto level = spdlog::level::to_string_view(msg.level);
    std::string line;
    if (format_ == Format::kJson) {
      line = FormatJsonLine(ts, std::string_view(level.data(), level.size()),
                            std::string_view(msg.logger_name.data(), msg.logger_name.size()), text);
    } else {
      line = ts + " " + std::string(level.data(), level.size()) + " " + text;
    }
    line.push_back('\n');
    std::fwrite(line.data(), 1, line.size(), stderr);
  }
  void flush_() override { std::fflush(stderr); }

 private:
  Format format_;
};

}  // namespace

Result<Format> ParseFormat(std::string_view name) {
  if (name == "text") return Format::kText;
  if (name == "json") return Format::kJson;
  return Error(ErrorCode::kInvalidArgument,
               "unknown log format '" + std::string(name) + "' (expected text or json)");
}

Status Init(Format format, std::string_view level) {
  auto lvl = spdlog::level::from_str(std::string(level));
  if (lvl == spdlog::level::off && level != "off") {
    return Error(ErrorCode::kInvalidArgument,
                 "unknown log level '" + std::string(level) +
                     "' (expected trace, debug, info, warn, error, critical or off)");
  }
  auto logger = std::make_shared<spdlog::logger>("wavebot", std::make_shared<RedactingSink>(format));
  logger->set_level(lvl);
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
  return OkStatus();
}

void AddSecret(std::string_view secret) {
  std::unique_lock lock(secrets_mu);
  auto add = [](std::string_view s) {
    s = Trimmed(s);
    if (s.empty()) return;
    for (const auto& existing : *secrets) {
      if (existing == s) return;
    }
    secrets->emplace_back(s);
  };
  add(secret);
  if (secret.find("-----BEGIN") != std::string_view::npos) {
    size_t start = 0;
    while (start < secret.size()) {
      size_t end = secret.find('\n', start);
      if (end == std::string_view::npos) end = secret.size();
      std::string_view line = secret.substr(start, end - start);
      if (line.find("-----") == std::string_view::npos && line.size() >= 16) add(line);
      start = end + 1;
    }
  }
}

void AddShortLivedSecret(std::string_view secret) {
  std::string_view s = Trimmed(secret);
  if (s.empty()) return;
  std::unique_lock lock(secrets_mu);
  for (const auto& existing : *secrets) {
    if (existing == s) return;  // already kept for good
  }
  for (auto it = short_lived->begin(); it != short_lived->end(); ++it) {
    if (*it == s) {
      short_lived->erase(it);
      break;
    }
  }
  short_lived->emplace_back(s);
  while (short_lived->size() > kMaxShortLivedSecrets) short_lived->pop_front();
}

size_t SecretCount() {
  std::shared_lock lock(secrets_mu);
  return secrets->size() + short_lived->size();
}

namespace {

bool IsTokenChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

// Replaces credentials of known formats, registered or not: GitHub tokens (installation `ghs_`,
// personal `ghp_` and `github_pat_`, OAuth `gho_`, user-to-server `ghu_`, refresh `ghr_`) and model API
// keys (Anthropic `sk-ant-`, OpenAI `sk-`), each followed by at least 20 token characters, where the
// prefix starts a word. A scan, not a regex: this runs on every log line.
void RedactKnownFormats(std::string* text) {
  static const char* const kPrefixes[] = {"github_pat_", "ghs_", "ghp_", "gho_", "ghu_", "ghr_", "sk-"};
  std::string& s = *text;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != 'g' && s[i] != 's') continue;
    if (i > 0 && IsTokenChar(s[i - 1])) continue;
    for (const char* prefix : kPrefixes) {
      const size_t n = std::char_traits<char>::length(prefix);
      if (s.compare(i, n, prefix) != 0) continue;
      size_t end = i + n;
      while (end < s.size() && IsTokenChar(s[end])) ++end;
      if (end - i - n < 20) break;
      s.replace(i, end - i, "[REDACTED]");
      i += 9;
      break;
    }
  }
}

}  // namespace

std::string Redact(std::string_view text) {
  std::string out(text);
  RedactKnownFormats(&out);
  std::shared_lock lock(secrets_mu);
  auto replace = [&out](const std::string& s) {
    size_t pos = 0;
    while ((pos = out.find(s, pos)) != std::string::npos) {
      out.replace(pos, s.size(), "[REDACTED]");
      pos += 10;
    }
  };
  for (const auto& s : *secrets) replace(s);
  for (const auto& s : *short_lived) replace(s);
  return out;
}

std::string FormatJsonLine(std::string_view timestamp, std::string_view level, std::string_view logger,
                           std::string_view message) {
  std::string line = "{\"ts\":";
  AppendJsonString(&line, timestamp);
  line.append(",\"level\":");
  AppendJsonString(&line, level);
  line.append(",\"logger\":");
  AppendJsonString(&line, logger);
  line.append(",\"msg\":");
  AppendJsonString(&line, message);
  line.push_back('}');
  return line;
}

}  // namespace wavebot::log
