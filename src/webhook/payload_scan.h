// A cheap first look at a webhook body before it is stored: is it one JSON object, no deeper than a
// limit, and what are its routing fields. Uses nlohmann's SAX parser, which keeps its own stack on the
// heap (no recursion), and stops at the first value nested deeper than the limit, so a 100,000-deep
// body costs neither stack nor a DOM.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.h"

namespace wavebot::webhook {

struct PayloadSummary {
  std::string action;          // top-level "action", "" when absent
  int64_t installation_id = 0; // installation.id, 0 when absent
  std::string repository;      // repository.full_name, "" when absent
};

inline constexpr int kMaxJsonDepth = 64;  // GitHub's payloads nest about 8 deep

// Errors (kParse, one line): "body is not valid JSON at byte N", "body is not a JSON object",
// "JSON nesting deeper than 64 levels". Thread-safe.
Result<PayloadSummary> ScanPayload(std::string_view body, int max_depth = kMaxJsonDepth);

}  // namespace wavebot::webhook
