#include "core/ticket.h"

#include <gtest/gtest.h>

namespace wavebot::core {
namespace {

using S = TicketState;
using E = TicketEvent;

TEST(TicketStateTest, HappyPath) {
  S s = S::kBlocked;
  for (E e : {E::kDepsMerged, E::kDispatched, E::kPushed, E::kCiFailed, E::kFixPushed, E::kMerged}) {
    auto next = NextTicketState(s, e);
    ASSERT_TRUE(next.ok()) << next.error().ToString();
    s = *next;
  }
  EXPECT_EQ(s, S::kDone);
}

TEST(TicketStateTest, ExhaustedAndRetry) {
  EXPECT_EQ(*NextTicketState(S::kFixing, E::kAttemptsExhausted), S::kNeedsHuman);
  EXPECT_EQ(*NextTicketState(S::kNeedsHuman, E::kRetry), S::kReady);
  EXPECT_EQ(*NextTicketState(S::kRunning, E::kRateLimited), S::kReady);
  EXPECT_EQ(*NextTicketState(S::kFixing, E::kRateLimited), S::kFixing);
}

TEST(TicketStateTest, HumansMayMergeAnytimeAfterAPr) {
  for (S s : {S::kRunning, S::kPrOpen, S::kFixing, S::kNeedsHuman, S::kDone}) {
    EXPECT_EQ(*NextTicketState(s, E::kMerged), S::kDone) << TicketStateName(s);
  }
}

TEST(TicketStateTest, InvalidTransitionsAreErrors) {
  auto r = NextTicketState(S::kBlocked, E::kDispatched);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message(), "ticket event dispatched does not apply in state blocked");
  EXPECT_FALSE(NextTicketState(S::kDone, E::kRetry).ok());
  EXPECT_FALSE(NextTicketState(S::kReady, E::kPushed).ok());
  EXPECT_FALSE(NextTicketState(S::kPrOpen, E::kDispatched).ok());
}

TEST(TicketStateTest, NamesRoundTrip) {
  for (S s : {S::kBlocked, S::kReady, S::kRunning, S::kPrOpen, S::kFixing, S::kDone, S::kNeedsHuman}) {
    EXPECT_EQ(ParseTicketState(TicketStateName(s)), s);
  }
  EXPECT_FALSE(ParseTicketState("merged").has_value());
}

}  // namespace
}  // namespace wavebot::core
