/// Which matmuls are one GEMM. matmul takes any rank >= 2 (batch dims
/// broadcast as NumPy's matmul); when b is a matrix and a is not transposed
/// (or is a matrix too), a's leading dims are only more rows of one matrix:
/// [B, T, K] x [K, N] is the GEMM [B T, K] x [K, N], which every kernel,
/// fusion and epilogue of a rank-2 matmul serves as it is.
#pragma once

#include "ir/Graph.h"
#include "ir/NodeAttrs.h"

namespace nnc {

/// Whether matmul node `n` is a single GEMM over rows (see above).
inline bool isSingleGemm(const Graph &g, const Node &n) {
  const Type &a = g.type(n.operands[0]), &b = g.type(n.operands[1]);
  return b.rank() == 2 && (a.rank() == 2 || !attr::transposeA(n));
}

} // namespace nnc
