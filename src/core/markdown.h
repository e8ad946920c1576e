// What a reader sees of GitHub-flavoured Markdown, for the parsers that look for links and commands.
// Uses cmark-gfm, GitHub's own parser. Pure; thread-safe (one parser per thread, reused).
#pragma once

#include <functional>
#include <string>
#include <string_view>

namespace wavebot::core {

struct VisibleBlock {
  // The paragraph's or heading's inline text: code spans, raw HTML and struck-through text become a
  // space, line breaks '\n'; a link contributes its destination when that is an issue or pull-request
  // URL, otherwise its text.
  std::string text;
  bool first_in_list_item = false;  // the first paragraph of a list item (task-list syntax lives here)
};

// Calls `fn` for every paragraph and heading outside block quotes, fenced or indented code and HTML
// blocks, in document order.
void ForEachVisibleBlock(std::string_view markdown, const std::function<void(const VisibleBlock&)>& fn);

}  // namespace wavebot::core
