/// Which row sums ride along in another kernel (passes/fusion/RowSums.h).
#include "passes/fusion/RowSums.h"

#include <algorithm>

namespace nnc {

namespace {

/// The gradient `d` whose row sum `n` is: sum over every axis but the last
/// (keepdims false), or fused_matmul_grad_bias(d, z); else kNoValue.
ValueId rowSumOperand(const Graph &g, const Node &n) {
  if (n.op == OpKind::FusedMatMulGradBias)
    return n.operands[0];
  if (n.op != OpKind::Sum || n.attrs[1].boolean || n.attrs[0].isNone())
    return kNoValue;
  ValueId d = n.operands[0];
  size_t rank = g.type(d).rank();
  std::vector<int64_t> axes = n.attrs[0].asInts();
  std::sort(axes.begin(), axes.end());
  if (rank < 2 || axes.size() != rank - 1)
    return kNoValue;
  for (size_t k = 0; k < axes.size(); ++k)
    if (axes[k] != static_cast<int64_t>(k))
      return kNoValue;
  return d;
}

/// Whether `host` reads `d` in a pass that can sum its rows for `guest`.
bool canHost(const Node &host, const Node &guest, ValueId d) {
  switch (host.op) {
  case OpKind::LayerNormGammaGrad:
    return guest.op == OpKind::Sum && host.operands[1] == d;
  case OpKind::FusedAddLayerNormGammaGrad:
    return guest.op == OpKind::Sum && host.operands[2] == d;
  case OpKind::FusedMatMulGradWeight: // (x, dy, z) [transpose_a, activation, alpha]
    if (host.operands[1] != d)
      return false;
    if (guest.op == OpKind::FusedMatMulGradBias) // (dy, z) [activation, alpha]
      return guest.operands[1] == host.operands[2] && guest.attrs[0] == host.attrs[1] &&
             guest.attrs[1] == host.attrs[2];
    return host.attrs[1].ident == "none";
  case OpKind::MatMul: // B = d, not transposed: its column sums
    return guest.op == OpKind::Sum && host.operands[1] == d && !host.attrs[1].boolean;
  default:
    return false;
  }
}

} // namespace

size_t RowSumSchedule::kernels() const {
  return static_cast<size_t>(std::count(hostOf.begin(), hostOf.end(), kNoNode));
}

RowSumSchedule scheduleRowSums(const Graph &g) {
  RowSumSchedule s{std::vector<NodeId>(g.nodes.size(), kNoNode),
                   std::vector<NodeId>(g.nodes.size(), kNoNode)};
  std::vector<NodeId> firstReader(g.values.size(), static_cast<NodeId>(g.nodes.size()));
  for (size_t i = g.nodes.size(); i-- > 0;)
    for (ValueId v : g.nodes[i].operands)
      firstReader[static_cast<size_t>(v)] = static_cast<NodeId>(i);
  for (size_t gi = 0; gi < g.nodes.size(); ++gi) {
    const Node &guest = g.nodes[gi];
    ValueId d = rowSumOperand(g, guest);
    if (d == kNoValue)
      continue;
    NodeId readBy = firstReader[static_cast<size_t>(guest.result)];
    for (size_t hi = 0; hi < g.nodes.size(); ++hi) {
      auto host = static_cast<NodeId>(hi);
      if (hi == gi || s.guestOf[hi] != kNoNode || s.hostOf[hi] != kNoNode || host >= readBy ||
          !canHost(g.nodes[hi], guest, d))
        continue;
      s.hostOf[gi] = host;
      s.guestOf[hi] = static_cast<NodeId>(gi);
      break;
    }
  }
  return s;
}

} // namespace nnc
