/// Horizontal fusion of row sums: a bias or beta gradient, the sum of a
/// gradient over its rows, is computed by the kernel that reads that
/// gradient anyway instead of by a pass of its own.
///
///   sum(d, axes=[0..r-2]) or fused_matmul_grad_bias(d, z)   (the guest)
///   reduced inside
///   layernorm_gamma_grad(x, d), fused_add_layernorm_gamma_grad(x, r, d),
///   fused_matmul_grad_weight(x, d, z) or matmul(x, d, transpose_a=true)
///                                                            (its host)
///
/// The graph keeps both nodes (the interpreter runs them one by one, and
/// the printed graph says what is computed); the schedule below tells the
/// memory planner and the code generator that the guest's result is
/// written when its host runs. A guest is hosted only when every reader of
/// its result comes after the host, and a host takes one guest.
#pragma once

#include "ir/Graph.h"

#include <vector>

namespace nnc {

inline constexpr NodeId kNoNode = -1;

struct RowSumSchedule {
  std::vector<NodeId> hostOf;  ///< per node: the node whose kernel computes it, or kNoNode
  std::vector<NodeId> guestOf; ///< per node: the row sum its kernel also computes, or kNoNode

  bool isGuest(NodeId n) const { return hostOf[static_cast<size_t>(n)] != kNoNode; }
  /// Kernels one run of the graph launches: nodes less guests.
  size_t kernels() const;
};

RowSumSchedule scheduleRowSums(const Graph &g);

} // namespace nnc
