// Small file helpers shared by the CLI, run-ticket and the engine.
#pragma once

#include <string>
#include <vector>

#include "common/result.h"

namespace wavebot {

// Writes `text` to `path` whole or not at all: to `path`.tmp, flushed to disk, then renamed over `path`,
// so a reader (or a process started after a crash) never sees half of it.
Status WriteFileAtomically(const std::string& path, const std::string& text);

// Creates directory `path` (and missing parents) and makes `path` itself 0700 (owner only) whatever
// the umask, tightening an existing one. Errors: kIo naming the path.
Status MakePrivateDirectory(const std::string& path);

// Creates `path` empty if it does not exist and makes it 0600 (owner read-write only) whatever the
// umask, tightening an existing one; its content is left alone. Call before opening a file with an API
// that cannot choose the mode (std::ofstream, sqlite3_open). Errors: kIo naming the path.
Status MakePrivateFile(const std::string& path);

// The whole file, or "" when it does not exist or cannot be read.
std::string ReadFileOrEmpty(const std::string& path);

// The items of a `sep`-separated list (a PATH, a comma list), spaces around each trimmed, empty ones
// dropped: "a, b,,c" -> {"a", "b", "c"}.
std::vector<std::string> SplitList(const std::string& text, char sep);

// The items with `sep` between them: JoinList({"a", "b"}, ", ") == "a, b".
std::string JoinList(const std::vector<std::string>& items, const std::string& sep);

}  // namespace wavebot
