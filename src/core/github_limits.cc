#include "core/github_limits.h"

namespace wavebot::core {
namespace {

// The byte offset of the last code point boundary at or before `at`.
size_t Boundary(const std::string& s, size_t at) {
  while (at > 0 && at < s.size() && (static_cast<unsigned char>(s[at]) & 0xC0) == 0x80) --at;
  return at;
}

size_t Count(std::string_view text, std::string_view what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string_view::npos; at = text.find(what, at + what.size())) ++n;
  return n;
}

// Counts fence lines ("```..." at the start of a line).
size_t Fences(std::string_view text) {
  size_t n = 0, pos = 0;
  while (pos < text.size()) {
    size_t eol = text.find('\n', pos);
    std::string_view line = text.substr(pos, eol == std::string_view::npos ? std::string_view::npos : eol - pos);
    if (line.substr(0, 3) == "```") ++n;
    if (eol == std::string_view::npos) break;
    pos = eol + 1;
  }
  return n;
}

}  // namespace

std::string FitBody(std::string body, std::string_view note, size_t max_bytes) {
  if (body.size() <= max_bytes) return body;
  // Room for what closes the cut: a fence, a few </details>, the note.
  const size_t closing_room = 64 + note.size() + 2;
  size_t keep = max_bytes > closing_room ? max_bytes - closing_room : 0;
  size_t cut = body.rfind('\n', keep == 0 ? 0 : keep - 1);
  cut = cut == std::string::npos ? Boundary(body, keep) : cut + 1;
  std::string out = body.substr(0, cut);
  if (!out.empty() && out.back() != '\n') out += '\n';
  if (Fences(out) % 2 == 1) out += "```\n";
  size_t opened = Count(out, "<details>"), closed = Count(out, "</details>");
  for (size_t i = closed; i < opened && i < closed + 4; ++i) out += "</details>\n";
  if (out.size() + note.size() + 1 <= max_bytes) {
    out += note;
    out += '\n';
  }
  if (out.size() > max_bytes) out.resize(Boundary(out, max_bytes));  // a pathological nesting: still within
  return out;
}

std::string FitTitle(std::string title) {
  size_t chars = 0, cut = 0;
  for (size_t i = 0; i < title.size(); ++i) {
    if ((static_cast<unsigned char>(title[i]) & 0xC0) == 0x80) continue;
    if (chars == kMaxTitleChars - 1) cut = i;  // where the 256th character starts
    ++chars;
  }
  if (chars <= kMaxTitleChars) return title;
  title.resize(cut);
  return title + "…";  // 255 characters and the ellipsis
}

}  // namespace wavebot::core
