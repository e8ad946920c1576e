// Small file helpers shared by the CLI, run-ticket and the engine.
#pragma once

#include <string>
#include <vector>

#include "common/result.h"

namespace wavebot {

// Writes `text` to `path` whole or not at all: to `path`.tmp, flushed to disk, then renamed over `path`,
// so a reader (or a process started after a crash) never sees half of it.
Status WriteFileAtomically(const std::string& path, const std::string& text);

// The whole file, or "" when it does not exist or cannot be read.
std::string ReadFileOrEmpty(const std::string& path);

// The items of a `sep`-separated list (a PATH, a comma list), spaces around each trimmed, empty ones
// dropped: "a, b,,c" -> {"a", "b", "c"}.
std::vector<std::string> SplitList(const std::string& text, char sep);

// The items with `sep` between them: JoinList({"a", "b"}, ", ") == "a, b".
std::string JoinList(const std::vector<std::string>& items, const std::string& sep);

}  // namespace wavebot
