// Fuzzes the `/wave` command parser and the permission check: any comment text parses without
// crashing, and every command found keeps the parser's invariants.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "core/commands.h"

using wavebot::core::CommandKind;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  for (const auto& c : wavebot::core::ParseCommands(text)) {
    // A command is a line of the comment that starts with "/wave" (any case).
    if (c.line.size() < 5 || c.line.size() > 3 * size) std::abort();  // NUL becomes U+FFFD: 3 bytes
    if (c.line.substr(0, 1) != "/") std::abort();
    // A malformed command is always answered with help, never acted on.
    if (!c.problem.empty() && c.kind != CommandKind::kHelp) std::abort();
    if (c.problem.empty() && c.kind != CommandKind::kStart && (c.eager || c.max_parallel != 0)) std::abort();
    if (c.max_parallel < 0 || c.max_parallel > 256) std::abort();
    if ((c.kind == CommandKind::kRetry) != (c.ticket > 0)) std::abort();
    if (std::string_view(wavebot::core::CommandName(c.kind)).empty()) std::abort();
  }
  // The same bytes as a permission name and a login: unknown permissions never grant write.
  auto p = wavebot::core::ParsePermission(text);
  bool may = wavebot::core::MayCommand(text, p, "write", {});
  if (may && p < wavebot::core::Permission::kWrite) std::abort();
  // Without permission only a listed login (compared case-insensitively) may command.
  bool allowed = wavebot::core::MayCommand(text, wavebot::core::Permission::kNone, "admin", {"octo-cat"});
  std::string lower(text);
  for (char& ch : lower) ch = static_cast<char>(ch >= 'A' && ch <= 'Z' ? ch - 'A' + 'a' : ch);
  if (allowed != (lower == "octo-cat")) std::abort();
  return 0;
}
