// Replies to refused `/wave` commands: an outsider's comment spam gets one reply per user and issue per
// interval (each reply and reaction spends the App's rate limit), the rest are counted and ignored. And
// an accepted command gets one acknowledgement, not two.
#include <gtest/gtest.h>

#include "agents/fake_executor.h"
#include "engine/engine.h"
#include "engine/refusal_limiter.h"
#include "github/fake_client.h"
#include "store/database.h"
#include "store/job_queue.h"
#include "support/temp_dir.h"
#include "webhook/events.h"
#include "webhook/router.h"

namespace wavebot::engine {
namespace {

using namespace std::chrono_literals;

class RefusalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = store::Database::Open({.path = dir_.File("w.db"), .durability = store::Durability::kNormal});
    ASSERT_TRUE(db.ok());
    db_ = std::move(*db);
    store_ = NewEngineStore(db_.get());
    jobs_ = store::NewSqliteJobQueue(db_.get());
    EngineOptions o;
    o.data_dir = dir_.File("engine");
    o.bot_login = "wavebot[bot]";
    o.refusal_reply_interval = 1h;
    o.repo_config = [](const std::string&) { return config::RepoConfig(); };
    auto engine = Engine::Create(o, store_.get(), jobs_.get(), &github_, &executor_, &clock_);
    ASSERT_TRUE(engine.ok()) << engine.error().ToString();
    engine_ = std::move(*engine);
    engine_->RegisterHandlers(&router_);
    github_.PutRepository(repo_, {1, "acme/calc", "main", false});
    github_.SetPermission(repo_, "maintainer", "admin");  // outsiders: no permission recorded (read)
  }

  Status Comment(const std::string& login, int64_t issue, int64_t comment_id, const std::string& body = "/wave start") {
    webhook::Event e;
    e.name = "issue_comment";
    e.action = "created";
    e.delivery_id = "d-" + std::to_string(comment_id);
    e.repository.full_name = "acme/calc";
    e.sender.login = login;
    webhook::IssueCommentEvent ce;
    ce.issue.number = issue;
    ce.issue.title = "Epic";
    ce.comment.id = comment_id;
    ce.comment.body = body;
    ce.comment.user = {login, 7, "User"};
    e.payload = ce;
    const webhook::Handler* h = router_.Find("issue_comment", "created");
    if (!h) return Error(ErrorCode::kNotFound, "no issue_comment handler");
    return (*h)(e);
  }
  size_t Replies(int64_t issue) {
    size_t n = 0;
    for (const auto& c : github_.actions_of<github::CommentCreated>()) n += c.number == issue;
    return n;
  }
  size_t Reactions() { return github_.actions_of<github::ReactionAdded>().size(); }

  const github::RepoRef repo_{"acme", "calc"};
  testing::TempDir dir_;
  std::unique_ptr<store::Database> db_;
  std::unique_ptr<EngineStore> store_;
  std::unique_ptr<store::JobQueue> jobs_;
  github::FakeClient github_;
  agents::FakeExecutor executor_;
  FakeClock clock_;
  webhook::Router router_;
  std::unique_ptr<Engine> engine_;
};

TEST_F(RefusalTest, ManyOutsiderCommandsOnAnEpicGetOneReplyPerUserPerInterval) {
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(Comment("outsider", 1, 100 + i).ok());
  EXPECT_EQ(Replies(1), 1u);
  EXPECT_EQ(Reactions(), 0u);  // the reply is the answer: no reaction besides
  EXPECT_EQ(engine_->refusals_unanswered(), 49);
  auto epic = store_->FindEpic("acme/calc", 1);
  ASSERT_TRUE(epic.ok());
  EXPECT_FALSE(*epic) << "nothing started";

  // Another user, or the same user on another issue, is answered once too; a different case of the
  // login is the same user.
  ASSERT_TRUE(Comment("someone-else", 1, 200).ok());
  ASSERT_TRUE(Comment("OUTSIDER", 1, 201).ok());
  ASSERT_TRUE(Comment("outsider", 2, 202).ok());
  EXPECT_EQ(Replies(1), 2u);
  EXPECT_EQ(Replies(2), 1u);

  // After the interval, one more reply.
  clock_.Advance(59min);
  ASSERT_TRUE(Comment("outsider", 1, 300).ok());
  EXPECT_EQ(Replies(1), 2u);
  clock_.Advance(2min);
  ASSERT_TRUE(Comment("outsider", 1, 301).ok());
  EXPECT_EQ(Replies(1), 3u);
}

