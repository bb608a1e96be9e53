/// The kernel schedule: which node's kernel computes which nodes. Guests are
/// nodes whose result another node's kernel (their host) computes,
/// so that they cost no pass of their own over memory. The graph keeps every
/// node (the interpreter runs them one by one, and the printed graph says
/// what is computed); this schedule tells the memory planner and the code
/// generator that a guest's result is written when its host runs.
///
///   row sums (passes/schedule/RowSums.h)   a bias, beta or gamma gradient,
///                                         summed by the kernel that reads d
///   batch-norm guests                     running statistics, gamma's and beta's
///     (passes/schedule/BatchNormGuests.h)   gradients, in the pass over the same x, dy
///   GEMM epilogues                        an element-wise node reading a GEMM's
///     (passes/schedule/GemmEpilogues.h)     result, run on each finished tile
#pragma once

#include "ir/Graph.h"

#include <vector>

namespace nnc {

inline constexpr NodeId kNoNode = -1;

struct KernelSchedule {
  std::vector<NodeId> hostOf; ///< per node: the node whose kernel computes it, or kNoNode
  std::vector<std::vector<NodeId>> guestsOf; ///< per node: the guests its kernel also computes

  KernelSchedule() = default;
  explicit KernelSchedule(size_t nodes) : hostOf(nodes, kNoNode), guestsOf(nodes) {}
  bool isGuest(NodeId n) const { return hostOf[static_cast<size_t>(n)] != kNoNode; }
  void host(NodeId guest, NodeId host) {
    hostOf[static_cast<size_t>(guest)] = host;
    guestsOf[static_cast<size_t>(host)].push_back(guest);
  }
  /// Kernels one run of the graph launches: nodes less guests.
  size_t kernels() const;
};

/// Per value: the first node that reads it as an operand (the node count
/// when none does). A guest may be hosted only by a node before that.
std::vector<NodeId> firstReaders(const Graph &g);

/// The schedule of a graph after fusion: row sums first, then batch-norm
/// guests, then GEMM epilogues. The compile pipeline computes it once (passes/Pipeline.h);
/// the memory planner and the code generator follow it.
KernelSchedule scheduleKernels(const Graph &g);

/// The schedule in words, one line per kernel that hosts guests, with the
/// values as printGraph() names them (`nnc opt --print-schedule`):
///
///   schedule of mlp: 17 kernels for 21 nodes
///     grad.w3 = fused_matmul_grad_weight hosts grad.b3 = fused_matmul_grad_bias (row sum)
std::string printSchedule(const Graph &g, const KernelSchedule &s);

} // namespace nnc
