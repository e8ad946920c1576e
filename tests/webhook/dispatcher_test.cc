#include "webhook/dispatcher.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <map>
#include <set>

#include "store/database.h"
#include "support/temp_dir.h"

namespace wavebot::webhook {
namespace {

using std::chrono::milliseconds;

std::string IssueBody(const std::string& repo, int number) {
  return R"({"action":"opened","issue":{"number":)" + std::to_string(number) +
         R"(,"title":"t"},"repository":{"full_name":")" + repo + R"("},"installation":{"id":1}})";
}

class DispatcherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = store::Database::Open({.path = dir_.File("w.db"), .durability = store::Durability::kNormal});
    ASSERT_TRUE(db.ok()) << db.error().ToString();
    db_ = std::move(*db);
    store_ = store::NewSqliteDeliveryStore(db_.get());
  }
  void Insert(const std::string& id, const std::string& repo, int number, const std::string& event = "issues",
              std::string body = "") {
    if (body.empty()) body = IssueBody(repo, number);
    auto r = store_->Insert({.id = id, .event = event, .action = "opened", .installation_id = 1,
                             .repository = repo, .received_at = clock_.Now(), .body = body});
    ASSERT_TRUE(r.ok());
  }
  store::DeliveryStatus StatusOf(const std::string& id) { return store_->Get(id)->status; }
  bool RunOnce(Dispatcher& d) {
    auto r = d.RunOnce();
    EXPECT_TRUE(r.ok());
    return r.ok() && *r;
  }

  wavebot::testing::TempDir dir_;
  FakeClock clock_;
  Metrics metrics_;
  Router router_;
  std::unique_ptr<store::Database> db_;
  std::unique_ptr<store::DeliveryStore> store_;
  DispatcherOptions options_{.workers = 2, .max_attempts = 3, .backoff_base = milliseconds(1000)};
};

TEST_F(DispatcherTest, RoutesTypedEventAndProcessesRedeliveryOnce) {
  std::vector<int64_t> seen;
  router_.Register("issues", "opened", [&](const Event& e) {
    seen.push_back(e.As<IssuesEvent>()->issue.number);
    EXPECT_EQ(e.delivery_id, "d1");
    EXPECT_EQ(e.repository.full_name, "o/a");
    return OkStatus();
  });
  Dispatcher d(store_.get(), &router_, &clock_, &metrics_, options_);
  Insert("d1", "o/a", 7);
  Insert("d1", "o/a", 7);  // GitHub redelivered it
  EXPECT_TRUE(RunOnce(d));
  EXPECT_FALSE(RunOnce(d));
  EXPECT_EQ(seen, std::vector<int64_t>{7});
  EXPECT_EQ(StatusOf("d1"), store::DeliveryStatus::kDone);
  EXPECT_EQ(metrics_.ProcessedCount("issues", "done"), 1);
}

TEST_F(DispatcherTest, FailingHandlerBacksOffThenIsDeadWithoutBlockingOthers) {
  int calls_bad = 0;
  std::vector<int64_t> good;
  router_.Register("issues", "opened", [&](const Event& e) -> Status {
    int64_t n = e.As<IssuesEvent>()->issue.number;
    if (n == 1) {
      ++calls_bad;
      if (calls_bad == 2) throw std::runtime_error("kaboom");
      return Error(ErrorCode::kUnavailable, "github down");
    }
    good.push_back(n);
    return OkStatus();
  });
  Dispatcher d(store_.get(), &router_, &clock_, &metrics_, options_);
  Insert("bad", "o/a", 1);
  Insert("a2", "o/a", 2);
  Insert("b1", "o/b", 3);
  EXPECT_TRUE(RunOnce(d));  // bad fails: retry in 1 s
  EXPECT_TRUE(RunOnce(d));  // a2 is not held back
  EXPECT_TRUE(RunOnce(d));  // b1
  EXPECT_FALSE(RunOnce(d));
  EXPECT_EQ(good, (std::vector<int64_t>{2, 3}));
  auto bad = store_->Get("bad");
  EXPECT_EQ(bad->status, store::DeliveryStatus::kPending);
  EXPECT_EQ(bad->last_error, "unavailable: github down");
  EXPECT_EQ(bad->next_attempt_at, clock_.Now() + milliseconds(1000));

  clock_.Advance(milliseconds(999));
  EXPECT_FALSE(RunOnce(d));  // not due yet
  clock_.Advance(milliseconds(1));
  EXPECT_TRUE(RunOnce(d));  // throws: retry after 2 s (doubled)
  EXPECT_NE(store_->Get("bad")->last_error.find("kaboom"), std::string::npos);
  clock_.Advance(milliseconds(1999));
  EXPECT_FALSE(RunOnce(d));
  clock_.Advance(milliseconds(1));
  EXPECT_TRUE(RunOnce(d));  // third failure: dead
  EXPECT_EQ(StatusOf("bad"), store::DeliveryStatus::kDead);
  EXPECT_EQ(store_->Get("bad")->attempts, 3);
  clock_.Advance(milliseconds(3600 * 1000));
  EXPECT_FALSE(RunOnce(d));
  EXPECT_EQ(calls_bad, 3);
  EXPECT_EQ(metrics_.ProcessedCount("issues", "retry"), 2);
  EXPECT_EQ(metrics_.ProcessedCount("issues", "dead"), 1);
}

