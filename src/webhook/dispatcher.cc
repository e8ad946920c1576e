#include "webhook/dispatcher.h"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace wavebot::webhook {

std::chrono::milliseconds Backoff(const DispatcherOptions& options, int failed_attempts) {
  int shift = std::clamp(failed_attempts - 1, 0, 30);
  auto d = options.backoff_base * (int64_t{1} << shift);
  return std::min(d, options.backoff_max);
}

Dispatcher::Dispatcher(store::DeliveryStore* store, const Router* router, Clock* clock, Metrics* metrics,
                       DispatcherOptions options)
    : store_(store), router_(router), clock_(clock), metrics_(metrics), options_(options) {}

Dispatcher::~Dispatcher() { Stop(); }

Result<bool> Dispatcher::RunOnce() {
  auto claimed = store_->ClaimNext(clock_->Now());
  if (!claimed.ok()) return claimed.error();
  if (!claimed->has_value()) return false;
  const store::Delivery& d = **claimed;

  auto count = [&](const char* result) {
    if (metrics_) metrics_->CountProcessed(d.event, result);
  };
  auto event = ParseEvent(d.event, d.id, d.body);
  if (!event.ok()) {
    spdlog::error("webhook: delivery {} ({}) does not parse, parked as dead: {}", d.id, d.event,
                  event.error().message());
    count("dead");
    WAVEBOT_RETURN_IF_ERROR(store_->Fail(d.id, event.error().message(), std::nullopt, clock_->Now()));
    return true;
  }
  const Handler* handler = router_->Find(d.event, d.action);
  if (!handler) {
    count("unrouted");
    WAVEBOT_RETURN_IF_ERROR(store_->Complete(d.id, store::DeliveryStatus::kIgnored, clock_->Now()));
    return true;
  }

  auto start = std::chrono::steady_clock::now();
  Status st = OkStatus();
  try {
    st = (*handler)(*event);
  } catch (const std::exception& e) {
    st = Error(ErrorCode::kInternal, std::string("handler threw: ") + e.what());
  } catch (...) {
    st = Error(ErrorCode::kInternal, "handler threw a non-standard exception");
  }
  if (metrics_) {
    metrics_->ObserveHandler(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  if (st.ok()) {
    count("done");
    WAVEBOT_RETURN_IF_ERROR(store_->Complete(d.id, store::DeliveryStatus::kDone, clock_->Now()));
    return true;
  }
  if (st.error().code() == ErrorCode::kCancelled) {
    // wavebot is stopping: not a failure of this delivery. It stays "processing", and the next start
    // puts it back in the queue (RequeueProcessing), so it is neither lost nor charged an attempt.
    spdlog::info("webhook: delivery {} ({}.{}) interrupted by shutdown; it runs again at the next start", d.id,
                 d.event, d.action);
    count("interrupted");
    return true;
  }
  const int failed = d.attempts + 1;
  if (failed >= options_.max_attempts) {
    spdlog::error("webhook: delivery {} ({}.{}) failed {} times, parked as dead: {}", d.id, d.event, d.action,
                  failed, st.error().ToString());
    count("dead");
    WAVEBOT_RETURN_IF_ERROR(store_->Fail(d.id, st.error().ToString(), std::nullopt, clock_->Now()));
  } else {
    auto delay = Backoff(options_, failed);
    spdlog::warn("webhook: delivery {} ({}.{}) failed (attempt {} of {}), retrying in {} ms: {}", d.id, d.event,
                 d.action, failed, options_.max_attempts, delay.count(), st.error().ToString());
    count("retry");
    WAVEBOT_RETURN_IF_ERROR(store_->Fail(d.id, st.error().ToString(), clock_->Now() + delay, clock_->Now()));
  }
  return true;
}

Status Dispatcher::Start() {
  auto requeued = store_->RequeueProcessing();
  if (!requeued.ok()) return requeued.error();
  if (*requeued > 0) spdlog::info("webhook: {} deliveries left processing by the last run requeued", *requeued);
  for (int i = 0; i < options_.workers; ++i) threads_.emplace_back([this] { WorkerLoop(); });
  return OkStatus();
}

void Dispatcher::Notify() {
  {
    std::lock_guard lock(mu_);
    ++wakeups_;
  }
  cv_.notify_one();
}

void Dispatcher::Stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_ && threads_.empty()) return;
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
  threads_.clear();
}

void Dispatcher::WorkerLoop() {
  for (;;) {
    uint64_t seen;
    {
      std::lock_guard lock(mu_);
      if (stopping_) return;
      seen = wakeups_;
    }
    auto r = RunOnce();
    if (!r.ok()) spdlog::error("webhook: dispatcher cannot read the store: {}", r.error().ToString());
    if (r.ok() && *r) continue;  // there may be more
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, options_.idle_poll, [&] { return stopping_ || wakeups_ != seen; });
  }
}

}  // namespace wavebot::webhook
