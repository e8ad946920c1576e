// Fuzzes the ingress request path (POST /webhook) without sockets: Ingress::HandleWebhook gets fuzzed
// headers and bodies, signed with the right secret or not, against an in-memory DeliveryStore.
// Invariants: only a correctly signed request is ever stored; a stored delivery has a valid id, a
// handled event name, and a body that is one JSON object within the depth limit (so the dispatcher's
// ParseEvent can read it); a repeated id is never stored twice; every answer is one of the documented
// statuses; /healthz and /metrics keep answering.
#include <cstdint>
#include <cstdlib>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "http/ingress.h"
#include "webhook/events.h"
#include "webhook/metrics.h"
#include "webhook/payload_scan.h"
#include "webhook/signature.h"

namespace {

using namespace wavebot;

constexpr char kSecret[] = "fuzz-webhook-secret";

// Keeps deliveries in a map; bounded so that millions of runs do not grow it.
class MemoryStore final : public store::DeliveryStore {
 public:
  Result<store::InsertOutcome> Insert(const store::NewDelivery& d) override {
    if (by_id_.size() > 4096) by_id_.clear();
    if (by_id_.count(d.id)) return store::InsertOutcome::kDuplicate;
    by_id_[d.id] = d;
    last_inserted_ = d.id;
    return store::InsertOutcome::kInserted;
  }
  Result<std::optional<store::Delivery>> ClaimNext(store::TimePoint) override {
    return std::optional<store::Delivery>();
  }
  Result<std::vector<store::Delivery>> ClaimBatch(store::TimePoint, int) override {
    return std::vector<store::Delivery>{};
  }
  Status Finish(const std::vector<store::DeliveryOutcome>&, store::TimePoint) override { return OkStatus(); }
  Status Complete(const std::string&, store::DeliveryStatus, store::TimePoint) override { return OkStatus(); }
  Status Fail(const std::string&, const std::string&, std::optional<store::TimePoint>, store::TimePoint) override {
    return OkStatus();
  }
  Result<int64_t> RequeueProcessing() override { return int64_t{0}; }
  Result<std::vector<store::Delivery>> List(std::optional<store::DeliveryStatus>, int) override {
    return std::vector<store::Delivery>{};
  }
  Result<store::Delivery> Get(const std::string&) override { return Error(ErrorCode::kNotFound, "none"); }
  Result<store::DeliveryStats> Stats() override {
    store::DeliveryStats s;
    s.pending = static_cast<int64_t>(by_id_.size());
    return s;
  }
  Status CheckWritable() override { return OkStatus(); }
  Result<int64_t> DropProcessedBodies(store::TimePoint, int) override { return int64_t{0}; }

  std::map<std::string, store::NewDelivery> by_id_;
  std::string last_inserted_;
};

bool ValidId(const std::string& s) {
  if (s.empty() || s.size() > 128) return false;
  for (unsigned char c : s) {
    if (!(std::isalnum(c) || c == '-' || c == '_' || c == '.')) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static MemoryStore* store = new MemoryStore;
  static FakeClock* clock = new FakeClock;
  static int notified = 0;
  // Input: one flags byte, then the event name, delivery id, signature header, an extra header name and
  // value, each ending at a newline, then the body.
  if (size == 0) return 0;
  std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  auto field = [&in]() {
    auto nl = in.find('\n');
    std::string f(in.substr(0, nl));
    in = nl == std::string_view::npos ? std::string_view() : in.substr(nl + 1);
    return f;
  };
  webhook::Metrics metrics;  // per run: event names are fuzzed, so its label set would grow
  http::Ingress ingress(http::IngressOptions{.webhook_secret = kSecret}, store, &metrics, clock,
                        [] { ++notified; });

  const uint8_t flags = data[0];
  http::Request req;
  req.method = "POST";
  req.path = "/webhook";
  req.remote_addr = "127.0.0.1";
  const std::string event = field();
  const std::string delivery = field();
  const std::string raw_signature = field();
  const std::string extra_name = field();
  const std::string extra_value = field();
  req.body = std::string(in);
  const bool signed_right = flags & 1;
  if (flags & 2) req.headers.emplace_back((flags & 16) ? "x-github-event" : "X-GitHub-Event", event);
  if (flags & 4) req.headers.emplace_back("X-GitHub-Delivery", delivery);
  if (signed_right) {
    req.headers.emplace_back("X-Hub-Signature-256", webhook::ComputeSignature(kSecret, req.body));
  } else if (flags & 8) {
    req.headers.emplace_back("X-Hub-Signature-256", raw_signature);
  }
  if (flags & 32) req.headers.emplace_back(extra_name, extra_value);

  const size_t before = store->by_id_.size();
  const bool known = before <= 4096 && store->by_id_.count(delivery) > 0;  // Insert clears past 4096
  const int notified_before = notified;
  http::Response res;
  ingress.HandleWebhook(req, &res);

  const bool stored = notified != notified_before;
  switch (res.status) {
    case 200: case 202: case 400: case 401: case 503: break;
    default: std::abort();
  }
  const bool signature_ok = webhook::VerifySignature(kSecret, req.body, req.Header("X-Hub-Signature-256"));
  if (!signature_ok && (res.status != 401 || stored)) std::abort();
  if (stored) {
    if (!signed_right && !signature_ok) std::abort();
    if (known || store->by_id_.size() != (before > 4096 ? 1 : before + 1)) std::abort();
    const auto& d = store->by_id_.at(store->last_inserted_);
    if (d.id != req.Header("X-GitHub-Delivery") || !ValidId(d.id) || !webhook::IsHandledEvent(d.event)) std::abort();
    if (d.body != req.body || !webhook::ScanPayload(d.body).ok()) std::abort();
    // What the dispatcher does next: parse it into a typed event (an error is fine, a crash is not).
    (void)webhook::ParseEvent(d.event, d.id, d.body);
  } else if (res.status == 202 && res.body.rfind("stored", 0) == 0) {
    std::abort();
  }
  if (res.body.empty() || res.body.back() != '\n') std::abort();
  if ((flags & 64) != 0) {
    http::Response health, prom;
    ingress.HandleHealth(req, &health);
    ingress.HandleMetrics(req, &prom);
    if (health.status != 200 || prom.status != 200 || prom.body.empty()) std::abort();
  }
  return 0;
}
