#include "cli/command.h"

namespace wavebot::cli {

Command ServeCommand() {
  return {"serve", "Run the webhook server, the engine and the configured executor", [](CLI::App*, const GlobalOptions*) {
            return [] { return NotImplemented("serve", 3); };
          }};
}

}  // namespace wavebot::cli
