#include "core/links.h"

#include "core/markdown.h"

#include <algorithm>
#include <cctype>
#include <memory>
#include <mutex>
#include <unordered_set>

namespace wavebot::core {
namespace {

bool IsWordChar(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }
bool IsRepoChar(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.'; }
char Lower(char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); }

bool StartsWithCi(std::string_view s, size_t pos, std::string_view word) {
  if (pos + word.size() > s.size()) return false;
  for (size_t i = 0; i < word.size(); ++i) {
    if (Lower(s[pos + i]) != word[i]) return false;
  }
  return true;
}

// Parses a decimal issue number at s[*pos]; at most 12 digits, not zero.
bool ParseNumber(std::string_view s, size_t* pos, int64_t* out) {
  size_t i = *pos;
  int64_t n = 0;
  size_t digits = 0;
  while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) {
    if (++digits > 12) return false;
    n = n * 10 + (s[i] - '0');
    ++i;
  }
  if (digits == 0 || n == 0) return false;
  // A reference ends at a non-word character: "#12abc" is not a reference.
  if (i < s.size() && IsWordChar(s[i])) return false;
  *pos = i;
  *out = n;
  return true;
}

// Parses one reference at s[*pos]: "#N", "owner/repo#N" or a URL. Advances *pos past it on success.
bool ParseRef(std::string_view s, size_t* pos, IssueRef* ref) {
  size_t i = *pos;
  if (i >= s.size()) return false;
  if (s[i] == '#') {
    size_t j = i + 1;
    int64_t n;
    if (!ParseNumber(s, &j, &n)) return false;
    *ref = IssueRef{"", n};
    *pos = j;
    return true;
  }
  if (StartsWithCi(s, i, "http://") || StartsWithCi(s, i, "https://")) {
    size_t end = i;
    while (end < s.size() && !std::isspace(static_cast<unsigned char>(s[end])) && s[end] != ',' &&
           s[end] != ';' && s[end] != ')' && s[end] != '>') {
      ++end;
    }
    std::string_view url = s.substr(i, end - i);
    while (!url.empty() && (url.back() == '.' || url.back() == ':')) url.remove_suffix(1);
    if (!ParseIssueUrl(url, ref)) return false;
    *pos = i + url.size();
    return true;
  }
  // owner/repo#N
  size_t j = i;
  while (j < s.size() && IsRepoChar(s[j])) ++j;
  if (j == i || j >= s.size() || s[j] != '/') return false;
  size_t slash = j++;
  size_t name_start = j;
  while (j < s.size() && IsRepoChar(s[j])) ++j;
  if (j == name_start || j >= s.size() || s[j] != '#') return false;
  size_t hash = j++;
  int64_t n;
  if (!ParseNumber(s, &j, &n)) return false;
  (void)slash;
  *ref = IssueRef{std::string(s.substr(i, hash - i)), n};
  *pos = j;
  return true;
}

constexpr std::string_view kKeywords[] = {"depends on", "depends-on", "depend on", "blocked by",
                                          "blocked-by", "requires", "after"};

// Appends `ref` unless already present. Lists are short except an epic's task list, which can hold
// thousands of items: past a few entries a hash set keeps this linear overall.
class RefList {
 public:
  explicit RefList(std::vector<IssueRef>* refs) : refs_(refs) {}
  void Add(const IssueRef& ref) {
    if (refs_->size() < 16) {
      if (std::find(refs_->begin(), refs_->end(), ref) == refs_->end()) refs_->push_back(ref);
      return;
    }
    if (seen_.empty()) {
      for (const auto& r : *refs_) seen_.insert(FormatRef(r));
    }
    if (seen_.insert(FormatRef(ref)).second) refs_->push_back(ref);
  }

