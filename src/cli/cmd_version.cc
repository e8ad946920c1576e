#include <cstdio>

#include "cli/command.h"

namespace wavebot::cli {

Command VersionCommand() {
  return {"version", "Print wavebot's version", [](CLI::App*, const GlobalOptions*) {
            return [] {
              std::printf("wavebot %s\n", WAVEBOT_VERSION);
              return kExitOk;
            };
          }};
}

}  // namespace wavebot::cli
