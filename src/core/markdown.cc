#include "core/markdown.h"

#include <cmark-gfm-core-extensions.h>
#include <cmark-gfm-extension_api.h>
#include <cmark-gfm.h>

#include <memory>

#include "core/links.h"

namespace wavebot::core {
namespace {

struct NodeDeleter {
  void operator()(cmark_node* n) const { cmark_node_free(n); }
};
struct ParserDeleter {
  void operator()(cmark_parser* p) const { cmark_parser_free(p); }
};

cmark_syntax_extension* StrikethroughExtension() {
  static cmark_syntax_extension* ext = [] {
    cmark_gfm_core_extensions_ensure_registered();
    return cmark_find_syntax_extension("strikethrough");
  }();
  return ext;
}

void AppendInlineText(cmark_node* node, std::string* out) {
  for (cmark_node* child = cmark_node_first_child(node); child; child = cmark_node_next(child)) {
    cmark_node_type type = cmark_node_get_type(child);
    if (type == CMARK_NODE_TEXT) {
      const char* lit = cmark_node_get_literal(child);
      if (lit) out->append(lit);
    } else if (type == CMARK_NODE_SOFTBREAK || type == CMARK_NODE_LINEBREAK) {
      out->push_back('\n');
    } else if (type == CMARK_NODE_CODE || type == CMARK_NODE_HTML_INLINE) {
      out->push_back(' ');
    } else if (type == CMARK_NODE_LINK) {
      const char* url = cmark_node_get_url(child);
      IssueRef ref;
      if (url && ParseIssueUrl(url, &ref)) {
        out->push_back(' ');
        out->append(url);
        out->push_back(' ');
      } else {
        AppendInlineText(child, out);
      }
    } else if (StrikethroughExtension() && cmark_node_get_syntax_extension(child) == StrikethroughExtension()) {
      out->push_back(' ');
    } else {
      AppendInlineText(child, out);  // emphasis, strong, image alt text
    }
  }
}

void WalkBlocks(cmark_node* node, const std::function<void(const VisibleBlock&)>& fn) {
  for (cmark_node* child = cmark_node_first_child(node); child; child = cmark_node_next(child)) {
    switch (cmark_node_get_type(child)) {
      case CMARK_NODE_BLOCK_QUOTE:
      case CMARK_NODE_CODE_BLOCK:
      case CMARK_NODE_HTML_BLOCK:
        break;
      case CMARK_NODE_PARAGRAPH:
      case CMARK_NODE_HEADING: {
        VisibleBlock block;
        AppendInlineText(child, &block.text);
        cmark_node* parent = cmark_node_parent(child);
        block.first_in_list_item = cmark_node_get_type(child) == CMARK_NODE_PARAGRAPH && parent &&
                                   cmark_node_get_type(parent) == CMARK_NODE_ITEM &&
                                   cmark_node_first_child(parent) == child;
        fn(block);
        break;
      }
      default:
        WalkBlocks(child, fn);  // lists, items, tables
    }
  }
}

}  // namespace

void ForEachVisibleBlock(std::string_view markdown, const std::function<void(const VisibleBlock&)>& fn) {
  if (markdown.empty()) return;
  // cmark_parser_finish resets the parser (keeping its extensions), so each thread reuses one.
  thread_local std::unique_ptr<cmark_parser, ParserDeleter> parser = [] {
    std::unique_ptr<cmark_parser, ParserDeleter> p(cmark_parser_new(CMARK_OPT_DEFAULT));
    if (cmark_syntax_extension* st = StrikethroughExtension()) cmark_parser_attach_syntax_extension(p.get(), st);
    return p;
  }();
  cmark_parser_feed(parser.get(), markdown.data(), markdown.size());
  std::unique_ptr<cmark_node, NodeDeleter> doc(cmark_parser_finish(parser.get()));
  if (doc) WalkBlocks(doc.get(), fn);
}

}  // namespace wavebot::core
