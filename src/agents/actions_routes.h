// wavebot's API for Actions jobs, on the one HTTP server (src/http/server.h):
//   GET  /api/runs/{dispatch_id}/prompt   Authorization: Bearer <dispatch token>   -> the claim (JSON)
//   POST /api/runs/{dispatch_id}/result   Authorization: Bearer <result token>     <- the run's result
// Both tokens are single use. Answers: 200, 400 (malformed body), 401 (no or wrong token), 404 (unknown
// or superseded dispatch), 409 (already claimed / result already applied or run not claimed).
#pragma once

namespace wavebot::http {
class Server;
}

namespace wavebot::agents {

class ActionsExecutor;

// Registers both routes (before server->Start()). Neither pointer is owned; both outlive the server.
void RegisterActionsRoutes(http::Server* server, ActionsExecutor* executor);

}  // namespace wavebot::agents
