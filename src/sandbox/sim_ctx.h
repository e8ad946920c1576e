// The request context of the simulator's route handlers (internal to src/sandbox; shared by
// sim_routes.cc and sim_actions.cc).
#pragma once

#include <httplib.h>

#include "sandbox/simulator_impl.h"

namespace wavebot::sandbox {

struct SimulatorImpl::Ctx {
  const httplib::Request& req;
  std::smatch m;
  json body;
  std::string actor;             // who acts: the App's bot or the token's user
  int64_t installation_id = 0;   // 0 for user tokens
  sim::RepoRec* repo = nullptr;  // repo-scoped routes
  std::string path;
  std::string Q(const std::string& k, const std::string& def = "") const {
    return req.has_param(k.c_str()) ? req.get_param_value(k.c_str()) : def;
  }
  int64_t N(int i) const { return std::stoll(m[i].str()); }
};

}  // namespace wavebot::sandbox