// A delivery whose reply failed is retried: the same comment is answered then, not counted as spam.
TEST_F(RefusalTest, ARetriedDeliveryOfTheAnsweredCommentStillGetsItsReply) {
  github_.FailNext("CreateComment", Error(ErrorCode::kUnavailable, "GitHub is down"));
  EXPECT_FALSE(Comment("outsider", 1, 100).ok());
  EXPECT_EQ(Replies(1), 0u);
  ASSERT_TRUE(Comment("outsider", 1, 100).ok());
  EXPECT_EQ(Replies(1), 1u);
  ASSERT_TRUE(Comment("outsider", 1, 101).ok());
  EXPECT_EQ(Replies(1), 1u);
}

// A reply's create is recorded before it leaves, so a comment never answered gets its reply without a
// read of the issue's comments (issue #17); only a redelivery after a create that may have landed (its
// answer lost) looks for it first, and finds it rather than answer twice. A comment's further commands
// get no second reply, and no read for it either.
TEST_F(RefusalTest, RepliesAreMadeWithoutAReadUnlessTheirCreateMayHaveLanded) {
  ASSERT_TRUE(Comment("outsider", 1, 100).ok());
  ASSERT_TRUE(Comment("maintainer", 1, 101, "/wave help\n/wave bogus").ok());
  EXPECT_EQ(Replies(1), 2u);
  EXPECT_EQ(github_.calls("ListComments"), 0);

  github_.FailNext("CreateComment", Error(ErrorCode::kUnavailable, "the answer was lost"));
  EXPECT_FALSE(Comment("maintainer", 1, 102, "/wave help").ok());
  github::Comment landed;
  landed.id = 9001;
  landed.body = "<!-- wavebot:reply comment=102 -->\nwhat the create whose answer was lost wrote";
  github_.PutComment(repo_, 1, landed);
  ASSERT_TRUE(Comment("maintainer", 1, 102, "/wave help").ok());  // the delivery again
  EXPECT_EQ(github_.calls("ListComments"), 1);
  EXPECT_EQ(Replies(1), 2u) << "answered twice";

  // A create that failed without landing: the redelivery looks, finds nothing, and replies once.
  github_.FailNext("CreateComment", Error(ErrorCode::kUnavailable, "GitHub is down"));
  EXPECT_FALSE(Comment("maintainer", 1, 103, "/wave help").ok());
  ASSERT_TRUE(Comment("maintainer", 1, 103, "/wave help").ok());
  EXPECT_EQ(github_.calls("ListComments"), 2);
  EXPECT_EQ(Replies(1), 3u);
}

// A first `/wave start` is answered by the epic's status comment, which the pass posts: no reaction
// besides (issue #17: one write where one suffices). A start again, or a pause, changes that comment in
// place, which notifies nobody: those get the reaction.
TEST_F(RefusalTest, AFirstStartIsAnsweredByItsStatusCommentAloneAndLaterCommandsByAReaction) {
  ASSERT_TRUE(Comment("maintainer", 1, 100).ok());
  auto epic = store_->FindEpic("acme/calc", 1);
  ASSERT_TRUE(epic.ok() && *epic);
  EXPECT_EQ((*epic)->state, "running");
  EXPECT_EQ(Reactions(), 0u);
  EXPECT_EQ(Replies(1), 0u);
  (*epic)->status_comment_id = 555;  // as the pass records the status comment it posted
  ASSERT_TRUE(store_->SaveEpic(**epic).ok());
  ASSERT_TRUE(Comment("maintainer", 1, 101, "/wave pause").ok());
  EXPECT_EQ(Reactions(), 1u);
  ASSERT_TRUE(Comment("maintainer", 1, 102).ok());
  EXPECT_EQ(Reactions(), 2u);
  EXPECT_EQ(Replies(1), 0u);
}

TEST(RefusalLimiterTest, ZeroIntervalAnswersEveryOneAndTheMapStaysBounded) {
  RefusalLimiter every(0s);
  auto t0 = std::chrono::system_clock::time_point(std::chrono::seconds(1'800'000'000));
  EXPECT_TRUE(every.Allow("acme/calc", 1, "a", 1, t0));
  EXPECT_TRUE(every.Allow("acme/calc", 1, "a", 2, t0));
  EXPECT_EQ(every.size(), 0u);

  RefusalLimiter limited(1h, 100);
  for (int i = 0; i < 1000; ++i) EXPECT_TRUE(limited.Allow("acme/calc", 1, "user" + std::to_string(i), i, t0 + std::chrono::seconds(i)));
  EXPECT_LE(limited.size(), 100u);
  EXPECT_FALSE(limited.Allow("acme/calc", 1, "user999", 5000, t0 + 1000s)) << "the newest are remembered";
}

}  // namespace
}  // namespace wavebot::engine
