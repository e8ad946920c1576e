#include "github/git_ls_refs.h"

#include <cstdio>

#include "common/hex.h"

namespace wavebot::github {
namespace {

void AppendPkt(std::string* out, std::string_view line) {
  char len[5];
  std::snprintf(len, sizeof(len), "%04zx", line.size() + 4);
  out->append(len, 4);
  out->append(line);
}

bool IsHex(std::string_view s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return !s.empty();
}

}  // namespace

std::string LsRefsRequest(const std::vector<std::string>& branches) {
  std::string out;
  AppendPkt(&out, "command=ls-refs\n");
  AppendPkt(&out, "agent=wavebot\n");
  out += "0001";
  for (const auto& b : branches) AppendPkt(&out, "ref-prefix refs/heads/" + b + "\n");
  out += "0000";
  return out;
}

Result<std::map<std::string, std::string>> ParseLsRefs(std::string_view body) {
  std::map<std::string, std::string> refs;
  size_t pos = 0;
  while (true) {
    if (body.size() - pos < 4) return Error(ErrorCode::kParse, "ls-refs: the answer ends before its flush packet");
    size_t len = 0;
    for (size_t i = 0; i < 4; ++i) {
      int v = HexDigitValue(body[pos + i]);
      if (v < 0) return Error(ErrorCode::kParse, "ls-refs: a packet length is not hexadecimal");
      len = len * 16 + static_cast<size_t>(v);
    }
    if (len == 0) return refs;  // flush: the end of the list
    if (len < 4 || len > body.size() - pos) return Error(ErrorCode::kParse, "ls-refs: a packet runs past the answer");
    std::string_view line = body.substr(pos + 4, len - 4);
    pos += len;
    if (!line.empty() && line.back() == '\n') line.remove_suffix(1);
    if (line.rfind("ERR ", 0) == 0) {
      return Error(ErrorCode::kUnavailable, "the git server answered ls-refs with: " + std::string(line.substr(4)));
    }
    const size_t space = line.find(' ');
    if (space == std::string_view::npos || (space != 40 && space != 64) || !IsHex(line.substr(0, space))) {
      return Error(ErrorCode::kParse, "ls-refs: a line is not '<object id> <ref name>'");
    }
    std::string_view name = line.substr(space + 1);
    name = name.substr(0, name.find(' '));  // attributes (symref-target:, peeled:) follow a space
    if (name.empty()) return Error(ErrorCode::kParse, "ls-refs: a line names no ref");
    refs[std::string(name)] = std::string(line.substr(0, space));
  }
}

}  // namespace wavebot::github
