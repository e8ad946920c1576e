// Unpredictable bytes from the kernel, for nonces and tokens that must not be guessed.
#pragma once

#include <cstddef>
#include <string>

namespace wavebot {

// `bytes` random bytes as lower-case hex (2 * `bytes` characters), from getrandom(2). Never returns
// predictable output: if the kernel cannot supply randomness the process aborts (it has no safe
// fallback). Thread-safe.
std::string RandomHex(size_t bytes);

}  // namespace wavebot
