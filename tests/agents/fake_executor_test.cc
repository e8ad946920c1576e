#include "agents/fake_executor.h"

#include <gtest/gtest.h>

namespace wavebot::agents {
namespace {

TEST(FakeExecutorTest, RecordsJobsAndEndsThemAsTheTestSays) {
  std::vector<std::pair<std::string, JobEvent::State>> events;
  std::vector<JobEvent> finished;
  FakeExecutor ex([&](const JobEvent& e) {
    events.emplace_back(e.id, e.state);
    if (e.state == JobEvent::State::kFinished) finished.push_back(e);
  });
  ASSERT_TRUE(ex.Submit({"a", {"--ticket", "1"}, {}, ""}).ok());
  ASSERT_TRUE(ex.Submit({"b", {"--ticket", "2"}, {}, ""}).ok());
  ASSERT_TRUE(ex.Submit({"c", {"--ticket", "3"}, {}, ""}).ok());
  EXPECT_EQ(ex.Submit({"a", {}, {}, ""}).error().code(), ErrorCode::kAlreadyExists);
  EXPECT_EQ(ex.Pending(), 3);
  ASSERT_TRUE(ex.Finish("a", 0, R"({"result":"done"})").ok());
  ASSERT_TRUE(ex.Crash("b", 11).ok());
  ASSERT_TRUE(ex.Cancel("c").ok());
  EXPECT_EQ(ex.Finish("a", 0, "").error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(ex.Pending(), 0);
  ASSERT_EQ(finished.size(), 2u);
  EXPECT_EQ(finished[0].result_json, R"({"result":"done"})");
  EXPECT_EQ(finished[1].signal, 11);
  EXPECT_EQ(ex.submitted().size(), 3u);
  EXPECT_EQ(ex.submitted()[1].args, (std::vector<std::string>{"--ticket", "2"}));
  EXPECT_EQ(events.back(), std::make_pair(std::string("c"), JobEvent::State::kCancelled));
  ASSERT_TRUE(ex.Submit({"a", {}, {}, ""}).ok());  // a finished id may be reused
}

}  // namespace
}  // namespace wavebot::agents
