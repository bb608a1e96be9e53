/// Which element-wise nodes run in a GEMM's epilogue (passes/schedule/GemmEpilogues.h).
#include "passes/schedule/GemmEpilogues.h"
#include "ir/NodeAttrs.h"

#include "ir/ElementwiseProgram.h"
#include "passes/fusion/Fusion.h"

#include <algorithm>

namespace nnc {

namespace {

bool isGemm(OpKind op) {
  return op == OpKind::MatMul || op == OpKind::FusedMatMul || op == OpKind::FusedMatMulGradInput ||
         op == OpKind::FusedMatMulGradWeight;
}

/// Whether `e`'s program is arithmetic only, which the epilogue applies to
/// the tile's vector registers as they are.
bool isArithmetic(const Node &e) {
  std::string why;
  std::optional<ElementwiseProgram> program =
      decodeProgram(attr::program(e), e.operands.size(), why);
  if (!program)
    return false;
  for (const ElementwiseInstruction &inst : *program)
    if (inst.op != OpKind::Add && inst.op != OpKind::Sub && inst.op != OpKind::Mul &&
        inst.op != OpKind::Div && inst.op != OpKind::Neg)
      return false;
  return true;
}

/// Whether `host` already runs an element-wise guest.
bool hasEpilogue(const Graph &g, const KernelSchedule &s, NodeId host) {
  for (NodeId guest : s.guestsOf[static_cast<size_t>(host)])
    if (g.node(guest).op == OpKind::FusedElementwise)
      return true;
  return false;
}

/// The GEMM node whose result `e` can take as its epilogue, or kNoNode.
NodeId hostFor(const Graph &g, const Node &e, const Uses &uses, const KernelSchedule &s) {
  const Type &out = g.type(e.result);
  NodeId host = kNoNode;
  for (ValueId v : e.operands) {
    const Value &value = g.value(v);
    if (value.kind != ValueKind::Op || !isGemm(g.node(value.def).op))
      continue;
    const Type &c = g.type(v);
    int reads = static_cast<int>(std::count(e.operands.begin(), e.operands.end(), v));
    if (c.rank() == 2 && c == out &&
        uses.users[static_cast<size_t>(v)].size() == static_cast<size_t>(reads) &&
        !uses.pinned[static_cast<size_t>(v)] && !hasEpilogue(g, s, value.def))
      host = std::max(host, value.def); // the last GEMM read: the others come before it
  }
  if (host == kNoNode)
    return kNoNode;
  // Everything else is there when the host runs: scalars or same-shape
  // values, computed before it when they are op results.
  for (ValueId v : e.operands) {
    const Value &value = g.value(v);
    if (v == g.node(host).result)
      continue;
    if ((!g.isScalar(v) && g.type(v).shape != out.shape) ||
        (value.kind == ValueKind::Op && value.def >= host))
      return kNoNode;
  }
  return host;
}

} // namespace

void scheduleGemmEpilogues(const Graph &g, KernelSchedule &s) {
  Uses uses(g);
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node &e = g.nodes[i];
    if (e.op != OpKind::FusedElementwise || s.isGuest(static_cast<NodeId>(i)) ||
        g.type(e.result).dtype != DType::F32 || !isArithmetic(e))
      continue;
    if (NodeId host = hostFor(g, e, uses, s); host != kNoNode && !s.isGuest(host))
      s.host(static_cast<NodeId>(i), host);
  }
}

} // namespace nnc
