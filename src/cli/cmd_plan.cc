#include "cli/command.h"

namespace wavebot::cli {

Command PlanCommand() {
  return {"plan", "Print the waves of an epic", [](CLI::App*, const GlobalOptions*) {
            return [] { return NotImplemented("plan", 2); };
          }};
}

}  // namespace wavebot::cli
