/// What the fusion passes share: who reads each value, which values must
/// stay (outputs, update values, the loss), removal of the nodes a fusion
/// absorbed, and the passes themselves.
#pragma once

#include "passes/Pass.h"

#include <vector>

namespace nnc {

/// The readers of every value of a graph, by node.
struct Uses {
  std::vector<std::vector<NodeId>> users; ///< nodes reading each value (once per operand)
  std::vector<bool> pinned;               ///< an output, an update's value or the loss

  explicit Uses(const Graph &g);
  /// Why `v` cannot be fused away: "" when it has exactly one reader and is
  /// not pinned, else the reason ("its result has 2 users", ...).
  std::string whyKept(ValueId v) const;
};

/// Removes the nodes marked in `dead` and the values only they used
/// (compactGraph, keeping unused consts).
void removeNodes(Graph &g, const std::vector<bool> &dead);

/// Turns node `n` into `op(operands, attrs)`, keeping its result and location.
void rewriteNode(Node &n, OpKind op, std::vector<ValueId> operands, Attrs attrs);

std::unique_ptr<Pass> createFuseMatMulPass();
std::unique_ptr<Pass> createFuseAddLayerNormPass();
std::unique_ptr<Pass> createFuseElementwisePass();
std::unique_ptr<Pass> createFoldBatchNormPass();
std::unique_ptr<Pass> createFuseAttentionPass();
std::unique_ptr<Pass> createFusePoolReluPass();
std::unique_ptr<Pass> createFuseConvPass();

} // namespace nnc
