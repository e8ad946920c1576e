#include "git/ref_names.h"

#include <git2.h>

#include <cctype>

#include "git/libgit2_util.h"

namespace wavebot::git {

std::string SanitizeRefComponent(std::string_view text, size_t max_len) {
  std::string out;
  bool dash = false;
  for (unsigned char c : text) {
    if (std::isalnum(c) && c < 0x80) {
      if (dash && !out.empty()) out.push_back('-');
      dash = false;
      out.push_back(static_cast<char>(std::tolower(c)));
    } else {
      dash = true;
    }
    if (out.size() >= max_len) break;
  }
  while (!out.empty() && out.back() == '-') out.pop_back();
  if (out.size() > max_len) out.resize(max_len);
  while (!out.empty() && out.back() == '-') out.pop_back();
  return out.empty() ? "x" : out;
}

bool IsValidBranchName(std::string_view name) {
  if (name.empty() || name.front() == '-' || name.front() == '/') return false;
  if (name.find("..") != std::string_view::npos) return false;
  EnsureLibgit2();
  int valid = 0;
  std::string full = "refs/heads/" + std::string(name);
  if (git_reference_name_is_valid(&valid, full.c_str()) != 0) return false;
  return valid != 0;
}

bool IsValidRepoKey(std::string_view key) {
  auto slash = key.find('/');
  if (slash == std::string_view::npos || key.find('/', slash + 1) != std::string_view::npos) return false;
  for (std::string_view part : {key.substr(0, slash), key.substr(slash + 1)}) {
    if (part.empty() || part.front() == '.' || part.size() > 100) return false;
    for (unsigned char c : part) {
      if (!(std::isalnum(c) || c == '.' || c == '_' || c == '-') || c >= 0x80) return false;
    }
  }
  return true;
}

}  // namespace wavebot::git
