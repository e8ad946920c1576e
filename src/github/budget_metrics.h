// GitHub's budget as spent through the client, as Prometheus text for /metrics (docs/github.md):
// requests, 304s and writes per credential with the x-ratelimit-* GitHub last reported, and the write
// budget's limits, window usage, waits and deferrals.
#pragma once

#include <string>
#include <vector>

#include "github/rest.h"
#include "github/write_budget.h"

namespace wavebot::github {

// "" when nothing was spent yet (no credential used, no write budgeted). Pure.
std::string RenderBudgetMetrics(const std::vector<CredentialUsage>& usage, const WriteBudgetLimits& limits,
                                const std::vector<WriteBudgetUsage>& budget);

// The same as records for the dashboard, one per credential, ordered by credential. The App's JWT
// ("app") has no write budget. Pure.
std::vector<CredentialBudget> BudgetRecords(const std::vector<CredentialUsage>& usage, const WriteBudgetLimits& limits,
                                            const std::vector<WriteBudgetUsage>& budget);

}  // namespace wavebot::github
