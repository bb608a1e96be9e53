/// Which batch-norm reductions share a pass (passes/schedule/BatchNormGuests.h).
#include "passes/schedule/BatchNormGuests.h"
#include "ir/NodeAttrs.h"

#include <algorithm>

namespace nnc {

bool isChannelSum(const Graph &g, const Node &sum) {
  if (sum.op != OpKind::Sum || attr::keepdims(sum) || attr::axes(sum).isNone())
    return false;
  size_t rank = g.type(sum.operands[0]).rank();
  std::vector<int64_t> axes = attr::axes(sum).asInts();
  for (int64_t &a : axes)
    if (a < 0)
      a += static_cast<int64_t>(rank);
  std::sort(axes.begin(), axes.end());
  std::vector<int64_t> want;
  for (size_t a = 0; a < rank; ++a)
    if (a != 1)
      want.push_back(static_cast<int64_t>(a));
  return rank >= 2 && axes == want;
}

namespace {

/// Whether `host`'s pass can compute `guest`.
bool canHost(const Graph &g, const Node &host, const Node &guest) {
  switch (host.op) {
  case OpKind::BatchNormTrain: // (x, gamma, beta)
    return (guest.op == OpKind::BatchNormRunningMean || guest.op == OpKind::BatchNormRunningVar) &&
           guest.operands[0] == host.operands[0];
  case OpKind::BatchNormGrad:                   // (x, gamma, dy)
    if (guest.op == OpKind::BatchNormGammaGrad) // (x, dy)
      return guest.operands[0] == host.operands[0] && guest.operands[1] == host.operands[2] &&
             attr::eps(guest) == attr::eps(host);
    return isChannelSum(g, guest) && guest.operands[0] == host.operands[2];
  case OpKind::BatchNormGammaGrad: // (x, dy)
    return isChannelSum(g, guest) && guest.operands[0] == host.operands[1];
  default:
    return false;
  }
}

bool isCandidate(const Graph &g, const Node &n) {
  return n.op == OpKind::BatchNormRunningMean || n.op == OpKind::BatchNormRunningVar ||
         n.op == OpKind::BatchNormGammaGrad || isChannelSum(g, n);
}

} // namespace

void scheduleBatchNormGuests(const Graph &g, KernelSchedule &s) {
  size_t n = g.nodes.size();
  std::vector<NodeId> firstReader = firstReaders(g);
  auto hasGuestOp = [&](size_t host, OpKind op) {
    for (NodeId other : s.guestsOf[host])
      if (g.node(other).op == op)
        return true;
    return false;
  };
  // batchnorm_grad first: it takes gamma's gradient and then the sum that
  // gamma's gradient would otherwise host.
  for (OpKind hostOp : {OpKind::BatchNormTrain, OpKind::BatchNormGrad, OpKind::BatchNormGammaGrad})
    for (size_t hi = 0; hi < n; ++hi) {
      const Node &host = g.nodes[hi];
      if (host.op != hostOp || s.hostOf[hi] != kNoNode)
        continue;
      for (size_t gi = 0; gi < n; ++gi) {
        const Node &guest = g.nodes[gi];
        if (gi == hi || s.hostOf[gi] != kNoNode || !s.guestsOf[gi].empty() ||
            !isCandidate(g, guest) || hasGuestOp(hi, guest.op) ||
            firstReader[static_cast<size_t>(guest.result)] <= static_cast<NodeId>(hi) ||
            !canHost(g, host, guest))
          continue;
        s.host(static_cast<NodeId>(gi), static_cast<NodeId>(hi));
      }
    }
}

} // namespace nnc
