// Process-wide logging on spdlog, as human text or JSON lines, with secrets redacted.
//
// Every module logs through spdlog's default logger (spdlog::info(...)). Init() installs a sink that
// writes to stderr and replaces every registered secret with "[REDACTED]" before anything is written,
// so a token, private key or webhook secret can never reach a log line. Thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "common/result.h"

namespace wavebot::log {

enum class Format { kText, kJson };

// Parses "text" or "json".
Result<Format> ParseFormat(std::string_view name);

// Installs the default logger. `level` is one of trace, debug, info, warn, error, critical, off.
// Returns an error for an unknown level. May be called again to change format or level.
Status Init(Format format, std::string_view level);

// Registers a secret that lives as long as the process (the webhook secret, the App's private key, the
// admin token, a personal token): from now on any log line containing it shows "[REDACTED]" instead.
// Secrets shorter than 4 characters are ignored (they would redact ordinary words).
// A PEM private key is registered line by line as well as whole.
void AddSecret(std::string_view secret);

// How many short-lived secrets are kept at most (see AddShortLivedSecret).
inline constexpr size_t kMaxShortLivedSecrets = 1024;

// Registers a secret that expires (an installation token, a run's narrowed token): redacted like those
// of AddSecret, but only the newest kMaxShortLivedSecrets are kept; registering one more drops the
// oldest, so a long-running server's list stays bounded. Registering one again makes it the newest. A
// token that many registrations old has expired (GitHub's last an hour), and GitHub's token formats
// (ghs_, ghp_, ...) are redacted whether registered or not.
void AddShortLivedSecret(std::string_view secret);

// How many secrets are registered, both kinds (a PEM key counts once per line too). For tests.
size_t SecretCount();

// Returns `text` with every registered secret replaced. Used by the sink and by anything else that
// writes operator-visible text (agent logs, error bodies).
std::string Redact(std::string_view text);

// Formats one JSON log line (no trailing newline); exposed for tests.
std::string FormatJsonLine(std::string_view timestamp, std::string_view level, std::string_view logger,
                           std::string_view message);

}  // namespace wavebot::log
