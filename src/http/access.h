// Who may read a private listener (the dashboard, JSON API and metrics): a pure check of the
// Authorization header against the configured tokens, so that it is tested without a socket.
#pragma once

#include <string>
#include <vector>

namespace wavebot::http {

enum class Access { kAllowed, kNoCredentials /* 401 */, kWrongCredentials /* 403 */ };

// `authorization` is the request's Authorization header ("" when absent). Accepted: "Bearer <token>",
// or "Basic base64(<any user>:<token>)" (what a browser sends after its login prompt). Comparisons are
// constant-time in the token's length. `tokens` must not be empty or hold an empty token.
Access CheckAccess(const std::string& authorization, const std::vector<std::string>& tokens);

}  // namespace wavebot::http
