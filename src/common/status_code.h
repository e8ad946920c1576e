// Telling an HTTP status code in a message from the same digits inside a number, an address or a port.
#pragma once

#include <cctype>
#include <string>

namespace wavebot {

// True when `text` holds the status code `code` (three digits) as a word of its own ("Error: 429 {",
// "(429)", "status code: 401"), not inside a longer number, an address or a port ("127.0.0.1:34429",
// "1.429"): error messages name servers with their ports, and any port may hold the digits.
inline bool HasStatusCode(const std::string& text, const std::string& code) {
  for (size_t at = text.find(code); at != std::string::npos; at = text.find(code, at + 1)) {
    const char before = at == 0 ? ' ' : text[at - 1];
    const size_t end = at + code.size();
    const char after = end < text.size() ? text[end] : ' ';
    if (!std::isdigit(static_cast<unsigned char>(before)) && before != ':' && before != '.' &&
        !std::isdigit(static_cast<unsigned char>(after))) {
      return true;
    }
  }
  return false;
}

}  // namespace wavebot
