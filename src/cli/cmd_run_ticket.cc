#include "cli/command.h"

namespace wavebot::cli {

Command RunTicketCommand() {
  return {"run-ticket", "Run one agent on one ticket in its worktree and push the result", [](CLI::App*, const GlobalOptions*) {
            return [] { return NotImplemented("run-ticket", 5); };
          }};
}

}  // namespace wavebot::cli
