// Small file helpers shared by the CLI, run-ticket and the engine.
#pragma once

#include <string>

#include "common/result.h"

namespace wavebot {

// Writes `text` to `path` whole or not at all: to `path`.tmp, flushed to disk, then renamed over `path`,
// so a reader (or a process started after a crash) never sees half of it.
Status WriteFileAtomically(const std::string& path, const std::string& text);

// The whole file, or "" when it does not exist or cannot be read.
std::string ReadFileOrEmpty(const std::string& path);

}  // namespace wavebot
