// Takes stored deliveries and runs their handlers: in arrival order per repository (never two of one
// repository at once), any number of repositories in parallel. A handler that fails or throws is
// logged with the delivery id and retried with exponential backoff; after `max_attempts` failed runs
// the delivery is parked as dead and the others carry on. A delivery that does not parse is dead at
// once (retrying cannot fix it); one with no registered handler is marked ignored.
//
// A worker claims up to `batch` deliveries of one repository in one transaction, runs them in order, and
// records their outcomes in one transaction. A crash in between loses nothing: the claimed deliveries
// are still processing, and the next start puts them back in the queue (handlers may then run twice,
// which the engine's level-triggered handlers tolerate, as they did for a crash inside one handler).
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "common/result.h"
#include "store/delivery_store.h"
#include "webhook/metrics.h"
#include "webhook/router.h"

namespace wavebot::webhook {

struct DispatcherOptions {
  int workers = 4;
  int max_attempts = 5;                               // failed handler runs before a delivery is dead
  std::chrono::milliseconds backoff_base{1000};       // first retry after this, doubling each time
  std::chrono::milliseconds backoff_max{5 * 60 * 1000};
  std::chrono::milliseconds idle_poll{500};           // real time a worker waits when nothing is ready
  int batch = 32;                                     // deliveries of one repository claimed at once
  // Outcomes of a batch are recorded together, but not later than this after the previous record: a
  // batch of slow handlers does not hold finished deliveries in "processing" (nor re-run them after a
  // crash) for long.
  std::chrono::milliseconds record_after{200};
  // Scheduling niceness of the worker threads (Linux: per thread), 0 to leave it. Handlers can wait,
  // acknowledging a delivery (within GitHub's 10 s) cannot: when the CPU is short, the ingress threads
  // go first and the workers drain the queue when it is free.
  int worker_nice = 10;
};

// The delay before retry number `failed_attempts` (1 = after the first failure).
std::chrono::milliseconds Backoff(const DispatcherOptions& options, int failed_attempts);

class Dispatcher {
 public:
  // None of the pointers is owned; all must outlive the Dispatcher. `metrics` may be null.
  Dispatcher(store::DeliveryStore* store, const Router* router, Clock* clock, Metrics* metrics,
             DispatcherOptions options);
  ~Dispatcher();  // Stops the workers.

  // Processes at most one ready delivery on the calling thread. Returns true when one was processed,
  // false when none was ready; an error only when the store failed. Thread-safe.
  Result<bool> RunOnce();
  // Claims up to `max` ready deliveries of one repository, runs them in order on the calling thread and
  // records their outcomes in one transaction. Returns how many were claimed (0: none was ready); an
  // error only when the store failed. Once Stop was called, deliveries not yet started go back to the
  // queue unrun. Thread-safe.
  Result<int> RunBatch(int max);
  // Starts `workers` threads that call RunOnce until Stop. Requeues deliveries a previous process left
  // processing. Call once.
  Status Start();
  // Wakes an idle worker: a delivery was stored. While a worker is claiming, the wake is left to it (it
  // claims again, or passes the wake on, when it is done), so a burst of deliveries costs a few claims,
  // not one per delivery. Thread-safe, cheap.
  void Notify();
  // Stops taking new deliveries, waits for running handlers to finish. Idempotent.
  void Stop();

 private:
  void WorkerLoop();
  // Runs one claimed delivery. nullopt when its handler was interrupted by shutdown: it stays processing.
  std::optional<store::DeliveryOutcome> Process(const store::Delivery& d);
  bool stopping();

  store::DeliveryStore* store_;
  const Router* router_;
  Clock* clock_;
  Metrics* metrics_;
  const DispatcherOptions options_;

  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;   // guarded by mu_
  uint64_t wakeups_ = 0;    // guarded by mu_
  int claiming_ = 0;        // workers inside ClaimBatch; guarded by mu_
  std::vector<std::thread> threads_;
};

}  // namespace wavebot::webhook
