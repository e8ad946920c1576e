#include "webhook/payload_scan.h"

#include <nlohmann/json.hpp>

#include <vector>

namespace wavebot::webhook {
namespace {

using nlohmann::json;

// Tracks the path of keys down to depth 2, which is all the summary needs.
class Scanner final : public nlohmann::json_sax<json> {
 public:
  explicit Scanner(int max_depth) : max_depth_(max_depth) {}

  bool null() override { return Value(); }
  bool boolean(bool) override { return Value(); }
  bool number_integer(number_integer_t v) override { return Int(v); }
  bool number_unsigned(number_unsigned_t v) override { return Int(static_cast<int64_t>(v)); }
  bool number_float(number_float_t, const string_t&) override { return Value(); }
  bool binary(binary_t&) override { return Value(); }
  bool string(string_t& s) override {
    if (!Top()) return false;
    if (depth_ == 1 && key1_ == "action") summary.action = s;
    if (depth_ == 2 && key1_ == "repository" && key2_ == "full_name" && in_object2_) summary.repository = s;
    return Value();
  }
  bool start_object(std::size_t) override { return Open(true); }
  bool start_array(std::size_t) override { return Open(false); }
  bool end_object() override { return Close(); }
  bool end_array() override { return Close(); }
  bool key(string_t& k) override {
    if (depth_ == 1) key1_ = k;
    if (depth_ == 2) key2_ = k;
    return true;
  }
  bool parse_error(std::size_t position, const std::string&, const nlohmann::detail::exception&) override {
    error = "body is not valid JSON at byte " + std::to_string(position);
    return false;
  }

  PayloadSummary summary;
  std::string error;

 private:
  bool Top() {
    if (depth_ == 0) {
      error = "body is not a JSON object";
      return false;
    }
    return true;
  }
  bool Value() { return Top(); }
  bool Int(int64_t v) {
    if (!Top()) return false;
    if (depth_ == 2 && key1_ == "installation" && key2_ == "id" && in_object2_) summary.installation_id = v;
    return true;
  }
  bool Open(bool object) {
    if (depth_ == 0 && !object) {
      error = "body is not a JSON object";
      return false;
    }
    if (++depth_ > max_depth_) {
      error = "JSON nesting deeper than " + std::to_string(max_depth_) + " levels";
      return false;
    }
    if (depth_ == 2) in_object2_ = object;
    if (depth_ == 1) key1_.clear();
    if (depth_ == 2) key2_.clear();
    return true;
  }
  bool Close() {
    --depth_;
    return true;
  }

  int max_depth_;
  int depth_ = 0;
  bool in_object2_ = false;
  std::string key1_, key2_;
};

}  // namespace

Result<PayloadSummary> ScanPayload(std::string_view body, int max_depth) {
  Scanner scanner(max_depth);
  bool ok = json::sax_parse(body.begin(), body.end(), &scanner, json::input_format_t::json, /*strict=*/true);
  if (!ok) {
    return Error(ErrorCode::kParse, scanner.error.empty() ? "body is not valid JSON" : scanner.error);
  }
  return scanner.summary;
}

}  // namespace wavebot::webhook
