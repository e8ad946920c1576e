// Fuzzes the parser of a git server's ls-refs answer (github/git_ls_refs.h), bytes from the network:
// any input parses without crashing, and every ref it gives has a name and a 40- or 64-digit lowercase
// hexadecimal object id; an error is one of the two documented codes.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "github/git_ls_refs.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view body(reinterpret_cast<const char*>(data), size);
  auto refs = wavebot::github::ParseLsRefs(body);
  if (!refs.ok()) {
    auto code = refs.error().code();
    if (code != wavebot::ErrorCode::kParse && code != wavebot::ErrorCode::kUnavailable) std::abort();
    return 0;
  }
  for (const auto& [name, oid] : *refs) {
    if (name.empty() || name.find(' ') != std::string::npos) std::abort();
    if (oid.size() != 40 && oid.size() != 64) std::abort();
    for (char c : oid) {
      if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) std::abort();
    }
  }
  return 0;
}
