// The dependency graph of an epic's tickets: waves by longest-path layering and cycle detection.
// Pure; thread-compatible.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace wavebot::core {

// A directed graph over issue numbers; an edge (a, b) means b depends on a (a must be merged first).
class DependencyGraph {
 public:
  // Adds a node; adding one twice is a no-op.
  void AddNode(int64_t n);
  // Adds the edge `from` -> `to`, adding missing nodes. Duplicate edges are kept once. A self-loop is
  // kept (it is a cycle of length one).
  void AddEdge(int64_t from, int64_t to);

  size_t node_count() const { return nodes_.size(); }
  size_t edge_count() const { return edge_count_; }
  // Nodes in insertion order.
  const std::vector<int64_t>& nodes() const { return nodes_; }
  bool Contains(int64_t n) const { return index_.count(n) > 0; }
  // Direct dependencies of `n`, ascending. Empty for an unknown node.
  std::vector<int64_t> DependenciesOf(int64_t n) const;
  // Direct dependents of `n`, ascending.
  std::vector<int64_t> DependentsOf(int64_t n) const;

  // Returns a cycle as the list of its nodes with the first repeated at the end (#3 -> #5 -> #3 is
  // {3, 5, 3}), or nullopt when the graph is acyclic. Deterministic: the cycle found from the smallest
  // node that lies on one.
  std::optional<std::vector<int64_t>> FindCycle() const;

  // Longest-path layering: wave 0 holds the nodes without dependencies, and every node sits one wave
  // after its latest dependency. Each wave is sorted ascending. Returns nullopt when there is a cycle.
  std::optional<std::vector<std::vector<int64_t>>> Waves() const;

 private:
  size_t IndexOf(int64_t n);

  std::vector<int64_t> nodes_;
  std::unordered_map<int64_t, size_t> index_;
  std::vector<std::vector<size_t>> out_;  // out_[i]: dependents of nodes_[i]
  std::vector<std::vector<size_t>> in_;   // in_[i]: dependencies of nodes_[i]
  size_t edge_count_ = 0;
};

// Formats a cycle as "#3 → #5 → #3".
std::string FormatCycle(const std::vector<int64_t>& cycle);

}  // namespace wavebot::core
