// wavebot's API for Actions jobs, on the one HTTP server (src/http/server.h):
//   GET  /api/runs/{dispatch_id}/prompt   Authorization: Bearer <the job's OIDC token>  -> the claim (JSON)
//   POST /api/runs/{dispatch_id}/alive    Authorization: Bearer <result token>          (still running)
//   POST /api/runs/{dispatch_id}/pushing  Authorization: Bearer <push token>            <- the head it pushes
//   POST /api/runs/{dispatch_id}/result   Authorization: Bearer <result token>          <- the run's result
//                                          -> with a lingering executor, a next token
//   POST /api/runs/{dispatch_id}/next     Authorization: Bearer <next token>            -> another run's
//                                          claim (200), or 204 when none came while the job waited
// A claim works once, and only with a GitHub Actions OIDC token of the workflow run the dispatch
// created; the result token comes with the claim and works once. Answers: 200, 400 (malformed body),
// 401 (no, invalid or expired token), 403 (a valid token of another run, workflow, event or repository),
// 404 (unknown or superseded dispatch), 409 (already claimed / result already applied or run not
// claimed), 503 with Retry-After (the dispatch's run or the issuer's keys are not known yet).
#pragma once

namespace wavebot::http {
class Server;
}

namespace wavebot::agents {

class ActionsExecutor;

// Registers the routes (before server->Start()). Neither pointer is owned; both outlive the server.
void RegisterActionsRoutes(http::Server* server, ActionsExecutor* executor);

}  // namespace wavebot::agents
