#include "core/graph.h"

#include <algorithm>

namespace wavebot::core {

size_t DependencyGraph::IndexOf(int64_t n) {
  auto [it, inserted] = index_.emplace(n, nodes_.size());
  if (inserted) {
    nodes_.push_back(n);
    out_.emplace_back();
    in_.emplace_back();
  }
  return it->second;
}

void DependencyGraph::AddNode(int64_t n) { IndexOf(n); }

void DependencyGraph::AddEdge(int64_t from, int64_t to) {
  size_t a = IndexOf(from);
  size_t b = IndexOf(to);
  auto& outs = out_[a];
  if (std::find(outs.begin(), outs.end(), b) != outs.end()) return;
  outs.push_back(b);
  in_[b].push_back(a);
  ++edge_count_;
}

std::vector<int64_t> DependencyGraph::DependenciesOf(int64_t n) const {
  std::vector<int64_t> result;
  auto it = index_.find(n);
  if (it == index_.end()) return result;
  for (size_t i : in_[it->second]) result.push_back(nodes_[i]);
  std::sort(result.begin(), result.end());
  return result;
}

std::vector<int64_t> DependencyGraph::DependentsOf(int64_t n) const {
  std::vector<int64_t> result;
  auto it = index_.find(n);
  if (it == index_.end()) return result;
  for (size_t i : out_[it->second]) result.push_back(nodes_[i]);
  std::sort(result.begin(), result.end());
  return result;
}

std::optional<std::vector<std::vector<int64_t>>> DependencyGraph::Waves() const {
  const size_t n = nodes_.size();
  std::vector<size_t> pending(n);
  std::vector<size_t> level(n, 0);
  std::vector<size_t> queue;
  queue.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    pending[i] = in_[i].size();
    if (pending[i] == 0) queue.push_back(i);
  }
  size_t max_level = 0;
  for (size_t head = 0; head < queue.size(); ++head) {
    size_t u = queue[head];
    for (size_t v : out_[u]) {
      level[v] = std::max(level[v], level[u] + 1);
      if (--pending[v] == 0) queue.push_back(v);
    }
    max_level = std::max(max_level, level[u]);
  }
  if (queue.size() != n) return std::nullopt;
  std::vector<std::vector<int64_t>> waves(n == 0 ? 0 : max_level + 1);
  for (size_t i = 0; i < n; ++i) waves[level[i]].push_back(nodes_[i]);
  for (auto& w : waves) std::sort(w.begin(), w.end());
  return waves;
}

std::optional<std::vector<int64_t>> DependencyGraph::FindCycle() const {
  const size_t n = nodes_.size();
  // Visit roots in ascending number order, and neighbours ascending, so the answer is deterministic.
  std::vector<size_t> order(n);
  for (size_t i = 0; i < n; ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return nodes_[a] < nodes_[b]; });
  std::vector<std::vector<size_t>> sorted_out(out_);
  for (auto& outs : sorted_out) {
    std::sort(outs.begin(), outs.end(), [&](size_t a, size_t b) { return nodes_[a] < nodes_[b]; });
  }
  enum : uint8_t { kWhite, kGrey, kBlack };
  std::vector<uint8_t> color(n, kWhite);
  std::vector<size_t> parent(n, SIZE_MAX);
  // Iterative DFS: (node, next child index).
  std::vector<std::pair<size_t, size_t>> stack;
  for (size_t root : order) {
    if (color[root] != kWhite) continue;
    stack.push_back({root, 0});
    color[root] = kGrey;
    while (!stack.empty()) {
      auto& [u, next] = stack.back();
      if (next < sorted_out[u].size()) {
        size_t v = sorted_out[u][next++];
        if (color[v] == kGrey) {
          // Found a back edge u -> v: the cycle is v ... u -> v.
          std::vector<int64_t> cycle;
          for (size_t w = u; w != v; w = parent[w]) cycle.push_back(nodes_[w]);
          cycle.push_back(nodes_[v]);
          std::reverse(cycle.begin(), cycle.end());
          cycle.push_back(nodes_[v]);
          return cycle;
        }
        if (color[v] == kWhite) {
          color[v] = kGrey;
          parent[v] = u;
          stack.push_back({v, 0});
        }
      } else {
        color[u] = kBlack;
        stack.pop_back();
      }
    }
  }
  return std::nullopt;
}

std::string FormatCycle(const std::vector<int64_t>& cycle) {
  std::string s;
  for (size_t i = 0; i < cycle.size(); ++i) {
    if (i) s += " \u2192 ";
    s += "#" + std::to_string(cycle[i]);
  }
  return s;
}

}  // namespace wavebot::core