 private:
  std::vector<IssueRef>* refs_;
  std::unordered_set<std::string> seen_;
};

// Scans flattened paragraph text for "<keyword>[:] <ref>[, <ref>]*".
void ScanDependencies(std::string_view text, RefList* out) {
  for (size_t i = 0; i < text.size(); ++i) {
    if (i > 0 && IsWordChar(text[i - 1])) continue;
    char c = Lower(text[i]);
    if (c != 'd' && c != 'b' && c != 'r' && c != 'a') continue;
    for (std::string_view kw : kKeywords) {
      if (!StartsWithCi(text, i, kw)) continue;
      size_t p = i + kw.size();
      if (p < text.size() && IsWordChar(text[p])) break;  // "afterwards", "requirement"
      // Optional colon, then the list.
      while (p < text.size() && (text[p] == ' ' || text[p] == '\t' || text[p] == '\n')) ++p;
      if (p < text.size() && text[p] == ':') ++p;
      bool any = false;
      while (true) {
        // Separators between references.
        size_t q = p;
        while (q < text.size()) {
          if (text[q] == ' ' || text[q] == '\t' || text[q] == '\n' || text[q] == ',' || text[q] == ';' ||
              text[q] == '&') {
            ++q;
          } else if (any && StartsWithCi(text, q, "and") && q + 3 < text.size() && !IsWordChar(text[q + 3])) {
            q += 3;
          } else if (any && StartsWithCi(text, q, "or") && q + 2 < text.size() && !IsWordChar(text[q + 2])) {
            q += 2;
          } else {
            break;
          }
        }
        IssueRef ref;
        size_t r = q;
        if (!ParseRef(text, &r, &ref)) break;
        out->Add(ref);
        any = true;
        p = r;
      }
      i = p > i ? p - 1 : i;
      break;
    }
  }
}

}  // namespace

std::string FormatRef(const IssueRef& ref) {
  return (ref.repo.empty() ? std::string() : ref.repo) + "#" + std::to_string(ref.number);
}

bool SameRepo(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return Lower(x) == Lower(y); });
}

bool ParseIssueUrl(std::string_view url, IssueRef* ref) {
  size_t p;
  if (StartsWithCi(url, 0, "https://")) {
    p = 8;
  } else if (StartsWithCi(url, 0, "http://")) {
    p = 7;
  } else {
    return false;
  }
  size_t host_end = url.find('/', p);
  if (host_end == std::string_view::npos || host_end == p) return false;
  // Split the path: owner / repo / (issues|pull) / N [ / | # | ? ... ]
  std::string_view path = url.substr(host_end + 1);
  size_t cut = path.find_first_of("?#");
  if (cut != std::string_view::npos) path = path.substr(0, cut);
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (start <= path.size()) {
    size_t slash = path.find('/', start);
    if (slash == std::string_view::npos) slash = path.size();
    parts.push_back(path.substr(start, slash - start));
    start = slash + 1;
  }
  if (!parts.empty() && parts.back().empty()) parts.pop_back();
  if (parts.size() != 4) return false;
  if (parts[2] != "issues" && parts[2] != "pull") return false;
  for (int k = 0; k < 2; ++k) {
    if (parts[k].empty() || !std::all_of(parts[k].begin(), parts[k].end(), IsRepoChar)) return false;
  }
  size_t q = 0;
  int64_t n;
  if (!ParseNumber(parts[3], &q, &n) || q != parts[3].size()) return false;
  *ref = IssueRef{std::string(parts[0]) + "/" + std::string(parts[1]), n};
  return true;
}

ParsedLinks ParseLinks(std::string_view markdown) {
  ParsedLinks links;
  if (markdown.empty()) return links;
  // Most bodies mention no dependency and hold no task list: skip the Markdown parse for them.
  bool candidate = markdown.find('[') != std::string_view::npos;
  for (size_t i = 0; !candidate && i < markdown.size(); ++i) {
    char c = Lower(markdown[i]);
    if (c != 'd' && c != 'b' && c != 'r' && c != 'a') continue;
    for (std::string_view kw : kKeywords) {
      if (StartsWithCi(markdown, i, kw)) {
        candidate = true;
        break;
      }
    }
  }
  if (!candidate) return links;
  RefList deps(&links.depends_on);
  RefList tasks(&links.task_list);
  ForEachVisibleBlock(markdown, [&](const VisibleBlock& block) {
    const std::string& text = block.text;
    ScanDependencies(text, &deps);
    // A task-list item's first paragraph: "[ ] #12 ..." or "[x] #12 ...".
    if (block.first_in_list_item && text.size() > 4 && text[0] == '[' &&
        (text[1] == ' ' || text[1] == 'x' || text[1] == 'X') && text[2] == ']' && (text[3] == ' ' || text[3] == '\t')) {
      size_t p = 4;
      while (p < text.size() && (text[p] == ' ' || text[p] == '\t')) ++p;
      IssueRef ref;
      if (ParseRef(text, &p, &ref)) tasks.Add(ref);
    }
  });
  return links;
}

}  // namespace wavebot::core
