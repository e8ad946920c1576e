// Fuzzes reading an export and planning it: errors are fine, crashes and broken invariants are not.
#include <cstdint>
#include <cstdlib>
#include <set>
#include <string_view>

#include "core/plan.h"
#include "core/plan_format.h"
#include "core/plan_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto input = wavebot::core::ParsePlanExport(text, 1);
  if (!input.ok()) return 0;
  auto plan = wavebot::core::BuildPlan(*input);
  if (!plan.ok()) return 0;
  // Every ticket is in exactly one wave or blocked; every edge goes to a later wave.
  std::set<int64_t> seen;
  for (const auto& wave : plan->waves) {
    for (int64_t t : wave) {
      if (!seen.insert(t).second) std::abort();
    }
  }
  for (const auto& b : plan->blocked) {
    if (!seen.insert(b.ticket).second) std::abort();
  }
  if (seen.size() != plan->tickets.size()) std::abort();
  for (const auto& [a, b] : plan->edges) {
    if (plan->Find(a)->wave >= plan->Find(b)->wave) std::abort();
  }
  (void)wavebot::core::PlanToJson(*plan);
  (void)wavebot::core::PlanToMermaid(*plan);
  (void)wavebot::core::PlanToText(*plan);
  return 0;
}
