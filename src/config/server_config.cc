#include "config/server_config.h"

#include <sys/stat.h>

#include <fstream>
#include <sstream>

#include "common/log.h"
#include "config/yaml_reader.h"

extern char** environ;

namespace wavebot::config {
namespace {


Result<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error(ErrorCode::kIo, "cannot read " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A secret file is small; reading at most this much keeps a mistaken path (/dev/zero, a log) from
// exhausting memory at start.
constexpr std::streamsize kMaxSecretFileBytes = 64 * 1024;

// Reads a secret from `path` without its trailing newlines.
Result<std::string> ReadSecretFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error(ErrorCode::kIo, "cannot read " + path);
  std::string text(kMaxSecretFileBytes + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  if (in.bad()) return Error(ErrorCode::kIo, "cannot read " + path);
  text.resize(static_cast<size_t>(in.gcount()));
  if (text.size() > static_cast<size_t>(kMaxSecretFileBytes)) {
    return Error(ErrorCode::kInvalidArgument, path + " is larger than 64 KiB: not a secret file");
  }
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  return text;
}

Status ValidateListen(const std::string& listen, const std::string& where) {
  auto colon = listen.rfind(':');
  bool ok = colon != std::string::npos && colon > 0 && colon + 1 < listen.size();
  if (ok) {
    try {
      size_t used = 0;
      int port = std::stoi(listen.substr(colon + 1), &used);
      ok = used == listen.size() - colon - 1 && port >= 0 && port <= 65535;
    } catch (const std::exception&) {
      ok = false;
    }
  }
  if (!ok) return Error(ErrorCode::kInvalidArgument, where + ": '" + listen + "' is not host:port");
  return OkStatus();
}

}  // namespace

std::map<std::string, std::string> ProcessEnvironment() {
  std::map<std::string, std::string> env;
  for (char** e = environ; e && *e; ++e) {
    std::string kv(*e);
    auto eq = kv.find('=');
    if (eq != std::string::npos) env[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  return env;
}

Result<ServerConfig> LoadServerConfig(const std::string& path, const std::map<std::string, std::string>& env,
                                      std::vector<std::string>* warnings) {
  ServerConfig c;
  std::string secret_file;
  if (!path.empty()) {
    auto text = ReadFile(path);
    if (!text.ok()) return text.error();
    YamlReader r(path);
    auto root = r.Parse(*text);
    if (!root.ok()) return root.error();
    auto str = [&r](const YAML::Node& v, const std::string& k) { return r.String(v, k); };
    auto duration = [&r](const YAML::Node& v, const std::string& k) { return r.Duration(v, k); };
    auto boolean = [&r](const YAML::Node& v, const std::string& k) { return r.Bool(v, k); };
    auto int_in = [&r](int64_t lo, int64_t hi) {
      return [&r, lo, hi](const YAML::Node& v, const std::string& k) { return r.Int(v, k, lo, hi); };
    };
    auto one_of = [&r](std::vector<std::string> allowed) {
      return [&r, allowed](const YAML::Node& v, const std::string& k) { return r.OneOf(v, k, allowed); };
    };
    std::vector<std::string> inline_secrets;
    auto secret = [&](std::string* field) {
      return [&, field](const YAML::Node& v, const std::string& k) -> Status {
        auto s = r.String(v, k);
        if (!s.ok()) return s.error();
        *field = *s;
        if (!s->empty()) {
          inline_secrets.push_back(k);
          log::AddSecret(*s);
        }
        return OkStatus();
      };
    };
    std::map<std::string, YamlReader::Handler> webhook = {
        {"secret", secret(&c.webhook_secret)},
        {"secret_file", Set(&secret_file, str)},
        {"workers", Set(&c.dispatch_workers, int_in(1, 256))},
        {"max_attempts", Set(&c.handler_max_attempts, int_in(1, 100))},
        {"retention", Set(&c.delivery_retention, duration)},
    };
    std::map<std::string, YamlReader::Handler> commands = {
        {"refusal_reply_interval", Set(&c.refusal_reply_interval, duration)},
    };
    std::map<std::string, YamlReader::Handler> github = {
        {"api", Set(&c.github_api, str)},
        {"app_id", Set(&c.app_id, str)},
        {"private_key_file", Set(&c.private_key_file, str)},
        {"token", secret(&c.token)},
        {"ca_bundle", Set(&c.github_ca_bundle, str)},
        {"resync_interval", Set(&c.resync_interval, duration)},
        {"status_edit_interval", Set(&c.status_edit_interval, duration)},
        {"redelivery_interval", Set(&c.redelivery_interval, duration)},
        {"write_budget_per_minute", Set(&c.write_budget_per_minute, int_in(0, 100000))},
        {"write_budget_per_hour", Set(&c.write_budget_per_hour, int_in(0, 1000000))},
    };
    std::map<std::string, YamlReader::Handler> executor = {
        {"kind", Set(&c.executor, one_of({"local", "actions"}))},
        {"max_parallel", Set(&c.max_parallel, int_in(1, 1024))},
        {"public_url", Set(&c.public_url, str)},
        {"queued_deadline", Set(&c.actions_queued_deadline, duration)},
        {"poll_interval", Set(&c.actions_poll_interval, duration)},
        {"alive_interval", Set(&c.actions_alive_interval, duration)},
        {"linger", Set(&c.actions_linger, duration)},
        {"batch_dispatches", Set(&c.actions_batch, boolean)},
        {"max_dispatches", Set(&c.actions_max_dispatches, int_in(1, 100))},
        {"oidc_issuer", Set(&c.actions_oidc_issuer, str)},
        {"oidc_audience", Set(&c.actions_oidc_audience, str)},
    };
    std::map<std::string, YamlReader::Handler> dashboard = {
        {"admin_token", secret(&c.admin_token)},
        {"read_token", secret(&c.read_token)},
        {"public",
         [&](const YAML::Node& v, const std::string& k) -> Status {
           auto b = r.Bool(v, k);
           if (!b.ok()) return b.error();
           c.dashboard_public = *b;
           return OkStatus();
         }},
        {"listen",
         [&](const YAML::Node& v, const std::string& k) -> Status {
           auto s = r.String(v, k);
           if (!s.ok()) return s.error();
           if (*s != "off" && !ValidateListen(*s, k).ok()) return r.At(v, k, "'" + *s + "' is not host:port or off");
           c.dashboard_listen = *s;
           return OkStatus();
         }},
    };
    std::map<std::string, YamlReader::Handler> logging = {
        {"format", Set(&c.log_format, one_of({"text", "json"}))},
        {"level", Set(&c.log_level, one_of({"trace", "debug", "info", "warn", "error", "critical", "off"}))},
    };
    auto section = [&r](std::map<std::string, YamlReader::Handler>* handlers) {
      return [&r, handlers](const YAML::Node& v, const std::string& k) { return r.Mapping(v, k, *handlers); };
    };
    std::map<std::string, YamlReader::Handler> top = {
        {"listen",
         [&](const YAML::Node& v, const std::string& k) -> Status {
           auto s = r.String(v, k);
           if (!s.ok()) return s.error();
           if (!ValidateListen(*s, k).ok()) return r.At(v, k, "'" + *s + "' is not host:port");
           c.listen = *s;
           return OkStatus();
         }},
        {"data_dir", Set(&c.data_dir, str)},
        {"max_body_bytes", Set(&c.max_body_bytes, int_in(1024, int64_t{1} << 30))},
        {"http_threads", Set(&c.http_threads, int_in(2, 1024))},
        {"max_connections_per_address", Set(&c.max_connections_per_address, int_in(0, 100000))},
        {"max_body_bytes_in_flight", Set(&c.max_body_bytes_in_flight, int_in(1024, int64_t{1} << 40))},
        {"webhook", section(&webhook)},
        {"github", section(&github)},
        {"executor", section(&executor)},
        {"dashboard", section(&dashboard)},
        {"commands", section(&commands)},
        {"log", section(&logging)},
    };
    WAVEBOT_RETURN_IF_ERROR(r.Mapping(*root, "", top));
    struct stat st {};
    if (!inline_secrets.empty() && warnings && ::stat(path.c_str(), &st) == 0 && (st.st_mode & 077) != 0) {
      for (const auto& k : inline_secrets) {
        warnings->push_back(path + ": key '" + k + "' holds a secret inline but the file is readable by group or " +
                            "others (chmod 600 " + path + ", or use the environment / a *_file setting)");
      }
    }
  }

  // Environment overrides (12-factor).
  auto get = [&env](const char* name, std::string* out) {
    auto it = env.find(name);
    if (it == env.end()) return false;
    *out = it->second;
    return true;
  };
  auto get_int = [&](const char* name, int64_t lo, int64_t hi, auto* out) -> Status {
    std::string s;
    if (!get(name, &s)) return OkStatus();
    try {
      size_t used = 0;
      long long v = std::stoll(s, &used);
      if (used != s.size() || v < lo || v > hi) throw std::out_of_range(s);
      *out = static_cast<std::remove_pointer_t<decltype(out)>>(v);
    } catch (const std::exception&) {
      return Error(ErrorCode::kInvalidArgument, std::string("environment variable ") + name + ": '" + s +
                                                    "' is not an integer in [" + std::to_string(lo) + ", " +
                                                    std::to_string(hi) + "]");
    }
    return OkStatus();
  };
  std::string s;
  if (get("WAVEBOT_LISTEN", &s)) {
    WAVEBOT_RETURN_IF_ERROR(ValidateListen(s, "environment variable WAVEBOT_LISTEN"));
    c.listen = s;
  }
  get("WAVEBOT_DATA_DIR", &c.data_dir);
  get("WAVEBOT_WEBHOOK_SECRET_FILE", &secret_file);
  get("WAVEBOT_WEBHOOK_SECRET", &c.webhook_secret);
  get("WAVEBOT_GITHUB_API", &c.github_api);
  get("WAVEBOT_APP_ID", &c.app_id);
  get("WAVEBOT_PRIVATE_KEY_FILE", &c.private_key_file);
  get("WAVEBOT_TOKEN", &c.token);
  get("WAVEBOT_GITHUB_CA_BUNDLE", &c.github_ca_bundle);
  get("WAVEBOT_ADMIN_TOKEN", &c.admin_token);
  get("WAVEBOT_READ_TOKEN", &c.read_token);
  if (std::string file; c.read_token.empty() && get("WAVEBOT_READ_TOKEN_FILE", &file) && !file.empty()) {
    auto text = ReadSecretFile(file);
    if (!text.ok()) return text.error().Wrap("read token file (environment variable WAVEBOT_READ_TOKEN_FILE)");
    c.read_token = *text;
  }
  if (get("WAVEBOT_DASHBOARD_LISTEN", &s)) {
    if (s != "off") WAVEBOT_RETURN_IF_ERROR(ValidateListen(s, "environment variable WAVEBOT_DASHBOARD_LISTEN"));
    c.dashboard_listen = s;
  }
  if (get("WAVEBOT_DASHBOARD_PUBLIC", &s)) {
    if (s != "0" && s != "1" && s != "true" && s != "false") {
      return Error(ErrorCode::kInvalidArgument,
                   "environment variable WAVEBOT_DASHBOARD_PUBLIC: '" + s + "' is not one of 0, 1, true, false");
    }
    c.dashboard_public = s == "1" || s == "true";
  }
  if (get("WAVEBOT_EXECUTOR", &s)) {
    if (s != "local" && s != "actions") {
      return Error(ErrorCode::kInvalidArgument,
                   "environment variable WAVEBOT_EXECUTOR: '" + s + "' is not one of local, actions");
    }
    c.executor = s;
  }
  WAVEBOT_RETURN_IF_ERROR(get_int("WAVEBOT_MAX_PARALLEL", 1, 1024, &c.max_parallel));
  WAVEBOT_RETURN_IF_ERROR(get_int("WAVEBOT_GITHUB_WRITES_PER_MINUTE", 0, 100000, &c.write_budget_per_minute));
  WAVEBOT_RETURN_IF_ERROR(get_int("WAVEBOT_GITHUB_WRITES_PER_HOUR", 0, 1000000, &c.write_budget_per_hour));
  WAVEBOT_RETURN_IF_ERROR(get_int("WAVEBOT_HTTP_THREADS", 2, 1024, &c.http_threads));
  WAVEBOT_RETURN_IF_ERROR(get_int("WAVEBOT_DISPATCH_WORKERS", 1, 256, &c.dispatch_workers));
  WAVEBOT_RETURN_IF_ERROR(get_int("WAVEBOT_MAX_BODY_BYTES", 1024, int64_t{1} << 30, &c.max_body_bytes));
  WAVEBOT_RETURN_IF_ERROR(
      get_int("WAVEBOT_MAX_CONNECTIONS_PER_ADDRESS", 0, 100000, &c.max_connections_per_address));
  WAVEBOT_RETURN_IF_ERROR(
      get_int("WAVEBOT_MAX_BODY_BYTES_IN_FLIGHT", 1024, int64_t{1} << 40, &c.max_body_bytes_in_flight));
  for (auto [name, field] : {std::pair{"WAVEBOT_RESYNC_INTERVAL", &c.resync_interval},
                             std::pair{"WAVEBOT_REDELIVERY_INTERVAL", &c.redelivery_interval},
                             std::pair{"WAVEBOT_STATUS_EDIT_INTERVAL", &c.status_edit_interval},
                             std::pair{"WAVEBOT_DELIVERY_RETENTION", &c.delivery_retention},
                             std::pair{"WAVEBOT_REFUSAL_REPLY_INTERVAL", &c.refusal_reply_interval}}) {
    if (!get(name, &s)) continue;
    auto d = ParseDuration(s);
    if (!d.ok()) return d.error().Wrap(std::string("environment variable ") + name);
    *field = *d;
  }
  get("WAVEBOT_PUBLIC_URL", &c.public_url);
  get("WAVEBOT_OIDC_ISSUER", &c.actions_oidc_issuer);
  get("WAVEBOT_OIDC_AUDIENCE", &c.actions_oidc_audience);
  get("WAVEBOT_LOG_FORMAT", &c.log_format);
  get("WAVEBOT_LOG_LEVEL", &c.log_level);

  if (c.webhook_secret.empty() && !secret_file.empty()) {
    auto text = ReadSecretFile(secret_file);
    if (!text.ok()) return text.error().Wrap("webhook secret file");
    c.webhook_secret = *text;
  }
  if (c.max_body_bytes_in_flight < c.max_body_bytes) {
    return Error(ErrorCode::kInvalidArgument,
                 "max_body_bytes_in_flight (" + std::to_string(c.max_body_bytes_in_flight) +
                     ") is smaller than max_body_bytes (" + std::to_string(c.max_body_bytes) +
                     "): no webhook of the largest size could ever be received; raise it in " +
                     (path.empty() ? std::string("the environment") : path + " or the environment") +
                     " (environment variable WAVEBOT_MAX_BODY_BYTES_IN_FLIGHT)");
  }
  if (c.write_budget_per_minute > 0 && c.write_budget_per_hour > 0 &&
      c.write_budget_per_minute > c.write_budget_per_hour) {
    return Error(ErrorCode::kInvalidArgument,
                 "github.write_budget_per_minute (" + std::to_string(c.write_budget_per_minute) +
                     ") is larger than github.write_budget_per_hour (" + std::to_string(c.write_budget_per_hour) +
                     "): a minute cannot allow more writes than its hour; lower it in " +
                     (path.empty() ? std::string("the environment") : path + " or the environment") +
                     " (WAVEBOT_GITHUB_WRITES_PER_MINUTE, WAVEBOT_GITHUB_WRITES_PER_HOUR)");
  }
  for (const std::string* secret : {&c.webhook_secret, &c.token, &c.admin_token, &c.read_token}) {
    if (!secret->empty()) log::AddSecret(*secret);
  }
  return c;
}

std::string ServerConfig::DashboardListen() const {
  if (dashboard_listen == "off") return "";
  if (!dashboard_listen.empty()) return dashboard_listen;
  auto colon = listen.rfind(':');
  int port = std::stoi(listen.substr(colon + 1));
  return "127.0.0.1:" + std::to_string(port == 0 ? 0 : port == 65535 ? port - 1 : port + 1);
}

}  // namespace wavebot::config