TEST_F(DispatcherTest, UnparsableIsDeadAtOnceAndUnroutedIsIgnored) {
  router_.Register("issues", "opened", [](const Event&) { return OkStatus(); });
  Dispatcher d(store_.get(), &router_, &clock_, &metrics_, options_);
  Insert("broken", "o/a", 1, "issues", R"({"action":"opened","issue":{}})");
  Insert("push1", "o/b", 0, "push", R"({"ref":"refs/heads/main","after":"abc"})");
  EXPECT_TRUE(RunOnce(d));
  EXPECT_TRUE(RunOnce(d));
  EXPECT_EQ(StatusOf("broken"), store::DeliveryStatus::kDead);
  EXPECT_NE(store_->Get("broken")->last_error.find("issue.number"), std::string::npos);
  EXPECT_EQ(StatusOf("push1"), store::DeliveryStatus::kIgnored);
}

TEST_F(DispatcherTest, AnUnreadableStoredBodyIsDeadAtOnceWithWhy) {
  int handled = 0;
  router_.Register("issues", "opened", [&](const Event&) { ++handled; return OkStatus(); });
  Dispatcher d(store_.get(), &router_, &clock_, &metrics_, options_);
  Insert("damaged", "o/a", 1);
  ASSERT_TRUE(db_->Write([](store::Connection& c) {
                   return c.Exec("UPDATE delivery_bodies SET body = x'00' WHERE seq = "
                                 "(SELECT seq FROM deliveries WHERE id = 'damaged')");
                 }).ok());
  EXPECT_TRUE(RunOnce(d));
  EXPECT_EQ(handled, 0);
  EXPECT_EQ(StatusOf("damaged"), store::DeliveryStatus::kDead);
  EXPECT_NE(store_->Get("damaged")->last_error.find("zstd frame"), std::string::npos)
      << store_->Get("damaged")->last_error;
}

TEST(BackoffTest, DoublesAndCaps) {
  DispatcherOptions o{.backoff_base = milliseconds(100), .backoff_max = milliseconds(1000)};
  EXPECT_EQ(Backoff(o, 1), milliseconds(100));
  EXPECT_EQ(Backoff(o, 2), milliseconds(200));
  EXPECT_EQ(Backoff(o, 4), milliseconds(800));
  EXPECT_EQ(Backoff(o, 5), milliseconds(1000));
  EXPECT_EQ(Backoff(o, 100), milliseconds(1000));
}

TEST_F(DispatcherTest, WorkersKeepPerRepositoryOrderAndNeverOverlapARepository) {
  std::mutex mu;
  std::map<std::string, std::vector<int64_t>> order;
  std::set<std::string> running;
  std::atomic<bool> overlap{false};
  std::atomic<int> done{0};
  std::condition_variable cv;
  router_.Register("issues", "*", [&](const Event& e) {
    {
      std::lock_guard lock(mu);
      if (!running.insert(e.repository.full_name).second) overlap = true;
    }
    std::lock_guard lock(mu);
    running.erase(e.repository.full_name);
    order[e.repository.full_name].push_back(e.As<IssuesEvent>()->issue.number);
    ++done;
    cv.notify_all();
    return OkStatus();
  });
  options_.workers = 4;
  Dispatcher d(store_.get(), &router_, RealClock(), &metrics_, options_);
  ASSERT_TRUE(d.Start().ok());
  constexpr int kPerRepo = 15;
  for (int i = 0; i < kPerRepo; ++i) {
    for (const char* repo : {"o/a", "o/b", "o/c"}) Insert(std::string(repo) + std::to_string(i), repo, i);
    d.Notify();
  }
  std::unique_lock lock(mu);
  ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(20), [&] { return done == 3 * kPerRepo; }));
  lock.unlock();
  d.Stop();
  EXPECT_FALSE(overlap);
  std::vector<int64_t> expected;
  for (int i = 0; i < kPerRepo; ++i) expected.push_back(i);
  for (const char* repo : {"o/a", "o/b", "o/c"}) EXPECT_EQ(order[repo], expected) << repo;
}

