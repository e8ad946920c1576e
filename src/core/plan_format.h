// Renders a plan as a text table, as JSON (stable, documented in docs/plan.md) or as a Mermaid graph.
// Pure; thread-safe.
#pragma once

#include <string>

#include "core/plan.h"

namespace wavebot::core {

std::string PlanToText(const Plan& plan);
std::string PlanToJson(const Plan& plan);
// `graph TD` with one subgraph per wave (and one for blocked tickets), nodes labelled "#12 title".
std::string PlanToMermaid(const Plan& plan);

// Escapes text for a quoted Mermaid label: quotes, angle brackets, ampersands, backticks, '@' and line breaks
// become Mermaid entity codes, so a title cannot break out of its label.
std::string EscapeMermaidLabel(std::string_view text);

}  // namespace wavebot::core
