#include "core/branch.h"

#include <cctype>

namespace wavebot::core {

std::string Slugify(std::string_view title, size_t max_len, std::string_view fallback) {
  std::string slug;
  bool dash = false;
  for (unsigned char c : title) {
    if (std::isalnum(c) && c < 0x80) {
      if (dash && !slug.empty()) slug.push_back('-');
      dash = false;
      if (slug.size() >= max_len) break;
      slug.push_back(static_cast<char>(std::tolower(c)));
    } else {
      dash = true;
    }
  }
  if (slug.size() > max_len) slug.resize(max_len);
  while (!slug.empty() && slug.back() == '-') slug.pop_back();
  if (slug.empty()) slug = std::string(fallback);
  return slug;
}

std::string EpicBranch(int64_t epic, std::string_view epic_title) {
  return "epic/" + std::to_string(epic) + "-" + Slugify(epic_title, 40, "epic");
}

std::string TicketBranch(int64_t epic, std::string_view epic_title, int64_t ticket, std::string_view ticket_title) {
  return "wave/" + std::to_string(epic) + "-" + Slugify(epic_title, 24, "epic") + "/" + std::to_string(ticket) +
         "-" + Slugify(ticket_title, 40, "ticket");
}

bool IsValidBranchName(std::string_view name) {
  if (name.empty() || name == "@" || name.front() == '/' || name.back() == '/' || name.back() == '.' ||
      name.front() == '-') {
    return false;
  }
  if (name.find("..") != std::string_view::npos || name.find("//") != std::string_view::npos ||
      name.find("@{") != std::string_view::npos) {
    return false;
  }
  size_t comp_start = 0;
  for (size_t i = 0; i <= name.size(); ++i) {
    if (i == name.size() || name[i] == '/') {
      std::string_view comp = name.substr(comp_start, i - comp_start);
      if (comp.empty() || comp.front() == '.') return false;
      if (comp.size() >= 5 && comp.substr(comp.size() - 5) == ".lock") return false;
      comp_start = i + 1;
      continue;
    }
    unsigned char c = static_cast<unsigned char>(name[i]);
    if (c < 0x20 || c == 0x7f || c == ' ' || c == '~' || c == '^' || c == ':' || c == '?' || c == '*' ||
        c == '[' || c == '\\') {
      return false;
    }
  }
  return true;
}

int64_t MergedPullNumber(std::string_view message) {
  auto number_at = [&](size_t i) -> int64_t {
    int64_t n = 0;
    size_t digits = 0;
    for (; i < message.size() && digits < 12 && std::isdigit(static_cast<unsigned char>(message[i])); ++i, ++digits) {
      n = n * 10 + (message[i] - '0');
    }
    return digits > 0 ? n : 0;
  };
  const std::string_view merge = "Merge pull request #";
  if (message.substr(0, merge.size()) == merge) return number_at(merge.size());
  std::string_view first = message.substr(0, message.find('\n'));
  while (!first.empty() && (first.back() == ' ' || first.back() == '\r')) first.remove_suffix(1);
  if (first.size() < 4 || first.back() != ')') return 0;
  const size_t open = first.rfind("(#");
  if (open == std::string_view::npos) return 0;
  const int64_t n = number_at(open + 2);
  return n > 0 && first.substr(open + 2 + std::to_string(n).size()) == ")" ? n : 0;
}

}  // namespace wavebot::core