TEST_F(DispatcherTest, BatchRunsOneRepositoryInOrderAndRecordsEveryOutcome) {
  std::vector<int64_t> seen;
  router_.Register("issues", "*", [&](const Event& e) -> Status {
    int64_t n = e.As<IssuesEvent>()->issue.number;
    seen.push_back(n);
    if (n == 2) return Error(ErrorCode::kUnavailable, "GitHub is down");
    return OkStatus();
  });
  for (int i = 1; i <= 4; ++i) Insert("a" + std::to_string(i), "o/a", i);
  Insert("b1", "o/b", 10);
  Insert("bad", "o/a", 5, "issues", "{\"action\":\"opened\"}");  // no issue: dead at once
  Dispatcher d(store_.get(), &router_, &clock_, &metrics_, options_);
  auto n = d.RunBatch(10);
  ASSERT_TRUE(n.ok()) << n.error().ToString();
  EXPECT_EQ(*n, 5);  // o/a's five; o/b's waits for the next batch
  EXPECT_EQ(seen, (std::vector<int64_t>{1, 2, 3, 4}));
  EXPECT_EQ(StatusOf("a1"), store::DeliveryStatus::kDone);
  EXPECT_EQ(StatusOf("a2"), store::DeliveryStatus::kPending);  // retried after its backoff
  EXPECT_EQ(store_->Get("a2")->attempts, 1);
  EXPECT_EQ(StatusOf("a4"), store::DeliveryStatus::kDone);
  EXPECT_EQ(StatusOf("bad"), store::DeliveryStatus::kDead);
  EXPECT_EQ(StatusOf("b1"), store::DeliveryStatus::kPending);
  n = d.RunBatch(10);
  ASSERT_TRUE(n.ok()) << n.error().ToString();
  EXPECT_EQ(*n, 1);
  EXPECT_EQ(StatusOf("b1"), store::DeliveryStatus::kDone);
}

TEST_F(DispatcherTest, OutcomesOfASlowBatchAreRecordedBeforeItEnds) {
  std::vector<store::DeliveryStatus> first_when_second_ran;
  router_.Register("issues", "*", [&](const Event& e) {
    if (e.As<IssuesEvent>()->issue.number == 2) first_when_second_ran.push_back(StatusOf("a1"));
    return OkStatus();
  });
  Insert("a1", "o/a", 1);
  Insert("a2", "o/a", 2);
  options_.record_after = milliseconds(0);  // every handler counts as slow
  Dispatcher d(store_.get(), &router_, &clock_, &metrics_, options_);
  auto n = d.RunBatch(10);
  ASSERT_TRUE(n.ok()) << n.error().ToString();
  EXPECT_EQ(*n, 2);
  EXPECT_EQ(first_when_second_ran, std::vector<store::DeliveryStatus>{store::DeliveryStatus::kDone});
  EXPECT_EQ(StatusOf("a2"), store::DeliveryStatus::kDone);
}

TEST_F(DispatcherTest, StopHandsBackTheUnstartedRestOfABatch) {
  Dispatcher* dispatcher = nullptr;
  std::vector<int64_t> seen;
  router_.Register("issues", "*", [&](const Event& e) {
    seen.push_back(e.As<IssuesEvent>()->issue.number);
    dispatcher->Stop();  // no worker threads: returns at once, and the batch must stop here
    return OkStatus();
  });
  for (int i = 1; i <= 3; ++i) Insert("a" + std::to_string(i), "o/a", i);
  Dispatcher d(store_.get(), &router_, &clock_, &metrics_, options_);
  dispatcher = &d;
  auto n = d.RunBatch(10);
  ASSERT_TRUE(n.ok()) << n.error().ToString();
  EXPECT_EQ(seen, std::vector<int64_t>{1});
  EXPECT_EQ(StatusOf("a1"), store::DeliveryStatus::kDone);
  for (const char* id : {"a2", "a3"}) {
    EXPECT_EQ(StatusOf(id), store::DeliveryStatus::kPending) << id;
    EXPECT_EQ(store_->Get(id)->attempts, 0) << id;
  }
}

