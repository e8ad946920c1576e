#include "sandbox/request_budget.h"

#include <algorithm>
#include <cstdio>

namespace wavebot::sandbox {

RequestBudget CountRequests(const std::vector<std::string>& log) {
  RequestBudget b;
  for (const std::string& line : log) {
    ++b.requests;
    // "METHOD /path STATUS", perhaps followed by notes ("(rate limited)", "(carried out: 201, answer lost)").
    const size_t path_end = line.find(' ', line.find(' ') + 1);
    const std::string status = path_end == std::string::npos ? "" : line.substr(path_end + 1, 3);
    if (status == "304") ++b.not_modified;
    if (line.find(" (rate limited)") != std::string::npos) ++b.rate_limited;
    bool write = false;
    for (const char* m : {"POST ", "PATCH ", "PUT ", "DELETE "}) write = write || line.rfind(m, 0) == 0;
    if (!write) continue;
    if (line.rfind("POST /app/installations/", 0) == 0) {
      ++b.token_mints;
      continue;
    }
    ++b.writes;
    if (line.rfind("PATCH ", 0) == 0 && line.find("/issues/comments/") != std::string::npos) ++b.comment_edits;
  }
  return b;
}

std::string FormatRequestBudget(const RequestBudget& b, int merged) {
  const double m = std::max(1, merged);
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "REST requests: %lld (%lld answered 304, %lld writes of which %lld comment edits, %lld token mints, "
                "%lld rate-limited); per merged ticket: %.1f, %.1f without 304s, %.1f writes",
                static_cast<long long>(b.requests), static_cast<long long>(b.not_modified),
                static_cast<long long>(b.writes), static_cast<long long>(b.comment_edits),
                static_cast<long long>(b.token_mints), static_cast<long long>(b.rate_limited), b.requests / m,
                b.counted() / m, b.writes / m);
  return buf;
}

}  // namespace wavebot::sandbox
