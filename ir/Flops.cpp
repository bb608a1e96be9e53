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
  case OpKind::MatMul: { // [..., M, K] x [..., K, N]: K multiply-adds per output element
    bool transposeA = n.attrs[static_cast<size_t>(n.info().attrIndex("transpose_a"))].boolean;
    const Type &a = type(0);
    size_t depth = a.rank() - (transposeA ? 2 : 1);
    return 2 * out * static_cast<double>(extent(a.shape[depth], dims));
  }
  case OpKind::FusedMatMul: { // (a, b[, bias]): the product, the bias and activation per element
    const Type &a = type(0);
    size_t depth =
        a.rank() -
        (n.attrs[static_cast<size_t>(n.info().attrIndex("transpose_a"))].boolean ? 2 : 1);
    return 2 * out * static_cast<double>(extent(a.shape[depth], dims)) + 2 * out;
  }
  case OpKind::FusedMatMulGradInput: // (dy, z, w): [rows, N] x [N, K]
    return 2 * out * static_cast<double>(extent(type(0).shape.back(), dims));
  case OpKind::FusedMatMulGradWeight: { // (x, dy[, z]): [K, rows] x [rows, N]
    const Type &dy = type(1);
    return 2 * out * elements(dy, dims) / static_cast<double>(extent(dy.shape.back(), dims));
  }
  case OpKind::FusedAttention: // 2 Tq Tk (D + Dv) per batch index
  case OpKind::FusedAttentionGrad: {
    const Type &q = type(0), &k = type(1), &v = type(2);
    double d = static_cast<double>(extent(q.shape.back(), dims));
    double dv = static_cast<double>(extent(v.shape.back(), dims));
    double pairs = elements(q, dims) / d * static_cast<double>(extent(k.shape[k.rank() - 2], dims));
    if (n.op == OpKind::FusedAttention)
      return 2 * pairs * (d + dv);
    // Per (row, key): the scores twice (normalizers, then P), and for q and
    // k dP and the product into the result (codegen/lower/Attention.cpp).
    bool isV = n.attrs[static_cast<size_t>(n.info().attrIndex("wrt"))].ident == "v";
    return 2 * pairs * (isV ? 2 * d + dv : 3 * d + dv);
  }
  case OpKind::Conv2d: // (x, w[, b]) -> y
    return 2 * out * filterTaps(type(1), dims) + (n.operands.size() > 2 ? out : 0);
  case OpKind::FusedConv2d: // conv2d's, and the activation per element
    return 2 * out * filterTaps(type(1), dims) + (n.operands.size() > 2 ? out : 0) +
           (n.attrs[static_cast<size_t>(n.info().attrIndex("activation"))].ident == "none" ? 0
                                                                                           : out);
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
