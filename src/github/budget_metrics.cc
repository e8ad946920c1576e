#include "github/budget_metrics.h"

#include <cstdio>
#include <functional>
#include <map>

namespace wavebot::github {
namespace {

// The write budget (docs/github.md, "The write budget"): its limits, and per credential the slots
// taken in the sliding windows, the writes that waited (and how long) and the ones deferred.
std::string WriteBudgetMetrics(const WriteBudgetLimits& limits, const std::vector<WriteBudgetUsage>& budget) {
  std::string out =
      "# HELP wavebot_github_write_budget_limit writes per installation the budget allows in a sliding window "
      "(0: that window is not limited)\n# TYPE wavebot_github_write_budget_limit gauge\n"
      "wavebot_github_write_budget_limit{window=\"minute\"} " + std::to_string(limits.per_minute) + "\n" +
      "wavebot_github_write_budget_limit{window=\"hour\"} " + std::to_string(limits.per_hour) + "\n";
  out += "# HELP wavebot_github_write_budget_used writes in the window now, per credential\n"
         "# TYPE wavebot_github_write_budget_used gauge\n";
  for (const auto& b : budget) {
    out += "wavebot_github_write_budget_used{credential=\"" + b.key + "\",window=\"minute\"} " +
           std::to_string(b.in_last_minute) + "\n";
    out += "wavebot_github_write_budget_used{credential=\"" + b.key + "\",window=\"hour\"} " +
           std::to_string(b.in_last_hour) + "\n";
  }
  struct Counter {
    const char* name;
    const char* help;
    std::function<std::string(const WriteBudgetUsage&)> value;
  };
  const Counter counters[] = {
      {"wavebot_github_write_budget_waits_total", "writes that waited for a slot of the write budget",
       [](const WriteBudgetUsage& b) { return std::to_string(b.waits); }},
      {"wavebot_github_write_budget_wait_seconds_total", "how long they waited, in all",
       [](const WriteBudgetUsage& b) {
         char buf[32];
         std::snprintf(buf, sizeof buf, "%.3f", static_cast<double>(b.waited_ms) / 1000.0);
         return std::string(buf);
       }},
      {"wavebot_github_write_budget_deferred_total",
       "deferrable writes (status comment edits, reactions) refused to keep the reserve for urgent ones",
       [](const WriteBudgetUsage& b) { return std::to_string(b.deferred); }},
  };
  for (const auto& c : counters) {
    out += std::string("# HELP ") + c.name + " " + c.help + "\n# TYPE " + c.name + " counter\n";
    for (const auto& b : budget) out += std::string(c.name) + "{credential=\"" + b.key + "\"} " + c.value(b) + "\n";
  }
  return out;
}

}  // namespace

std::string RenderBudgetMetrics(const std::vector<CredentialUsage>& usage, const WriteBudgetLimits& limits,
                                const std::vector<WriteBudgetUsage>& budget) {
  if (usage.empty() && budget.empty()) return "";
  struct Family {
    const char* name;
    const char* type;
    const char* help;
    std::function<int64_t(const CredentialUsage&)> value;
  };
  const Family families[] = {
      {"wavebot_github_requests_total", "counter", "REST requests sent to GitHub, per credential",
       [](const CredentialUsage& u) { return u.requests; }},
      {"wavebot_github_not_modified_total", "counter",
       "of them answered 304 Not Modified (not counted against the primary rate limit)",
       [](const CredentialUsage& u) { return u.not_modified; }},
      {"wavebot_github_writes_total", "counter", "of them writes (POST, PATCH, PUT, DELETE): what the secondary limits count",
       [](const CredentialUsage& u) { return u.writes; }},
      {"wavebot_github_ratelimit_limit", "gauge", "the primary rate limit GitHub last reported (x-ratelimit-limit)",
       [](const CredentialUsage& u) { return u.rate.limit; }},
      {"wavebot_github_ratelimit_remaining", "gauge", "requests left in the window (x-ratelimit-remaining)",
       [](const CredentialUsage& u) { return u.rate.remaining; }},
      {"wavebot_github_ratelimit_reset_seconds", "gauge", "when the window resets, Unix time (x-ratelimit-reset)",
       [](const CredentialUsage& u) { return u.rate.reset_unix; }},
  };
  std::string out;
  for (const auto& f : families) {
    out += std::string("# HELP ") + f.name + " " + f.help + "\n# TYPE " + f.name + " " + f.type + "\n";
    for (const auto& u : usage) {
      const int64_t v = f.value(u);
      if (v < 0) continue;  // not reported yet
      out += std::string(f.name) + "{credential=\"" + u.credential + "\"} " + std::to_string(v) + "\n";
    }
  }
  return out + WriteBudgetMetrics(limits, budget);
}

}  // namespace wavebot::github

namespace wavebot::github {

std::vector<CredentialBudget> BudgetRecords(const std::vector<CredentialUsage>& usage, const WriteBudgetLimits& limits,
                                            const std::vector<WriteBudgetUsage>& budget) {
  std::map<std::string, CredentialBudget> rows;
  auto row = [&](const std::string& credential) -> CredentialBudget& {
    CredentialBudget& r = rows[credential];
    r.credential = credential;
    if (credential != "app") {  // the App's JWT requests are not on an installation's write budget
      r.write_limit_per_minute = limits.per_minute;
      r.write_limit_per_hour = limits.per_hour;
    }
    return r;
  };
  for (const auto& u : usage) {
    CredentialBudget& r = row(u.credential);
    r.requests = u.requests;
    r.not_modified = u.not_modified;
    r.writes = u.writes;
    r.limit = u.rate.limit;
    r.remaining = u.rate.remaining;
    r.reset_unix = u.rate.reset_unix;
  }
  for (const auto& w : budget) {
    CredentialBudget& r = row(w.key);
    r.writes_last_minute = w.in_last_minute;
    r.writes_last_hour = w.in_last_hour;
    r.write_waits = w.waits;
    r.writes_deferred = w.deferred;
  }
  std::vector<CredentialBudget> out;
  for (auto& [credential, r] : rows) out.push_back(std::move(r));
  return out;
}

}  // namespace wavebot::github
