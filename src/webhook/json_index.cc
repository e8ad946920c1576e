#include "webhook/json_index.h"

#include <array>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>

#include "webhook/json_plain_run.h"

namespace wavebot::webhook {
namespace {

int HexDigit(char h) {
  return h >= '0' && h <= '9'   ? h - '0'
         : h >= 'a' && h <= 'f' ? h - 'a' + 10
         : h >= 'A' && h <= 'F' ? h - 'A' + 10
                                : -1;
}

uint32_t Hex4(const char* p) {  // p holds four validated hex digits
  uint32_t cp = 0;
  for (int i = 0; i < 4; ++i) cp = cp << 4 | static_cast<uint32_t>(HexDigit(p[i]));
  return cp;
}

// Unescapes validated string contents.
std::string Unescape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    if (s[i] != '\\') {
      size_t next = s.find('\\', i);
      if (next == std::string_view::npos) next = s.size();
      out.append(s.data() + i, next - i);
      i = next;
      continue;
    }
    char e = s[i + 1];
    i += 2;
    switch (e) {
      case 'b':
        out.push_back('\b');
        break;
      case 'f':
        out.push_back('\f');
        break;
      case 'n':
        out.push_back('\n');
        break;
      case 'r':
        out.push_back('\r');
        break;
      case 't':
        out.push_back('\t');
        break;
      case 'u': {
        uint32_t cp = Hex4(s.data() + i);
        i += 4;
        if (cp >= 0xD800 && cp <= 0xDBFF) {  // validated: "\uDC00".."\uDFFF" follows
          uint32_t lo = Hex4(s.data() + i + 2);
          i += 6;
          cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        }
        AppendUtf8(&out, cp);
        break;
      }
      default:
        out.push_back(e);
        break;  // '"', '\\', '/'
    }
  }
  return out;
}

}  // namespace

class JsonIndex::Builder {
 public:
  Builder(JsonIndex* doc, const char* begin, const char* end)
      : doc_(doc), base_(doc->input_.data()), p_(begin), end_(end) {}

  bool Run() {
    std::vector<uint32_t> open;  // indices of the containers not yet closed, innermost last
    auto& nodes = doc_->nodes_;
    for (;;) {
      // A value is expected here.
      SkipWs();
      if (p_ == end_) return false;
      const char c = *p_;
      if (c == '{' || c == '[') {
        ++p_;
        open.push_back(static_cast<uint32_t>(nodes.size()));
        nodes.push_back(Node{c == '{' ? Type::kObject : Type::kArray, false, 0, 0, 0});
        SkipWs();
        if (p_ != end_ && *p_ == (c == '{' ? '}' : ']')) {
          ++p_;
          nodes[open.back()].end = static_cast<uint32_t>(nodes.size());
          open.pop_back();
        } else {
          if (c == '{' && !Key()) return false;
          continue;
        }
      } else if (c == '"') {
        if (!String()) return false;
      } else if (c == '-' || (c >= '0' && c <= '9')) {
        if (!Number()) return false;
      } else if (!Literal("true", Type::kTrue) && !Literal("false", Type::kFalse) &&
                 !Literal("null", Type::kNull)) {
        return false;
      }
      // After a value: a comma (then a key in an object), closing brackets, or the end of the document.
      for (;;) {
        SkipWs();
        // A NUL byte where a token could start ends the document, as in nlohmann (made for C strings).
        if (open.empty()) return p_ == end_ || *p_ == '\0';
        if (p_ == end_) return false;
        Node& top = nodes[open.back()];
        if (*p_ == ',') {
          ++p_;
          if (top.type == Type::kObject) {
            SkipWs();
            if (!Key()) return false;
          }
          break;
        }
        if (*p_ != (top.type == Type::kObject ? '}' : ']')) return false;
        ++p_;
        top.end = static_cast<uint32_t>(nodes.size());
        open.pop_back();
      }
    }
  }

 private:
  void SkipWs() {
    while (p_ < end_ && (*p_ == ' ' || *p_ == '\n' || *p_ == '\r' || *p_ == '\t')) ++p_;
  }

  void Push(Type type, const char* start, const char* stop, bool escaped = false) {
    auto& nodes = doc_->nodes_;
    Node n{type, escaped, static_cast<uint32_t>(nodes.size() + 1), static_cast<uint32_t>(start - base_),
           static_cast<uint32_t>(stop - start)};
    nodes.push_back(n);
  }

  // "key" : (leaves p_ at the value)
  bool Key() {
    if (p_ == end_ || *p_ != '"' || !String()) return false;
    SkipWs();
    if (p_ == end_ || *p_ != ':') return false;
    ++p_;
    return true;
  }

