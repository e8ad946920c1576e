// A read-only index of one JSON document, built in a single non-recursive pass: every value becomes a
// 16-byte node in document order whose text points into the input, so reading a field copies only that
// field, unescapes only when it holds escapes, and converts a number only when it is read. It replaced
// an nlohmann DOM in ParseEvent (events.cc), which allocated a std::map and a std::string for every
// object and string of the body.
//
// It accepts exactly what nlohmann::json::parse (strict, no comments) accepts: RFC 8259 with UTF-8
// validated in strings (no overlongs, no surrogates, no lone \u surrogates), an optional leading UTF-8
// BOM, a NUL byte after the document ending it like the end of the input, and no number a double
// cannot hold. Numbers read the way nlohmann reads them: an integer token
// is signed when negative, unsigned otherwise, a double when it does not fit 64 bits. Duplicate keys:
// the last one wins, as in nlohmann's DOM. The input must outlive the index.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace wavebot::webhook {

class JsonIndex {
 public:
  enum class Type : uint8_t { kNull, kFalse, kTrue, kNumber, kString, kArray, kObject };
  enum class NumberKind : uint8_t { kSigned, kUnsigned, kFloat };

  // A value of the document; a default-constructed one is "absent".
  class Value {
   public:
    Value() = default;
    bool present() const { return doc_ != nullptr; }
    explicit operator bool() const { return present(); }
    Type type() const;
    bool is_object() const { return present() && type() == Type::kObject; }
    bool is_array() const { return present() && type() == Type::kArray; }
    bool is_string() const { return present() && type() == Type::kString; }
    bool is_number() const { return present() && type() == Type::kNumber; }
    bool is_bool() const { return present() && (type() == Type::kTrue || type() == Type::kFalse); }
    bool is_null() const { return present() && type() == Type::kNull; }
    bool as_bool() const { return present() && type() == Type::kTrue; }
    // The member `key` of an object (the last one when the key repeats); absent when this is not an
    // object or has no such member.
    Value Find(std::string_view key) const;
    // The string's contents, unescaped. Call on strings only.
    std::string String() const;
    // How nlohmann would hold this number, with its value in the matching out-parameter (the others
    // untouched). Call on numbers only.
    NumberKind Number(int64_t* i, uint64_t* u, double* d) const;
    // The elements of an array, in order. Empty when this is not an array.
    std::vector<Value> Elements() const;

   private:
    friend class JsonIndex;
    Value(const JsonIndex* doc, uint32_t node) : doc_(doc), node_(node) {}
    const JsonIndex* doc_ = nullptr;
    uint32_t node_ = 0;
  };

  // Indexes `json`. Returns false when it is not valid JSON (as nlohmann::json::parse would refuse it).
  // Inputs of 4 GiB or more are refused.
  bool Parse(std::string_view json);
  Value root() const { return nodes_.empty() ? Value() : Value(this, 0); }

 private:
  struct Node {
    Type type;
    bool escaped = false;  // strings: the text holds a backslash escape
    uint32_t end = 0;      // one past the last node of this value's subtree
    uint32_t offset = 0;   // strings: the contents between the quotes; numbers: the token
    uint32_t length = 0;
  };
  friend class Value;
  class Builder;
  std::string_view text(const Node& n) const { return input_.substr(n.offset, n.length); }

  std::string_view input_;
  // Objects hold key, value, key, value, ...: each key is a kString node followed by its value's subtree.
  std::vector<Node> nodes_;
};

}  // namespace wavebot::webhook
