// ParseEvent as it was with nlohmann's DOM, the reference the JSON-index parse is compared against.
// Same contract as ParseEvent (webhook/events.h). Thread-safe.
#pragma once

#include <string_view>

#include "common/result.h"
#include "webhook/events.h"

namespace wavebot::webhook {

Result<Event> ParseEventWithDom(std::string_view event_name, std::string_view delivery_id, std::string_view body);

}  // namespace wavebot::webhook
