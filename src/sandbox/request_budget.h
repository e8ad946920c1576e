// What a run cost of GitHub's rate limits, counted from the simulator's request log ("METHOD /path
// STATUS" per request): the figures `wavebot sandbox` prints and the scale benchmark reports.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace wavebot::sandbox {

struct RequestBudget {
  int64_t requests = 0;      // every request
  int64_t not_modified = 0;  // answered 304: GitHub does not count these against the primary limit
  // Content-creating or changing requests (POST, PATCH, PUT, DELETE) made with an installation's
  // token: what the secondary limits (80 a minute, 500 an hour per installation) cap.
  int64_t writes = 0;
  int64_t comment_edits = 0;  // of the writes: PATCH of an issue comment (the epic's status comment)
  // Installation tokens minted with the App's JWT (POST /app/installations/{id}/access_tokens): the
  // App's own requests, not the installation's content; counted apart from `writes`.
  int64_t token_mints = 0;
  // Answers 403 or 429 that said a rate limit was exceeded (primary or secondary).
  int64_t rate_limited = 0;
  // Requests only the App's JWT authenticates (GET /app, /app/hook/deliveries, the token mints, GET
  // /repos/{o}/{r}/installation): the App's own, not the installation's 5,000 an hour.
  int64_t app_requests = 0;

  int64_t counted() const { return requests - not_modified; }
  // What counts against the installation's primary limit: not answered 304 and not the App's own.
  int64_t installation_counted() const { return counted() - app_requests; }
};

// Counts one log (the simulator's AppRequestLog()). Lines it does not recognise count as requests only.
RequestBudget CountRequests(const std::vector<std::string>& log);

// A request's kind, for figures per kind: the method and the path with its variable parts named
// ("/repos/{o}/{r}/pulls/{n}", "/repos/{o}/{r}/commits/{sha}/check-runs", "/repos/{o}/{r}/compare/{range}"),
// and for git over HTTP the service: "POST git-receive-pack" (a push), "POST git-upload-pack (fetch)",
// "POST git-upload-pack (ls-refs)" (protocol v2, `Git-Protocol: version=2`: branch heads),
// "GET info/refs". The query string is left out.
std::string RequestKind(const std::string& method, const std::string& path, const std::string& git_protocol);

// "REST requests: N (M answered 304, W writes of which E comment edits, T token mints); per merged ticket:
// a, b without 304s (i on the installation's token), c writes" for `merged` tickets (at least 1).
std::string FormatRequestBudget(const RequestBudget& b, int merged);

}  // namespace wavebot::sandbox
