/// Guests: nodes whose result another node's kernel (their host) computes,
/// so that they cost no pass of their own over memory. The graph keeps every
/// node (the interpreter runs them one by one, and the printed graph says
/// what is computed); this schedule tells the memory planner and the code
/// generator that a guest's result is written when its host runs.
///
///   row sums (passes/fusion/RowSums.h)   a bias, beta or gamma gradient,
///                                         summed by the kernel that reads d
///   GEMM epilogues                        an element-wise node reading a GEMM's
///     (passes/fusion/GemmEpilogues.h)     result, run on each finished tile
#pragma once

#include "ir/Graph.h"

#include <vector>

namespace nnc {

inline constexpr NodeId kNoNode = -1;

struct GuestSchedule {
  std::vector<NodeId> hostOf; ///< per node: the node whose kernel computes it, or kNoNode
  std::vector<std::vector<NodeId>> guestsOf; ///< per node: the guests its kernel also computes

  explicit GuestSchedule(size_t nodes) : hostOf(nodes, kNoNode), guestsOf(nodes) {}
  bool isGuest(NodeId n) const { return hostOf[static_cast<size_t>(n)] != kNoNode; }
  void host(NodeId guest, NodeId host) {
    hostOf[static_cast<size_t>(guest)] = host;
    guestsOf[static_cast<size_t>(host)].push_back(guest);
  }
  /// Kernels one run of the graph launches: nodes less guests.
  size_t kernels() const;
};

/// Row sums first, then GEMM epilogues.
GuestSchedule scheduleGuests(const Graph &g);

} // namespace nnc
