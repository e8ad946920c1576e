#include "core/repo_path.h"

namespace wavebot::core {
namespace {

std::string Component(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    const bool keep = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
                      c == '_' || c == '-';
    out.push_back(keep ? c : '_');
  }
  if (out.empty() || out == "." || out == "..") return "_";
  return out;
}

}  // namespace

std::string RepoPath(std::string_view repo) {
  const size_t slash = repo.find('/');
  if (slash == std::string_view::npos) return Component(repo) + "/_";
  return Component(repo.substr(0, slash)) + "/" + Component(repo.substr(slash + 1));
}

}  // namespace wavebot::core
