#include "cli/command.h"

namespace wavebot::cli {

Command DoctorCommand() {
  return {"doctor", "Check configuration, key, database and reachability", [](CLI::App*, const GlobalOptions*) {
            return [] { return NotImplemented("doctor", 4); };
          }};
}

}  // namespace wavebot::cli
