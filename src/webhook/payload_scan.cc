#include "webhook/payload_scan.h"

#include "webhook/json_plain_run.h"

#include <array>
#include <cmath>
#include <cstdlib>
#include <cstring>

namespace wavebot::webhook {
namespace {

// A single-pass, non-recursive RFC 8259 validator that also picks out the routing fields. It keeps
// one bit per open container (object or array) in a fixed array bounded by max_depth, so neither the
// stack nor the heap grows with the input. It replaced nlohmann's SAX parser here, which spent most of
// the ingress CPU copying every string into a std::string; the typed parse happens later, off the
// request path.

class Scanner {
 public:
  Scanner(std::string_view in, int max_depth) : p_(in.data()), end_(in.data() + in.size()), begin_(in.data()),
                                                max_depth_(max_depth) {}

  Result<PayloadSummary> Run() {
    SkipWs();
    if (p_ == end_) return Fail("body is not valid JSON at byte 1");
    if (*p_ != '{') {
      // Anything that is a JSON value but not an object gets the clearer message.
      if (*p_ == '[' || *p_ == '"' || *p_ == '-' || (*p_ >= '0' && *p_ <= '9') || *p_ == 't' || *p_ == 'f' ||
          *p_ == 'n') {
        return Fail("body is not a JSON object");
      }
      return Invalid();
    }
    if (!Value(0)) return error_;
    SkipWs();
    if (p_ != end_) return Invalid();
    return summary_;
  }

 private:
  // Parses one value iteratively. `base` is the depth of the container holding it.
  bool Value(int base) {
    // is_object[d] for open containers at depth d (1-based); a bitset would do, a bool array is simpler.
    bool is_object[kMaxSupportedDepth + 1] = {};
    int depth = base;
    // After a container opens or a comma, we expect a value (array) or key (object).
    for (;;) {
      SkipWs();
      if (p_ == end_) return InvalidB();
      char c = *p_;
      if (c == '{' || c == '[') {
        if (++depth > max_depth_ || depth > kMaxSupportedDepth) {
          error_ = Error(ErrorCode::kParse, "JSON nesting deeper than " + std::to_string(max_depth_) + " levels");
          return false;
        }
        is_object[depth] = c == '{';
        ++p_;
        SkipWs();
        if (p_ != end_ && *p_ == (c == '{' ? '}' : ']')) {  // empty container
          ++p_;
          --depth;
          if (!AfterValue(is_object, depth)) return false;
          if (depth == base) return true;
          continue;
        }
        if (is_object[depth] && !Key(depth)) return false;
        continue;
      }
      // A scalar.
      const bool capture = depth >= 1 && depth <= 2 && is_object[depth];
      if (c == '"') {
        std::string* target = nullptr;
        if (capture && depth == 1 && key1_ == "action") target = &summary_.action;
        if (capture && depth == 2 && key1_ == "repository" && key2_ == "full_name") target = &summary_.repository;
        if (!String(target)) return false;
      } else if (c == '-' || (c >= '0' && c <= '9')) {
        const char* start = p_;
        if (!Number()) return false;
        if (capture && depth == 2 && key1_ == "installation" && key2_ == "id") {
          summary_.installation_id = std::strtoll(std::string(start, p_).c_str(), nullptr, 10);
        }
      } else if (!Literal("true") && !Literal("false") && !Literal("null")) {
        return InvalidB();
      }
      if (!AfterValue(is_object, depth)) return false;
      if (depth == base) return true;
    }
  }

  // After a value inside containers: consume ',' (then a key if in an object) or closing brackets.
  bool AfterValue(const bool* is_object, int& depth) {
    for (;;) {
      if (depth == 0) return true;
      SkipWs();
      if (p_ == end_) return InvalidB();
      if (*p_ == ',') {
        ++p_;
        if (is_object[depth]) {
          SkipWs();
          return Key(depth);
        }
        return true;
      }
      if (*p_ == (is_object[depth] ? '}' : ']')) {
        ++p_;
        --depth;
        continue;
      }
      return InvalidB();
    }
  }

  // "key" : (leaves p_ at the value)
  bool Key(int depth) {
    if (p_ == end_ || *p_ != '"') return InvalidB();
    std::string key;
    if (!String(depth <= 2 ? &key : nullptr)) return false;
    if (depth == 1) key1_ = std::move(key), key2_.clear();
    if (depth == 2) key2_ = std::move(key);
    SkipWs();
    if (p_ == end_ || *p_ != ':') return InvalidB();
    ++p_;
    return true;
  }

