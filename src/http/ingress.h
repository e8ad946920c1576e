// The webhook ingress and the operations endpoints, registered on wavebot's two listeners:
//   public:  POST /webhook          verify, store durably, answer (see docs/ingress.md for every answer)
//            GET  /healthz          200 / 503 with a JSON summary
//   private: GET  /healthz          the same
//            GET  /metrics          Prometheus text
//            GET  /api/deliveries   ?status=pending|processing|done|ignored|dead&limit=N, JSON
#pragma once

#include <chrono>
#include <functional>
#include <string>

#include "common/clock.h"
#include "http/server.h"
#include "store/delivery_store.h"
#include "webhook/metrics.h"

namespace wavebot::http {

struct IngressOptions {
  std::string webhook_secret;  // required, non-empty
  // /healthz answers 503 when the oldest unprocessed delivery is older than this.
  std::chrono::seconds max_pending_age{15 * 60};
  // More Prometheus text for /metrics from other parts (the engine's agent totals); empty: none.
  // Called at every scrape, on a server thread.
  std::function<std::string()> more_metrics;
};

class Ingress {
 public:
  // None of the pointers is owned; all must outlive the Ingress. `on_stored` runs after each newly
  // stored delivery (the dispatcher's Notify); it may be empty.
  Ingress(IngressOptions options, store::DeliveryStore* store, webhook::Metrics* metrics, Clock* clock,
          std::function<void()> on_stored);

  // Adds the public routes above to `server`. Call before server->Start(). An unsigned POST /webhook
  // is refused with 401 before its body is read.
  void RegisterPublic(Server* server);
  // Adds the private routes above to `server` (the listener behind the read token).
  void RegisterPrivate(Server* server);

  // The handlers, exposed for tests that do not need a socket. Thread-safe.
  void HandleWebhook(const Request& req, Response* res);
  void HandleHealth(const Request& req, Response* res);
  void HandleMetrics(const Request& req, Response* res);
  void HandleDeliveries(const Request& req, Response* res);

 private:
  const IngressOptions options_;
  store::DeliveryStore* store_;
  webhook::Metrics* metrics_;
  Clock* clock_;
  std::function<void()> on_stored_;
};

}  // namespace wavebot::http
