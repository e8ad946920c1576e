// Where the test tooling (npm ci in tests/contract) puts @octokit/webhooks-examples: GitHub's example
// webhook payloads, read by the event parser's tests.
#pragma once

namespace wavebot::testing {

inline constexpr const char* kWebhookExamples =
    WAVEBOT_SOURCE_DIR "/tests/contract/node_modules/@octokit/webhooks-examples/api.github.com/index.json";

}  // namespace wavebot::testing
