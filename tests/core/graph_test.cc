#include "core/graph.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>

namespace wavebot::core {
namespace {

using Waves = std::vector<std::vector<int64_t>>;

TEST(GraphTest, EmptyGraphHasNoWaves) {
  DependencyGraph g;
  EXPECT_EQ(g.Waves()->size(), 0u);
  EXPECT_FALSE(g.FindCycle().has_value());
}

TEST(GraphTest, Diamond) {
  DependencyGraph g;
  g.AddEdge(1, 2);
  g.AddEdge(1, 3);
  g.AddEdge(2, 4);
  g.AddEdge(3, 4);
  EXPECT_EQ(*g.Waves(), (Waves{{1}, {2, 3}, {4}}));
  EXPECT_EQ(g.DependenciesOf(4), (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(g.DependentsOf(1), (std::vector<int64_t>{2, 3}));
}

TEST(GraphTest, LongestPathNotShortest) {
  // 4 depends on 1 directly and through 2 -> 3: it belongs after 3.
  DependencyGraph g;
  g.AddEdge(1, 4);
  g.AddEdge(1, 2);
  g.AddEdge(2, 3);
  g.AddEdge(3, 4);
  EXPECT_EQ(*g.Waves(), (Waves{{1}, {2}, {3}, {4}}));
}

TEST(GraphTest, IsolatedNodesAreInTheFirstWave) {
  DependencyGraph g;
  g.AddNode(9);
  g.AddNode(3);
  g.AddEdge(5, 6);
  EXPECT_EQ(*g.Waves(), (Waves{{3, 5, 9}, {6}}));
}

TEST(GraphTest, DuplicateEdgesCountOnce) {
  DependencyGraph g;
  g.AddEdge(1, 2);
  g.AddEdge(1, 2);
  g.AddNode(1);
  EXPECT_EQ(g.edge_count(), 1u);
  EXPECT_EQ(g.node_count(), 2u);
  EXPECT_EQ(g.DependenciesOf(2), (std::vector<int64_t>{1}));
}

TEST(GraphTest, SelfLoopIsACycle) {
  DependencyGraph g;
  g.AddEdge(7, 7);
  EXPECT_EQ(*g.FindCycle(), (std::vector<int64_t>{7, 7}));
  EXPECT_FALSE(g.Waves().has_value());
  EXPECT_EQ(FormatCycle(*g.FindCycle()), "#7 \u2192 #7");
}

TEST(GraphTest, TwoCycleIsReported) {
  DependencyGraph g;
  g.AddEdge(3, 5);
  g.AddEdge(5, 3);
  g.AddEdge(1, 3);
  EXPECT_EQ(FormatCycle(*g.FindCycle()), "#3 \u2192 #5 \u2192 #3");
}

TEST(GraphTest, LongCycleBehindAcyclicPart) {
  DependencyGraph g;
  g.AddEdge(1, 2);
  g.AddEdge(2, 10);
  g.AddEdge(10, 11);
  g.AddEdge(11, 12);
  g.AddEdge(12, 10);
  g.AddEdge(2, 20);
  EXPECT_EQ(*g.FindCycle(), (std::vector<int64_t>{10, 11, 12, 10}));
}

TEST(GraphTest, UnknownNodeHasNoNeighbours) {
  DependencyGraph g;
  EXPECT_TRUE(g.DependenciesOf(42).empty());
  EXPECT_FALSE(g.Contains(42));
}

// Reference layering: relax every edge until nothing changes.
std::map<int64_t, int> ReferenceLevels(const std::vector<int64_t>& nodes,
                                       const std::vector<std::pair<int64_t, int64_t>>& edges) {
  std::map<int64_t, int> level;
  for (int64_t n : nodes) level[n] = 0;
  for (bool changed = true; changed;) {
    changed = false;
    for (const auto& [a, b] : edges) {
      if (level[b] < level[a] + 1) {
        level[b] = level[a] + 1;
        changed = true;
      }
    }
  }
  return level;
}

class RandomGraphTest : public ::testing::TestWithParam<uint32_t> {};

TEST_P(RandomGraphTest, WavesMatchReferenceOn10kNodes) {
  std::mt19937 rng(GetParam());
  const int n = 10000;
  // A random DAG: a random order of issue numbers, edges only forward in that order.
  std::vector<int64_t> order(n);
  for (int i = 0; i < n; ++i) order[i] = 1000 + i * 3;
  std::shuffle(order.begin(), order.end(), rng);
  std::vector<std::pair<int64_t, int64_t>> edges;
  DependencyGraph g;
  for (int64_t v : order) g.AddNode(v);
  std::uniform_int_distribution<int> span(1, 200);
  for (int i = 1; i < n; ++i) {
    for (int k = 0; k < 5; ++k) {
      int j = std::max(0, i - span(rng));
      edges.emplace_back(order[j], order[i]);
      g.AddEdge(order[j], order[i]);
    }
  }
  auto waves = g.Waves();
  ASSERT_TRUE(waves.has_value());
  EXPECT_FALSE(g.FindCycle().has_value());
  auto want = ReferenceLevels(order, edges);
  size_t total = 0;
  for (size_t w = 0; w < waves->size(); ++w) {
    EXPECT_TRUE(std::is_sorted((*waves)[w].begin(), (*waves)[w].end()));
    for (int64_t v : (*waves)[w]) {
      ASSERT_EQ(want[v], static_cast<int>(w)) << "node " << v;
      ++total;
    }
  }
  EXPECT_EQ(total, static_cast<size_t>(n));

  // Close a cycle with one back edge; the reported cycle must consist of real edges.
  std::set<std::pair<int64_t, int64_t>> edge_set(edges.begin(), edges.end());
  int64_t last = order[n - 1];
  int64_t dep = g.DependenciesOf(last).front();
  g.AddEdge(last, dep);
  edge_set.emplace(last, dep);
  auto cycle = g.FindCycle();
  ASSERT_TRUE(cycle.has_value());
  ASSERT_GE(cycle->size(), 3u);
  EXPECT_EQ(cycle->front(), cycle->back());
  for (size_t i = 0; i + 1 < cycle->size(); ++i) {
    EXPECT_TRUE(edge_set.count({(*cycle)[i], (*cycle)[i + 1]})) << (*cycle)[i] << "->" << (*cycle)[i + 1];
  }
  EXPECT_FALSE(g.Waves().has_value());
}

INSTANTIATE_TEST_SUITE_P(Seeds, RandomGraphTest, ::testing::Values(1u, 2u, 3u, 42u));

}  // namespace
}  // namespace wavebot::core
