#include "webhook/dispatcher.h"
#include "common/thread_name.h"

#include <spdlog/spdlog.h>

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

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
  auto n = RunBatch(1);
  if (!n.ok()) return n.error();
  return *n > 0;
}

Result<int> Dispatcher::RunBatch(int max) {
  uint64_t before;
  {
    std::lock_guard lock(mu_);
    ++claiming_;
    before = wakeups_;
  }
  auto claimed = store_->ClaimBatch(clock_->Now(), max);
  bool pass_on;
  {
    std::lock_guard lock(mu_);
    --claiming_;
    // Deliveries stored during the claim woke nobody (Notify); this worker is about to run a batch, so
    // another one looks for them.
    pass_on = wakeups_ != before && claimed.ok() && !claimed->empty();
  }
  if (pass_on) cv_.notify_one();
  if (!claimed.ok()) return claimed.error();
  std::vector<store::DeliveryOutcome> outcomes;
  outcomes.reserve(claimed->size());
  bool interrupted = false;
  auto recorded_at = std::chrono::steady_clock::now();
  for (size_t i = 0; i < claimed->size(); ++i) {
    if (!outcomes.empty() && std::chrono::steady_clock::now() - recorded_at >= options_.record_after) {
      WAVEBOT_RETURN_IF_ERROR(store_->Finish(outcomes, clock_->Now()));
      outcomes.clear();
      recorded_at = std::chrono::steady_clock::now();
    }
    const store::Delivery& d = (*claimed)[i];
    if (interrupted || (i > 0 && stopping())) {
      // Not started: back to the queue as it was, no attempt counted.
      outcomes.push_back({.id = d.id, .status = store::DeliveryStatus::kPending, .error = "",
                          .retry_at = d.next_attempt_at, .attempted = false});
      continue;
    }
    auto outcome = Process(d);
    if (!outcome) {
      interrupted = true;
      continue;
    }
    outcomes.push_back(std::move(*outcome));
  }
  WAVEBOT_RETURN_IF_ERROR(store_->Finish(outcomes, clock_->Now()));
  return static_cast<int>(claimed->size());
}

std::optional<store::DeliveryOutcome> Dispatcher::Process(const store::Delivery& d) {
  auto count = [&](const char* result) {
    if (metrics_) metrics_->CountProcessed(d.event, result);
  };
  store::DeliveryOutcome out;
  out.id = d.id;
  if (!d.body_error.empty()) {
    spdlog::error("webhook: delivery {} ({}) has an unreadable stored body, parked as dead: {}", d.id, d.event,
                  d.body_error);
    count("dead");
    out.status = store::DeliveryStatus::kDead;
    out.error = d.body_error;
    return out;
  }
  auto event = ParseEvent(d.event, d.id, d.body);
  if (!event.ok()) {
    spdlog::error("webhook: delivery {} ({}) does not parse, parked as dead: {}", d.id, d.event,
                  event.error().message());
    count("dead");
    out.status = store::DeliveryStatus::kDead;
    out.error = event.error().message();
    return out;
  }
  const Handler* handler = router_->Find(d.event, d.action);
  if (!handler) {
    count("unrouted");
    out.status = store::DeliveryStatus::kIgnored;
    return out;
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
    out.status = store::DeliveryStatus::kDone;
    return out;
  }
  if (st.error().code() == ErrorCode::kCancelled) {
    // wavebot is stopping: not a failure of this delivery. It stays "processing", and the next start
    // puts it back in the queue (RequeueProcessing), so it is neither lost nor charged an attempt.
    spdlog::info("webhook: delivery {} ({}.{}) interrupted by shutdown; it runs again at the next start", d.id,
                 d.event, d.action);
    count("interrupted");
    return std::nullopt;
  }
  const int failed = d.attempts + 1;
  out.error = st.error().ToString();
  if (failed >= options_.max_attempts) {
    spdlog::error("webhook: delivery {} ({}.{}) failed {} times, parked as dead: {}", d.id, d.event, d.action,
                  failed, out.error);
    count("dead");
    out.status = store::DeliveryStatus::kDead;
  } else {
    auto delay = Backoff(options_, failed);
    spdlog::warn("webhook: delivery {} ({}.{}) failed (attempt {} of {}), retrying in {} ms: {}", d.id, d.event,
                 d.action, failed, options_.max_attempts, delay.count(), out.error);
    count("retry");
    out.status = store::DeliveryStatus::kPending;
    out.retry_at = clock_->Now() + delay;
  }
  return out;
}

bool Dispatcher::stopping() {
  std::lock_guard lock(mu_);
  return stopping_;
}

Status Dispatcher::Start() {
  auto requeued = store_->RequeueProcessing();
  if (!requeued.ok()) return requeued.error();
  if (*requeued > 0) spdlog::info("webhook: {} deliveries left processing by the last run requeued", *requeued);
  for (int i = 0; i < options_.workers; ++i) threads_.emplace_back([this] { SetThreadName("wb-dispatch"); WorkerLoop(); });
  return OkStatus();
}

void Dispatcher::Notify() {
  {
    std::lock_guard lock(mu_);
    ++wakeups_;
    // A worker inside a claim sees wakeups_ move when it is done: it claims again (when it found nothing)
    // or wakes another worker (when it found a batch to run).
    if (claiming_ > 0) return;
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
  if (options_.worker_nice != 0 &&
      setpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)), options_.worker_nice) != 0) {
    spdlog::warn("webhook: cannot lower the dispatcher workers' priority: {}", std::strerror(errno));
  }
  for (;;) {
    uint64_t seen;
    {
      std::lock_guard lock(mu_);
      if (stopping_) return;
      seen = wakeups_;
    }
    auto r = RunBatch(options_.batch);
    if (!r.ok()) spdlog::error("webhook: dispatcher cannot read the store: {}", r.error().ToString());
    if (r.ok() && *r > 0) continue;  // there may be more
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, options_.idle_poll, [&] { return stopping_ || wakeups_ != seen; });
  }
}

}  // namespace wavebot::webhook
