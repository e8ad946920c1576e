// wavebot doctor: checks the GitHub App configuration, one PASS/FAIL line each; exit 1 on any failure.
#include <cstdlib>
#include <iostream>

#include "cli/command.h"
#include "github/doctor.h"

namespace wavebot::cli {
namespace {

std::string Env(const char* name, const std::string& fallback = "") {
  const char* v = std::getenv(name);
  return v != nullptr ? std::string(v) : fallback;
}

}  // namespace

Command DoctorCommand() {
  return {"doctor", "Check configuration, key, database and reachability",
          [](CLI::App* sub, const GlobalOptions*) {
            auto input = std::make_shared<github::DoctorInput>();
            // Settings come from the WAVEBOT_* environment (the config file loader is wired by the lead).
            input->api_url = Env("WAVEBOT_GITHUB_API", "https://api.github.com");
            input->app_id = Env("WAVEBOT_APP_ID");
            input->private_key_file = Env("WAVEBOT_PRIVATE_KEY_FILE");
            input->token = Env("WAVEBOT_TOKEN");
            input->webhook_secret = Env("WAVEBOT_WEBHOOK_SECRET");
            sub->add_option("--repo", input->repo, "Also check the App's installation on OWNER/NAME");
            sub->add_option("--api", input->api_url, "GitHub API base URL (WAVEBOT_GITHUB_API)");
            return [input] {
              auto report = github::RunDoctor(*input, std::cout);
              std::cout << report.passed << " passed, " << report.failed << " failed\n";
              return report.failed == 0 ? kExitOk : kExitFailure;
            };
          }};
}

}  // namespace wavebot::cli
