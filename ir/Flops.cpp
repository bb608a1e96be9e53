/// FLOP counts per op.
#include "ir/Flops.h"

namespace nnc {

namespace {

double elements(const Type &t, const std::vector<int64_t> &dims) {
  double n = 1;
  for (const Dim &d : t.shape)
    n *= static_cast<double>(d.isStatic() ? d.size : dims[static_cast<size_t>(d.symbol)]);
  return n;
}

int64_t extent(const Dim &d, const std::vector<int64_t> &dims) {
  return d.isStatic() ? d.size : dims[static_cast<size_t>(d.symbol)];
}

/// C * KH * KW of a filter [F, C, KH, KW]: multiply-adds per output element.
double filterTaps(const Type &w, const std::vector<int64_t> &dims) {
  return elements(w, dims) / static_cast<double>(extent(w.shape[0], dims));
}

} // namespace

double nodeFlops(const Graph &g, const Node &n, const std::vector<int64_t> &dims) {
  auto type = [&](size_t operand) -> const Type & { return g.type(n.operands[operand]); };
  double out = elements(g.type(n.result), dims);
  switch (n.op) {
  case OpKind::MatMul: {
    bool transposeA = n.attrs[static_cast<size_t>(n.info().attrIndex("transpose_a"))].boolean;
    const Type &a = type(0);
    return 2 * out * static_cast<double>(extent(a.shape[transposeA ? 0 : 1], dims));
  }
  case OpKind::Conv2d: // (x, w[, b]) -> y
    return 2 * out * filterTaps(type(1), dims) + (n.operands.size() > 2 ? out : 0);
  case OpKind::Conv2dGradInput: // (dy, w, x): each dy element meets every tap
    return 2 * elements(type(0), dims) * filterTaps(type(1), dims);
  case OpKind::Conv2dGradFilter: // (x, dy, w)
    return 2 * elements(type(1), dims) * filterTaps(type(2), dims);
  default:
    break;
  }
  if (n.info().has(kReduction) || n.info().has(kLoss))
    return elements(type(0), dims);
  return out;
}

double graphFlops(const Graph &g, const std::vector<int64_t> &dims) {
  double total = 0;
  for (const Node &n : g.nodes)
    total += nodeFlops(g, n, dims);
  return total;
}

} // namespace nnc
