// Names the calling thread (Linux: 15 characters at most, longer names are cut), so that `top -H`,
// `ps -L`, perf and a debugger show which of wavebot's threads is which ("wb-db-writer", ...).
#pragma once

namespace wavebot {

void SetThreadName(const char* name);

}  // namespace wavebot
