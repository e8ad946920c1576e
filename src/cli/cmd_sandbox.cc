#include "cli/command.h"

namespace wavebot::cli {

Command SandboxCommand() {
  return {"sandbox", "Run the whole loop locally against a GitHub simulator", [](CLI::App*, const GlobalOptions*) {
            return [] { return NotImplemented("sandbox", 6); };
          }};
}

}  // namespace wavebot::cli
