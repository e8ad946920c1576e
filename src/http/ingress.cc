#include "http/ingress.h"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <ctime>

#include "webhook/events.h"
#include "webhook/payload_scan.h"
#include "webhook/signature.h"

namespace wavebot::http {
namespace {

bool ValidEventName(const std::string& s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || c == '_')) return false;
  }
  return true;
}

bool ValidDeliveryId(const std::string& s) {
  if (s.empty() || s.size() > 128) return false;
  for (char c : s) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) return false;
  }
  return true;
}

std::string Iso8601(std::chrono::system_clock::time_point t) {
  std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace

Ingress::Ingress(IngressOptions options, store::DeliveryStore* store, webhook::Metrics* metrics, Clock* clock,
                 std::function<void()> on_stored)
    : options_(std::move(options)), store_(store), metrics_(metrics), clock_(clock), on_stored_(std::move(on_stored)) {}

void Ingress::RegisterPublic(Server* server) {
  server->Post(
      "/webhook", [this](const Request& q, Response* r) { HandleWebhook(q, r); },
      [this](const Request& q, Response* r) {
        if (q.HasHeader("X-Hub-Signature-256")) return true;
        metrics_->CountIngress("", "unauthorized");
        r->Text(401, "missing X-Hub-Signature-256 header");
        return false;
      });
  server->Get("/healthz", [this](const Request& q, Response* r) { HandleHealth(q, r); });
}

void Ingress::RegisterPrivate(Server* server) {
  server->Get("/healthz", [this](const Request& q, Response* r) { HandleHealth(q, r); });
  server->Get("/metrics", [this](const Request& q, Response* r) { HandleMetrics(q, r); });
  server->Get("/api/deliveries", [this](const Request& q, Response* r) { HandleDeliveries(q, r); });
}

void Ingress::HandleWebhook(const Request& req, Response* res) {
  // Signature first, over the raw bytes, before anything in the request is trusted or parsed.
  const std::string signature = req.Header("X-Hub-Signature-256");
  if (signature.empty()) {
    metrics_->CountIngress("", "unauthorized");
    return res->Text(401, "missing X-Hub-Signature-256 header");
  }
  if (!webhook::VerifySignature(options_.webhook_secret, req.body, signature)) {
    metrics_->CountIngress("", "unauthorized");
    return res->Text(401, "X-Hub-Signature-256 does not match the body (wrong secret or altered payload)");
  }
  const std::string event = req.Header("X-GitHub-Event");
  const std::string delivery = req.Header("X-GitHub-Delivery");
  if (event.empty()) {
    metrics_->CountIngress("", "bad_request");
    return res->Text(400, "missing X-GitHub-Event header");
  }
  if (!ValidEventName(event)) {
    metrics_->CountIngress("", "bad_request");
    return res->Text(400, "invalid X-GitHub-Event header");
  }
  if (delivery.empty()) {
    metrics_->CountIngress(event, "bad_request");
    return res->Text(400, "missing X-GitHub-Delivery header");
  }
  if (!ValidDeliveryId(delivery)) {
    metrics_->CountIngress(event, "bad_request");
    return res->Text(400, "invalid X-GitHub-Delivery header");
  }
  auto summary = webhook::ScanPayload(req.body);
  if (!summary.ok()) {
    metrics_->CountIngress(event, "bad_request");
    return res->Text(400, summary.error().message());
  }
  if (!webhook::IsHandledEvent(event)) {
    metrics_->CountIngress(event, "ignored");
    return res->Text(202, "ignored: event '" + event + "' is not handled by wavebot");
  }
  store::NewDelivery d{.id = delivery, .event = event, .action = summary->action,
                       .installation_id = summary->installation_id, .repository = summary->repository,
                       .received_at = clock_->Now(), .body = req.body};
  auto stored = store_->Insert(d);
  if (!stored.ok()) {
    spdlog::error("ingress: cannot store delivery {} ({}): {}", delivery, event, stored.error().ToString());
    metrics_->CountIngress(event, "error");
    return res->Text(503, "cannot store the delivery, retry later: " + stored.error().message());
  }
  const bool inserted = *stored == store::InsertOutcome::kInserted;
  if (inserted && on_stored_) on_stored_();
  if (event == "ping") {
    metrics_->CountIngress(event, "ping");
    return res->Text(200, "pong");
  }
  metrics_->CountIngress(event, inserted ? "accepted" : "duplicate");
  res->Text(202, inserted ? "stored delivery " + delivery : "duplicate delivery " + delivery + ", already stored");
}

void Ingress::HandleHealth(const Request&, Response* res) {
  nlohmann::json j;
  bool healthy = true;
  Status writable = store_->CheckWritable();
  j["database"] = writable.ok() ? "writable" : "not writable: " + writable.error().message();
  healthy = healthy && writable.ok();
  auto stats = store_->Stats();
  if (stats.ok()) {
    j["queue_depth"] = stats->pending + stats->processing;
    j["dead"] = stats->dead;
    double age = 0;
    if (stats->oldest_pending) {
      age = std::chrono::duration<double>(clock_->Now() - *stats->oldest_pending).count();
    }
    j["oldest_pending_age_seconds"] = age;
    if (age > static_cast<double>(options_.max_pending_age.count())) {
      healthy = false;
      j["reason"] = "oldest pending delivery is older than " + std::to_string(options_.max_pending_age.count()) + " s";
    }
  } else {
    healthy = false;
    j["reason"] = "cannot read the store: " + stats.error().message();
  }
  if (!writable.ok()) j["reason"] = "database is not writable";
  j["status"] = healthy ? "ok" : "unhealthy";
  res->Json(healthy ? 200 : 503, j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
}

void Ingress::HandleMetrics(const Request&, Response* res) {
  webhook::QueueGauges g;
  if (auto stats = store_->Stats(); stats.ok()) {
    g.pending = stats->pending + stats->processing;
    g.dead = stats->dead;
    if (stats->oldest_pending) {
      g.oldest_pending_age_seconds = std::chrono::duration<double>(clock_->Now() - *stats->oldest_pending).count();
    }
  }
  res->status = 200;
  res->content_type = "text/plain; version=0.0.4; charset=utf-8";
  res->body = metrics_->Render(g);
  if (options_.more_metrics) res->body += options_.more_metrics();
}

void Ingress::HandleDeliveries(const Request& req, Response* res) {
  std::optional<store::DeliveryStatus> status;
  if (req.HasParam("status")) {
    auto s = store::ParseDeliveryStatus(req.Param("status"));
    if (!s.ok()) return res->Text(400, s.error().message());
    status = *s;
  }
  int limit = 100;
  if (req.HasParam("limit")) {
    const std::string v = req.Param("limit");
    char* end = nullptr;
    long n = std::strtol(v.c_str(), &end, 10);
    if (v.empty() || *end != '\0' || n < 1 || n > 1000) return res->Text(400, "limit must be an integer from 1 to 1000");
    limit = static_cast<int>(n);
  }
  auto list = store_->List(status, limit);
  if (!list.ok()) return res->Text(503, "cannot read the store: " + list.error().message());
  nlohmann::json out = nlohmann::json::array();
  for (const auto& d : *list) {
    nlohmann::json j = {{"id", d.id},
                        {"event", d.event},
                        {"action", d.action},
                        {"installation_id", d.installation_id},
                        {"repository", d.repository},
                        {"received_at", Iso8601(d.received_at)},
                        {"status", store::DeliveryStatusName(d.status)},
                        {"attempts", d.attempts},
                        {"last_error", d.last_error}};
    if (d.status == store::DeliveryStatus::kPending && d.attempts > 0) {
      j["next_attempt_at"] = Iso8601(d.next_attempt_at);
    }
    out.push_back(std::move(j));
  }
  res->Json(200, nlohmann::json{{"deliveries", out}}.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
}

}  // namespace wavebot::http
