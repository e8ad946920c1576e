#include "sandbox/request_budget.h"

#include <algorithm>
#include <cctype>
#include <cstdio>

namespace wavebot::sandbox {

RequestBudget CountRequests(const std::vector<std::string>& log) {
  RequestBudget b;
  for (const std::string& line : log) {
    ++b.requests;
    // "METHOD /path STATUS", perhaps followed by notes ("(rate limited)", "(carried out: 201, answer lost)").
    const size_t method_end = line.find(' ');
    const size_t path_end = line.find(' ', method_end + 1);
    const std::string status = path_end == std::string::npos ? "" : line.substr(path_end + 1, 3);
    if (status == "304") ++b.not_modified;
    // The App's own requests, by path (the query string left out).
    std::string path = method_end == std::string::npos ? "" : line.substr(method_end + 1, path_end - method_end - 1);
    path = path.substr(0, path.find('?'));
    const std::string installation = "/installation";
    const bool app_path = path == "/app" || path.rfind("/app/", 0) == 0 ||
                          (path.size() > installation.size() &&
                           path.compare(path.size() - installation.size(), installation.size(), installation) == 0);
    if (app_path && status != "304") ++b.app_requests;
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
                "%lld rate-limited); per merged ticket: %.1f, %.1f without 304s (%.1f on the installation's token), "
                "%.1f writes",
                static_cast<long long>(b.requests), static_cast<long long>(b.not_modified),
                static_cast<long long>(b.writes), static_cast<long long>(b.comment_edits),
                static_cast<long long>(b.token_mints), static_cast<long long>(b.rate_limited), b.requests / m,
                b.counted() / m, b.installation_counted() / m, b.writes / m);
  return buf;
}

std::string RequestKind(const std::string& method, const std::string& path, const std::string& git_protocol) {
  std::string p = path.substr(0, path.find('?'));
  auto ends_with = [&](const std::string& suffix) {
    return p.size() >= suffix.size() && p.compare(p.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  if (ends_with("/git-receive-pack")) return method + " git-receive-pack";
  if (ends_with("/git-upload-pack")) {
    return method + " git-upload-pack" + (git_protocol.find("version=2") != std::string::npos ? " (ls-refs)" : " (fetch)");
  }
  if (ends_with("/info/refs")) return method + " info/refs";
  // /repos/{o}/{r}/...: owner and name named, numbers and SHAs named, a compare's range named.
  std::vector<std::string> parts;
  for (size_t start = 1; start <= p.size();) {
    size_t slash = p.find('/', start);
    if (slash == std::string::npos) slash = p.size();
    parts.push_back(p.substr(start, slash - start));
    start = slash + 1;
  }
  auto all_of = [](const std::string& s, auto pred) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [&](char c) { return pred(static_cast<unsigned char>(c)); });
  };
  const bool in_repo = parts[0] == "repos";
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) {
    std::string part = parts[i];
    if (in_repo && (i == 1 || i == 2)) part = i == 1 ? "{o}" : "{r}";
    else if (i > 0 && parts[i - 1] == "compare") part = "{range}";
    else if (all_of(part, [](unsigned char c) { return std::isdigit(c) != 0; })) part = "{n}";
    else if (part.size() == 40 && all_of(part, [](unsigned char c) { return std::isxdigit(c) != 0; })) part = "{sha}";
    out += "/" + part;
  }
  return method + " " + (out.empty() ? "/" : out);
}

}  // namespace wavebot::sandbox
