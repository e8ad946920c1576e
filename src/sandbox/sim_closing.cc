#include "sandbox/sim_closing.h"

#include <algorithm>
#include <array>
#include <cctype>

namespace wavebot::sandbox::sim {
namespace {

char Lower(char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); }
bool IsWord(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

bool EqualFold(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return Lower(x) == Lower(y); });
}

// The keyword starting at line[i], if any (longest first: "closes" before "close").
size_t KeywordAt(std::string_view line, size_t i) {
  static constexpr std::array<std::string_view, 9> kWords = {"closes", "closed", "close", "fixes", "fixed", "fix",
                                                              "resolves", "resolved", "resolve"};
  for (std::string_view w : kWords) {
    if (i + w.size() <= line.size() && EqualFold(line.substr(i, w.size()), w) &&
        (i + w.size() == line.size() || !IsWord(line[i + w.size()]))) {
      return w.size();
    }
  }
  return 0;
}

// A list item, a block quote: GitHub links nothing from them (list items), the simulator neither.
bool Unlinked(std::string_view line) {
  size_t i = line.find_first_not_of(' ');
  if (i == std::string_view::npos) return false;
  if (line[i] == '>') return true;
  if ((line[i] == '-' || line[i] == '*' || line[i] == '+') && i + 1 < line.size() && line[i + 1] == ' ') return true;
  size_t d = i;
  while (d < line.size() && std::isdigit(static_cast<unsigned char>(line[d]))) ++d;
  return d > i && d + 1 < line.size() && (line[d] == '.' || line[d] == ')') && line[d + 1] == ' ';
}

// Parses "#N" or "owner/name#N" (same repository only) at line[i]; 0 if none.
int64_t ReferenceAt(std::string_view line, size_t i, std::string_view full_name) {
  size_t hash = i;
  if (hash < line.size() && line[hash] != '#') {
    while (hash < line.size() && line[hash] != '#' && (IsWord(line[hash]) || line[hash] == '-' || line[hash] == '.' ||
                                                       line[hash] == '/')) {
      ++hash;
    }
    if (hash >= line.size() || line[hash] != '#' || !EqualFold(line.substr(i, hash - i), full_name)) return 0;
  }
  if (hash >= line.size() || line[hash] != '#') return 0;
  int64_t n = 0;
  size_t d = hash + 1;
  for (; d < line.size() && std::isdigit(static_cast<unsigned char>(line[d])) && n < (int64_t{1} << 40); ++d) {
    n = n * 10 + (line[d] - '0');
  }
  if (d == hash + 1 || (d < line.size() && IsWord(line[d]))) return 0;
  return n;
}

}  // namespace

std::vector<int64_t> ClosingReferences(std::string_view body, std::string_view full_name) {
  std::vector<int64_t> out;
  bool fenced = false;
  size_t start = 0;
  while (start <= body.size()) {
    size_t end = body.find('\n', start);
    if (end == std::string_view::npos) end = body.size();
    std::string_view line = body.substr(start, end - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    start = end + 1;
    size_t first = line.find_first_not_of(' ');
    if (first != std::string_view::npos && (line.substr(first, 3) == "```" || line.substr(first, 3) == "~~~")) {
      fenced = !fenced;
      continue;
    }
    if (fenced || Unlinked(line)) continue;
    for (size_t i = 0; i < line.size(); ++i) {
      if (i > 0 && IsWord(line[i - 1])) continue;
      size_t k = KeywordAt(line, i);
      if (k == 0) continue;
      size_t j = i + k;
      if (j < line.size() && line[j] == ':') ++j;
      size_t spaces = j;
      while (j < line.size() && (line[j] == ' ' || line[j] == '\t')) ++j;
      if (j == spaces) continue;
      int64_t n = ReferenceAt(line, j, full_name);
      if (n > 0 && std::find(out.begin(), out.end(), n) == out.end()) out.push_back(n);
      i = j;
    }
  }
  return out;
}

}  // namespace wavebot::sandbox::sim