  bool String(std::string* out) {
    ++p_;  // opening quote
    if (out) out->clear();
    while (p_ < end_) {
      // Fast path: a run of printable ASCII other than '"' and '\\' needs no further checks.
      const char* run = p_;
      p_ = SkipJsonPlainRun(p_, end_);
      if (out && p_ > run) out->append(run, static_cast<size_t>(p_ - run));
      if (p_ == end_) break;
      unsigned char c = static_cast<unsigned char>(*p_);
      if (c == '"') {
        ++p_;
        return true;
      }
      if (c < 0x20) return InvalidB();
      if (c == '\\') {
        if (++p_ == end_) return InvalidB();
        char e = *p_++;
        const char* simple = std::strchr("\"\\/bfnrt", e);
        if (e != '\0' && simple) {
          if (out) out->push_back("\"\\/\b\f\n\r\t"[simple - "\"\\/bfnrt"]);
          continue;
        }
        if (e != 'u') return InvalidB();
        uint32_t cp = 0;
        if (!Hex4(&cp)) return false;
        if (cp >= 0xD800 && cp <= 0xDBFF) {  // high surrogate: a low one must follow
          uint32_t lo = 0;
          if (end_ - p_ < 2 || p_[0] != '\\' || p_[1] != 'u') return InvalidB();
          p_ += 2;
          if (!Hex4(&lo) || lo < 0xDC00 || lo > 0xDFFF) return InvalidB();
          cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
          return InvalidB();
        }
        if (out) AppendUtf8(out, cp);
        continue;
      }
      // UTF-8: validate the sequence length, continuation bytes, overlongs and surrogates.
      int len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
      if (len == 0 || end_ - p_ < len) return InvalidB();
      uint32_t cp = len == 1 ? c : len == 2 ? (c & 0x1F) : len == 3 ? (c & 0x0F) : (c & 0x07);
      for (int i = 1; i < len; ++i) {
        unsigned char cc = static_cast<unsigned char>(p_[i]);
        if ((cc & 0xC0) != 0x80) return InvalidB();
        cp = (cp << 6) | (cc & 0x3F);
      }
      static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
      if (cp < kMin[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return InvalidB();
      if (out) out->append(p_, static_cast<size_t>(len));
      p_ += len;
    }
    return InvalidB();
  }

  bool Hex4(uint32_t* cp) {
    if (end_ - p_ < 4) return InvalidB();
    for (int i = 0; i < 4; ++i) {
      char h = *p_++;
      int v = h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10 : h >= 'A' && h <= 'F' ? h - 'A' + 10 : -1;
      if (v < 0) return InvalidB();
      *cp = *cp << 4 | static_cast<uint32_t>(v);
    }
    return true;
  }

  // -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?
  bool Number() {
    const char* start = p_;
    bool exponent = false;
    if (*p_ == '-') ++p_;
    if (p_ == end_) return InvalidB();
    if (*p_ == '0') {
      ++p_;
    } else if (*p_ >= '1' && *p_ <= '9') {
      while (p_ < end_ && *p_ >= '0' && *p_ <= '9') ++p_;
    } else {
      return InvalidB();
    }
    if (p_ < end_ && *p_ == '.') {
      ++p_;
      if (p_ == end_ || *p_ < '0' || *p_ > '9') return InvalidB();
      while (p_ < end_ && *p_ >= '0' && *p_ <= '9') ++p_;
    }
    if (p_ < end_ && (*p_ == 'e' || *p_ == 'E')) {
      exponent = true;
      ++p_;
      if (p_ < end_ && (*p_ == '+' || *p_ == '-')) ++p_;
      if (p_ == end_ || *p_ < '0' || *p_ > '9') return InvalidB();
      while (p_ < end_ && *p_ >= '0' && *p_ <= '9') ++p_;
    }
    // Like the typed parser later, refuse a number a double cannot hold (only possible with an
    // exponent or hundreds of digits, so the common case costs nothing).
    if (exponent || p_ - start > 300) {
      double v = std::strtod(std::string(start, p_).c_str(), nullptr);
      if (std::isinf(v)) return InvalidB();
    }
    return true;
  }

  bool Literal(const char* word) {
    size_t n = std::strlen(word);
    if (static_cast<size_t>(end_ - p_) < n || std::memcmp(p_, word, n) != 0) return false;
    p_ += n;
    return true;
  }

  void SkipWs() {
    while (p_ < end_ && (*p_ == ' ' || *p_ == '\n' || *p_ == '\r' || *p_ == '\t')) ++p_;
  }

  Error Fail(const std::string& message) { return Error(ErrorCode::kParse, message); }
  Error Invalid() {
    return Error(ErrorCode::kParse, "body is not valid JSON at byte " + std::to_string(p_ - begin_ + 1));
  }
  bool InvalidB() {
    error_ = Invalid();
    return false;
  }

  static constexpr int kMaxSupportedDepth = 256;
  const char* p_;
  const char* const end_;
  const char* const begin_;
  const int max_depth_;
  std::string key1_, key2_;
  PayloadSummary summary_;
  Error error_{ErrorCode::kParse, "body is not valid JSON"};
};

}  // namespace

Result<PayloadSummary> ScanPayload(std::string_view body, int max_depth) {
  return Scanner(body, max_depth).Run();
}

}  // namespace wavebot::webhook
