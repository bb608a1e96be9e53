/// Horizontal fusion of row reductions: a bias, beta or gamma gradient (a
/// sum over the rows of a gradient d, or of d xhat) is computed by a kernel
/// that reads d row by row anyway, instead of by a pass of its own.
///
///   guest                                    host
///   sum(d, rows), fused_matmul_grad_bias     fused_matmul_grad_weight(x, d, z),
///                                            matmul(x, d) (as it packs d)
///   sum(d, rows), (fused_add_)layernorm_     (fused_add_)layernorm_grad(x, [r,]
///     gamma_grad(x, [r,] d)                    gamma, d) (its pass over each row)
///   sum(d, rows)                             (fused_add_)layernorm_gamma_grad,
///                                            when no layernorm gradient hosts it
///
/// So the layernorm backward is one pass giving the input (and residual),
/// gamma and beta gradients. The graph keeps every node (the interpreter
/// runs them one by one, and the printed graph says what is computed); the
/// schedule tells the memory planner and the code generator that a guest's
/// result is written when its host runs. A guest is hosted only when every
/// reader of its result comes after the host; a host takes at most one sum
/// and one gamma gradient.
#pragma once

#include "ir/Graph.h"

#include <vector>

namespace nnc {

inline constexpr NodeId kNoNode = -1;

struct RowSumSchedule {
  std::vector<NodeId> hostOf; ///< per node: the node whose kernel computes it, or kNoNode
  std::vector<std::vector<NodeId>> guestsOf; ///< per node: the reductions its kernel also computes

  bool isGuest(NodeId n) const { return hostOf[static_cast<size_t>(n)] != kNoNode; }
  /// Kernels one run of the graph launches: nodes less guests.
  size_t kernels() const;
};

RowSumSchedule scheduleRowSums(const Graph &g);

} // namespace nnc
