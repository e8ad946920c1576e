#include "agents/actions_routes.h"

#include <nlohmann/json.hpp>

#include "agents/actions_executor.h"
#include "http/server.h"

namespace wavebot::agents {
namespace {

using nlohmann::json;

// "/api/runs/<id>/<leaf>" -> <id>; "" when the path has another shape or the id other characters.
std::string DispatchIdOf(const std::string& path, const std::string& leaf) {
  const std::string prefix = "/api/runs/";
  const std::string suffix = "/" + leaf;
  if (path.size() <= prefix.size() + suffix.size() || path.rfind(prefix, 0) != 0 ||
      path.compare(path.size() - suffix.size(), suffix.size(), suffix) != 0) {
    return "";
  }
  std::string id = path.substr(prefix.size(), path.size() - prefix.size() - suffix.size());
  for (char c : id) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-') return "";
  }
  return id;
}

std::string BearerOf(const http::Request& req) {
  std::string h = req.Header("Authorization");
  const std::string kBearer = "Bearer ";
  return h.rfind(kBearer, 0) == 0 ? h.substr(kBearer.size()) : "";
}

void Fail(http::Response* res, const Error& e) {
  int code = 500;
  switch (e.code()) {
    case ErrorCode::kNotFound: code = 404; break;
    case ErrorCode::kUnauthenticated: code = 401; break;
    case ErrorCode::kPermissionDenied: code = 403; break;
    case ErrorCode::kUnavailable:
      code = 503;
      res->headers.push_back({"Retry-After", "5"});
      break;
    case ErrorCode::kFailedPrecondition: code = 409; break;
    case ErrorCode::kInvalidArgument: case ErrorCode::kParse: code = 400; break;
    default: break;
  }
  res->Json(code, json{{"message", e.message()}}.dump());
}

json ClaimJson(const ActionsClaim& claim) {
  return {{"job_id", claim.job_id},
          {"dispatch_id", claim.dispatch_id},
          {"args", claim.args},
          {"prompt", claim.prompt},
          {"git_token", claim.git_token},
          {"result_token", claim.result_token},
          {"push_token", claim.push_token},
          {"alive_interval_s", claim.alive_interval_s}};
}

}  // namespace

void RegisterActionsRoutes(http::Server* server, ActionsExecutor* executor) {
  server->Get(R"(/api/runs/[A-Za-z0-9-]+/prompt)", [executor](const http::Request& req, http::Response* res) {
    res->headers.push_back({"Cache-Control", "no-store"});
    std::string id = DispatchIdOf(req.path, "prompt");
    std::string token = BearerOf(req);
    if (token.empty()) {
      return Fail(res, Error(ErrorCode::kUnauthenticated,
                             "missing Authorization: Bearer <the job's GitHub Actions OIDC token>"));
    }
    auto claim = executor->ClaimRun(id, token, req.Header("X-Wavebot-Runner"));
    if (!claim.ok()) return Fail(res, claim.error());
    res->Json(200, ClaimJson(*claim).dump());
  });
  // A job that delivered its result asks for another run (authorised by the result answer's next token,
  // single use) and waits for one: 200 with the claim, as above, or 204 when none came (the job ends).
  server->Post(R"(/api/runs/[A-Za-z0-9-]+/next)", [executor](const http::Request& req, http::Response* res) {
    res->headers.push_back({"Cache-Control", "no-store"});
    std::string token = BearerOf(req);
    if (token.empty())
      return Fail(res, Error(ErrorCode::kUnauthenticated, "missing Authorization: Bearer <next token>"));
    auto claim = executor->NextRun(DispatchIdOf(req.path, "next"), token, req.Header("X-Wavebot-Runner"),
                                   std::chrono::hours(24));
    if (!claim.ok() && claim.error().code() == ErrorCode::kTimeout) {
      res->status = 204;
      return;
    }
    if (!claim.ok()) return Fail(res, claim.error());
    res->Json(200, ClaimJson(*claim).dump());
  });
  // The claimed job is still running (authorised by the claim's result token, not used up by this).
  server->Post(R"(/api/runs/[A-Za-z0-9-]+/alive)", [executor](const http::Request& req, http::Response* res) {
    std::string token = BearerOf(req);
    if (token.empty())
      return Fail(res, Error(ErrorCode::kUnauthenticated, "missing Authorization: Bearer <token>"));
    Status st = executor->Alive(DispatchIdOf(req.path, "alive"), token);
    if (!st.ok()) return Fail(res, st.error());
    res->Json(200, json{{"message", "noted"}}.dump());
  });
  // The claimed job is about to push (authorised by the claim's push token): it pushes only after a 200.
  server->Post(
      R"(/api/runs/[A-Za-z0-9-]+/pushing)", [executor](const http::Request& req, http::Response* res) {
        std::string token = BearerOf(req);
        if (token.empty())
          return Fail(res, Error(ErrorCode::kUnauthenticated, "missing Authorization: Bearer <token>"));
        json body = json::parse(req.body, nullptr, false);
        if (!body.is_object() || !body.contains("head_sha") || !body["head_sha"].is_string()) {
          return Fail(res, Error(ErrorCode::kInvalidArgument,
                                 "the body must be a JSON object with a head_sha string"));
        }
        Status st =
            executor->NotePush(DispatchIdOf(req.path, "pushing"), token, body["head_sha"].get<std::string>());
        if (!st.ok()) return Fail(res, st.error());
        res->Json(200, json{{"message", "push noted"}}.dump());
      });
  server->Post(R"(/api/runs/[A-Za-z0-9-]+/result)", [executor](const http::Request& req, http::Response* res) {
    std::string id = DispatchIdOf(req.path, "result");
    std::string token = BearerOf(req);
    if (token.empty()) return Fail(res, Error(ErrorCode::kUnauthenticated, "missing Authorization: Bearer <token>"));
    json body = json::parse(req.body, nullptr, false);
    if (!body.is_object() || !body.contains("exit_code") || !body["exit_code"].is_number_integer() ||
        (body.contains("result") && !body["result"].is_object() && !body["result"].is_null()) ||
        (body.contains("output_tail") && !body["output_tail"].is_string())) {
      return Fail(res, Error(ErrorCode::kInvalidArgument,
                             "the body must be a JSON object with an integer exit_code, an optional result object "
                             "and an optional output_tail string"));
    }
    std::string result = body.contains("result") && body["result"].is_object() ? body["result"].dump() : "";
    auto ack =
        executor->PostResult(id, token, result, body["exit_code"].get<int>(), body.value("output_tail", ""));
    if (!ack.ok()) return Fail(res, ack.error());
    json answer = {{"message", "result applied"}};
    if (!ack->next_token.empty()) {
      answer["next_token"] = ack->next_token;
      answer["linger_s"] = ack->linger_s;
    }
    res->Json(200, answer.dump());
  });
}

}  // namespace wavebot::agents
