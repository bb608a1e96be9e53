/// Which row sums ride along in another kernel (passes/schedule/RowSums.h).
#include "passes/schedule/RowSums.h"
#include "ir/MatMulForm.h"
#include "ir/NodeAttrs.h"

#include <algorithm>

namespace nnc {

namespace {

/// The gradient `d` whose rows `n` reduces: sum over every axis but the
/// last (keepdims false), fused_matmul_grad_bias(d, z), or a layernorm
/// gamma gradient (the sum over rows of d xhat); else kNoValue.
ValueId rowSumOperand(const Graph &g, const Node &n) {
  switch (n.op) {
  case OpKind::FusedMatMulGradBias:
    return n.operands[0];
  case OpKind::LayerNormGammaGrad: // (x, dy)
    return n.operands[1];
  case OpKind::FusedAddLayerNormGammaGrad: // (x, r, dy)
    return n.operands[2];
  case OpKind::Sum:
    break;
  default:
    return kNoValue;
  }
  if (attr::keepdims(n) || attr::axes(n).isNone())
    return kNoValue;
  ValueId d = n.operands[0];
  size_t rank = g.type(d).rank();
  std::vector<int64_t> axes = attr::axes(n).asInts();
  std::sort(axes.begin(), axes.end());
  if (rank < 2 || axes.size() != rank - 1)
    return kNoValue;
  for (size_t k = 0; k < axes.size(); ++k)
    if (axes[k] != static_cast<int64_t>(k))
      return kNoValue;
  return d;
}

bool isGammaGrad(OpKind op) {
  return op == OpKind::LayerNormGammaGrad || op == OpKind::FusedAddLayerNormGammaGrad;
}

/// The layernorm gradient's pass over each row can also sum dy (beta) and
/// dy xhat (gamma) for the same x (and r), dy and eps.
bool layerNormHosts(const Node &host, const Node &guest, ValueId d, size_t dyAt) {
  if (host.operands[dyAt] != d)
    return false;
  if (guest.op == OpKind::Sum)
    return true;
  bool fused = host.op == OpKind::FusedAddLayerNormGrad;
  return guest.op == (fused ? OpKind::FusedAddLayerNormGammaGrad : OpKind::LayerNormGammaGrad) &&
         guest.operands[0] == host.operands[0] &&
         (!fused || guest.operands[1] == host.operands[1]) && attr::eps(guest) == attr::eps(host);
}

/// Whether `host` reads `d` in a pass that can reduce its rows for `guest`.
bool canHost(const Graph &g, const Node &host, const Node &guest, ValueId d) {
  switch (host.op) {
  case OpKind::LayerNormGrad: // (x, gamma, dy)
    return layerNormHosts(host, guest, d, 2);
  case OpKind::FusedAddLayerNormGrad: // (x, r, gamma, dy)
    return layerNormHosts(host, guest, d, 3);
  case OpKind::LayerNormGammaGrad:
    return guest.op == OpKind::Sum && host.operands[1] == d;
  case OpKind::FusedAddLayerNormGammaGrad:
    return guest.op == OpKind::Sum && host.operands[2] == d;
  case OpKind::FusedMatMulGradWeight: // (x, dy, z) [transpose_a, activation, alpha]
    if (host.operands[1] != d)
      return false;
    if (guest.op == OpKind::FusedMatMulGradBias) // (dy, z) [activation, alpha]
      return host.operands.size() > 2 && guest.operands[1] == host.operands[2] &&
             attr::activation(guest) == attr::activation(host) &&
             attr::alpha(guest) == attr::alpha(host);
    return guest.op == OpKind::Sum && attr::activation(host) == "none";
  case OpKind::MatMul: // B = d, a matrix, not transposed: its column sums
    return guest.op == OpKind::Sum && host.operands[1] == d && !attr::transposeB(host) &&
           isSingleGemm(g, host);
  default:
    return false;
  }
}

} // namespace

void scheduleRowSums(const Graph &g, KernelSchedule &s) {
  size_t n = g.nodes.size();
  std::vector<NodeId> firstReader = firstReaders(g);
  // A host takes at most one guest of each kind; gamma gradients first, so
  // that a layernorm gradient hosts them and the beta sum alike.
  auto hasGuestLike = [&](size_t host, const Node &guest) {
    for (NodeId other : s.guestsOf[host])
      if (isGammaGrad(g.node(other).op) == isGammaGrad(guest.op))
        return true;
    return false;
  };
  for (bool gammaPass : {true, false})
    for (size_t gi = 0; gi < n; ++gi) {
      const Node &guest = g.nodes[gi];
      ValueId d = rowSumOperand(g, guest);
      if (d == kNoValue || isGammaGrad(guest.op) != gammaPass || !s.guestsOf[gi].empty())
        continue;
      NodeId readBy = firstReader[static_cast<size_t>(guest.result)];
      for (size_t hi = 0; hi < n; ++hi) {
        if (hi == gi || s.hostOf[hi] != kNoNode || static_cast<NodeId>(hi) >= readBy ||
            hasGuestLike(hi, guest) || !canHost(g, g.nodes[hi], guest, d))
          continue;
        s.host(static_cast<NodeId>(gi), static_cast<NodeId>(hi));
        break;
      }
    }
}

} // namespace nnc