// Handlers can wait, acknowledgements cannot: the workers run at a lower priority than the rest.
TEST_F(DispatcherTest, WorkersRunNicerThanTheIngress) {
  const int base = getpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)));
  std::mutex mu;
  std::condition_variable cv;
  int seen_nice = -100;
  router_.Register("issues", "*", [&](const Event&) {
    std::lock_guard lock(mu);
    seen_nice = getpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)));
    cv.notify_all();
    return OkStatus();
  });
  options_.worker_nice = 5;
  Dispatcher d(store_.get(), &router_, RealClock(), &metrics_, options_);
  ASSERT_TRUE(d.Start().ok());
  Insert("a1", "o/a", 1);
  d.Notify();
  {
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(20), [&] { return seen_nice != -100; }));
  }
  d.Stop();
  EXPECT_EQ(seen_nice, std::min(base + 5, 19));
  EXPECT_EQ(getpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid))), base);  // this thread untouched
}

// A process killed after its dispatcher claimed a batch and ran some handlers, but before it recorded the
// outcomes, loses no delivery: the next start runs every one of them, in order, and finishes them all.
TEST(DispatcherCrashTest, KillBetweenClaimAndFinishLosesNoDelivery) {
  wavebot::testing::TempDir dir;
  const std::string path = dir.File("w.db");
  constexpr int kDeliveries = 10;
  {
    auto db = store::Database::Open({.path = path});
    ASSERT_TRUE(db.ok()) << db.error().ToString();
    auto st = store::NewSqliteDeliveryStore(db->get());
    for (int i = 0; i < kDeliveries; ++i) {
      ASSERT_TRUE(st->Insert({.id = "c" + std::to_string(i), .event = "issues", .action = "opened",
                              .installation_id = 1, .repository = "o/a", .received_at = RealClock()->Now(),
                              .body = IssueBody("o/a", i)})
                      .ok());
    }
  }  // closed before fork: the child opens its own
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto db = store::Database::Open({.path = path});
    if (!db.ok()) _exit(2);
    auto st = store::NewSqliteDeliveryStore(db->get());
    Router router;
    router.Register("issues", "*", [](const Event& e) {
      if (e.As<IssuesEvent>()->issue.number == 4) raise(SIGKILL);  // mid-batch, outcomes not yet recorded
      return OkStatus();
    });
    Metrics metrics;
    Dispatcher d(st.get(), &router, RealClock(), &metrics, {});
    (void)d.RunBatch(kDeliveries);
    _exit(3);  // not reached
  }
  int wstatus = 0;
  ASSERT_EQ(waitpid(child, &wstatus, 0), child);
  ASSERT_TRUE(WIFSIGNALED(wstatus) && WTERMSIG(wstatus) == SIGKILL) << "child status " << wstatus;

  auto db = store::Database::Open({.path = path});
  ASSERT_TRUE(db.ok()) << db.error().ToString();
  auto st = store::NewSqliteDeliveryStore(db->get());
  auto stats = st->Stats();
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->processing, kDeliveries);  // all claimed in one batch, none recorded
  std::mutex mu;
  std::condition_variable cv;
  std::vector<int64_t> seen;
  Router router;
  router.Register("issues", "*", [&](const Event& e) {
    std::lock_guard lock(mu);
    seen.push_back(e.As<IssuesEvent>()->issue.number);
    cv.notify_all();
    return OkStatus();
  });
  Metrics metrics;
  Dispatcher d(st.get(), &router, RealClock(), &metrics, {.workers = 2});
  ASSERT_TRUE(d.Start().ok());  // puts the claimed deliveries back in the queue
  {
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(20), [&] { return seen.size() >= kDeliveries; }));
  }
  d.Stop();
  std::vector<int64_t> expected;
  for (int i = 0; i < kDeliveries; ++i) expected.push_back(i);
  EXPECT_EQ(seen, expected);  // each once, in arrival order
  stats = st->Stats();
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->done, kDeliveries);
  EXPECT_EQ(stats->pending + stats->processing + stats->dead, 0);
}

}  // namespace
}  // namespace wavebot::webhook