  bool String() {
    const char* start = ++p_;  // past the opening quote
    bool escaped = false;
    while (p_ < end_) {
      p_ = SkipJsonPlainRun(p_, end_);
      if (p_ == end_) break;
      const unsigned char c = static_cast<unsigned char>(*p_);
      if (c == '"') {
        Push(Type::kString, start, p_, escaped);
        ++p_;
        return true;
      }
      if (c < 0x20) return false;
      if (c == '\\') {
        escaped = true;
        if (++p_ == end_) return false;
        const char e = *p_++;
        if (e == '"' || e == '\\' || e == '/' || e == 'b' || e == 'f' || e == 'n' || e == 'r' || e == 't')
          continue;
        if (e != 'u') return false;
        uint32_t cp = 0;
        if (!ReadHex4(&cp)) return false;
        if (cp >= 0xD800 && cp <= 0xDBFF) {  // a high surrogate: a low one must follow
          uint32_t lo = 0;
          if (end_ - p_ < 2 || p_[0] != '\\' || p_[1] != 'u') return false;
          p_ += 2;
          if (!ReadHex4(&lo) || lo < 0xDC00 || lo > 0xDFFF) return false;
        } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
          return false;
        }
        continue;
      }
      // UTF-8: sequence length, continuation bytes, overlongs, surrogates, beyond U+10FFFF.
      const int len = (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
      if (len == 0 || end_ - p_ < len) return false;
      uint32_t cp = len == 2 ? (c & 0x1F) : len == 3 ? (c & 0x0F) : (c & 0x07);
      for (int i = 1; i < len; ++i) {
        const unsigned char cc = static_cast<unsigned char>(p_[i]);
        if ((cc & 0xC0) != 0x80) return false;
        cp = (cp << 6) | (cc & 0x3F);
      }
      static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
      if (cp < kMin[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
      p_ += len;
    }
    return false;
  }

  bool ReadHex4(uint32_t* cp) {
    if (end_ - p_ < 4) return false;
    for (int i = 0; i < 4; ++i) {
      if (HexDigit(p_[i]) < 0) return false;
    }
    *cp = Hex4(p_);
    p_ += 4;
    return true;
  }

  // -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?
  bool Number() {
    const char* start = p_;
    bool exponent = false;
    if (*p_ == '-') ++p_;
    if (p_ == end_) return false;
    if (*p_ == '0') {
      ++p_;
    } else if (*p_ >= '1' && *p_ <= '9') {
      while (p_ < end_ && *p_ >= '0' && *p_ <= '9') ++p_;
    } else {
      return false;
    }
    if (p_ < end_ && *p_ == '.') {
      ++p_;
      if (p_ == end_ || *p_ < '0' || *p_ > '9') return false;
      while (p_ < end_ && *p_ >= '0' && *p_ <= '9') ++p_;
    }
    if (p_ < end_ && (*p_ == 'e' || *p_ == 'E')) {
      exponent = true;
      ++p_;
      if (p_ < end_ && (*p_ == '+' || *p_ == '-')) ++p_;
      if (p_ == end_ || *p_ < '0' || *p_ > '9') return false;
      while (p_ < end_ && *p_ >= '0' && *p_ <= '9') ++p_;
    }
    // nlohmann refuses a number whose double is infinite ("number overflow"); only an exponent or more
    // than 300 characters can get there, so the common case costs nothing.
    if ((exponent || p_ - start > 300) && std::isinf(std::strtod(std::string(start, p_).c_str(), nullptr))) {
      return false;
    }
    Push(Type::kNumber, start, p_);
    return true;
  }

  bool Literal(const char* word, Type type) {
    const size_t n = std::strlen(word);
    if (static_cast<size_t>(end_ - p_) < n || std::memcmp(p_, word, n) != 0) return false;
    Push(type, p_, p_ + n);
    p_ += n;
    return true;
  }

  JsonIndex* doc_;
  const char* const base_;
  const char* p_;
  const char* const end_;
};

bool JsonIndex::Parse(std::string_view json) {
  input_ = json;
  nodes_.clear();
  if (json.size() >= std::numeric_limits<uint32_t>::max()) return false;
  nodes_.reserve(json.size() / 24 + 4);  // GitHub's payloads hold about one value per 30 bytes
  const char* begin = json.data();
  if (json.size() >= 3 && std::memcmp(begin, "\xEF\xBB\xBF", 3) == 0)
    begin += 3;  // a BOM, skipped like nlohmann
  if (!Builder(this, begin, json.data() + json.size()).Run()) {
    nodes_.clear();
    return false;
  }
  return true;
}

JsonIndex::Type JsonIndex::Value::type() const { return doc_->nodes_[node_].type; }

JsonIndex::Value JsonIndex::Value::Find(std::string_view key) const {
  if (!is_object()) return Value();
  const auto& nodes = doc_->nodes_;
  Value found;
  for (uint32_t i = node_ + 1; i < nodes[node_].end; i = nodes[i + 1].end) {
    const Node& k = nodes[i];
    const bool match = k.escaped ? Unescape(doc_->text(k)) == key : doc_->text(k) == key;
    if (match) found = Value(doc_, i + 1);
  }
  return found;
}

std::string JsonIndex::Value::String() const {
  const Node& n = doc_->nodes_[node_];
  return n.escaped ? Unescape(doc_->text(n)) : std::string(doc_->text(n));
}

JsonIndex::NumberKind JsonIndex::Value::Number(int64_t* i, uint64_t* u, double* d) const {
  const std::string_view t = doc_->text(doc_->nodes_[node_]);
  if (t.find_first_of(".eE") == std::string_view::npos) {
    // An integer token: signed when negative, unsigned otherwise, as long as it fits 64 bits.
    if (t[0] == '-') {
      auto [ptr, ec] = std::from_chars(t.data(), t.data() + t.size(), *i);
      if (ec == std::errc() && ptr == t.data() + t.size()) return NumberKind::kSigned;
    } else {
      auto [ptr, ec] = std::from_chars(t.data(), t.data() + t.size(), *u);
      if (ec == std::errc() && ptr == t.data() + t.size()) return NumberKind::kUnsigned;
    }
  }
  *d = std::strtod(std::string(t).c_str(), nullptr);
  return NumberKind::kFloat;
}

std::vector<JsonIndex::Value> JsonIndex::Value::Elements() const {
  std::vector<Value> out;
  if (!is_array()) return out;
  const auto& nodes = doc_->nodes_;
  for (uint32_t i = node_ + 1; i < nodes[node_].end; i = nodes[i].end) out.push_back(Value(doc_, i));
  return out;
}

}  // namespace wavebot::webhook
