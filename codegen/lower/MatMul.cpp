/// Lowering of the MatMul family on the GEMM emitter (codegen/lower/Gemm.h):
/// matmul in every transpose variant, as one GEMM over rows or as one per
/// batch index (in parallel tasks); fused_matmul with bias and activation
/// applied to each finished tile in registers; the fused backward ops with
/// the activation's gradient applied as A or B is read, and a bias gradient
/// riding along as column sums of B (passes/schedule/RowSums.h).
#include "codegen/GemmLibrary.h"
#include "ir/NodeAttrs.h"
#include "ir/InternalError.h"
#include "codegen/lower/ActivationCode.h"
#include "codegen/lower/Gemm.h"
#include "ir/Activation.h"
#include "ir/MatMulForm.h"

namespace nnc {

namespace {

/// A fused backward node's activation gradient, as the element map of A
/// (`onA`) or of B; none for the identity.
void setGradientMap(Lowering &l, const Node &n, GemmOperands &g, bool onA, V z) {
  const std::string &name = attr::activation(n);
  if (activationNamed(name).none)
    return;
  double alpha = attr::alpha(n);
  (onA ? g.aZ : g.bZ) = z;
  (onA ? g.aMap : g.bMap) = activationGradientMap(l, name, alpha);
  (onA ? g.aMapActivation : g.bMapActivation) = gemmLibraryActivation(name);
}

/// The rows of a value seen as one matrix: the product of every dim but the
/// last (an operand's leading dims are more rows, ir/MatMulForm.h).
V rowsOf(Lowering &l, ValueId v) {
  std::vector<V> extents = l.shape(v);
  V rows = l.constI64(1);
  for (size_t a = 0; a + 1 < extents.size(); ++a)
    rows = l.b.CreateMul(rows, extents[a]);
  return rows;
}

V lastDim(Lowering &l, ValueId v) { return l.dim(l.type(v).shape.back()); }

/// Stores the tile, unless node `n` has an element-wise guest (finishTile):
/// an empty epilogue (emitGemm stores the tile itself).
GemmEpilogue guestEpilogue(Lowering &l, const Node &n, const GemmOperands &g);

} // namespace

ElementMap activationGradientMap(Lowering &l, const std::string &activation, double alpha) {
  Activation act = activationNamed(activation);
  return [&l, act, alpha](V dy, V z) -> V {
    auto &b = l.b;
    if (act.none)
      return dy;
    V zero = constantLike(dy, 0);
    if (act.grad == OpKind::ReluGrad)
      return b.CreateSelect(b.CreateFCmpOLE(z, zero), zero, dy);
    if (act.grad == OpKind::LeakyReluGrad)
      return b.CreateSelect(b.CreateFCmpOGT(z, zero), dy,
                            b.CreateFMul(dy, constantLike(dy, alpha)));
    return perLane(l, dy, z,
                   [&](V d, V zi) { return lowerUnaryGradScalar(l, act.grad, alpha, zi, d); });
  };
}

namespace {

/// Stores a finished tile of GEMM node `n`'s result; or, when the node has
/// an element-wise guest (passes/schedule/GemmEpilogues.h), which is then the
/// result's only reader, applies the guest to the tile's registers and
/// stores the guest's result instead.
void finishTile(Lowering &l, const Node &n, const GemmOperands &g, const GemmTile &t) {
  const Node *guest = l.guestNode(n, {OpKind::FusedElementwise});
  if (!guest) {
    storeTile(l, g.c, g.n, t);
    return;
  }
  auto &b = l.b;
  auto *vec = llvm::FixedVectorType::get(l.f32, t.vw);
  std::vector<V> scalars; // splatted once per tile
  for (ValueId v : guest->operands)
    scalars.push_back(v != n.result && l.graph.isScalar(v)
                          ? b.CreateVectorSplat(t.vw, l.load(v, l.constI64(0)))
                          : nullptr);
  for (unsigned r = 0; r < t.rows; ++r) {
    V row = b.CreateMul(b.CreateAdd(t.row0, l.constI64(r)), g.n);
    for (size_t v = 0; v < t.acc[r].size(); ++v) {
      V at = b.CreateAdd(row, b.CreateAdd(t.col0, l.constI64(int64_t(v) * t.vw)));
      std::vector<V> args;
      for (size_t k = 0; k < guest->operands.size(); ++k) {
        ValueId operand = guest->operands[k];
        args.push_back(operand == n.result ? t.acc[r][v]
                       : scalars[k]        ? scalars[k]
                                    : b.CreateMaskedLoad(vec, l.at(l.data(operand), at, l.f32),
                                                         llvm::Align(4), t.masks[v],
                                                         llvm::ConstantAggregateZero::get(vec)));
      }
      b.CreateMaskedStore(elementwiseValue(l, *guest, args), l.at(l.data(guest->result), at, l.f32),
                          llvm::Align(4), t.masks[v]);
    }
  }
}

/// fused_matmul: the GEMM, then bias and activation on each tile in registers.
void lowerFusedMatMul(Lowering &l, const Node &n) {
  ValueId a = n.operands[0], bv = n.operands[1], c = n.result;
  bool ta = attr::transposeA(n), tb = attr::transposeB(n);
  Activation act = activationNamed(attr::activation(n));
  double alpha = attr::alpha(n);
  V bias = n.operands.size() > 2 ? l.data(n.operands[2]) : nullptr;
  const Shape &as = l.type(a).shape;
  GemmOperands g{
      l.data(a), l.data(bv), l.data(c), rowsOf(l, c), lastDim(l, c), l.dim(ta ? as[0] : as.back()),
      ta,        tb};
  g.bf16 = attr::bf16Operands(n);
  const Node *guest = l.guestNode(n, {OpKind::FusedElementwise});
  if (!bias && act.none && !guest)
    return emitGemm(l, g, {});
  emitGemm(l, g, [&](const GemmTile &t) {
    GemmTile done = t;
    std::vector<V> biasVec;
    for (size_t v = 0; bias && v < t.masks.size(); ++v) {
      V p = l.at(bias, l.b.CreateAdd(t.col0, l.constI64(int64_t(v) * t.vw)), l.f32);
      auto *vec = llvm::FixedVectorType::get(l.f32, t.vw);
      biasVec.push_back(l.b.CreateMaskedLoad(vec, p, llvm::Align(4), t.masks[v],
                                             llvm::ConstantAggregateZero::get(vec)));
    }
    for (auto &row : done.acc)
      for (size_t v = 0; v < row.size(); ++v)
        row[v] = applyActivation(l, act, alpha, bias ? l.b.CreateFAdd(row[v], biasVec[v]) : row[v]);
    finishTile(l, n, g, done);
  });
}

/// fused_matmul_grad_bias (dy, z): column sums of g, rows accumulated in
/// order with the column loop vectorized.
void lowerFusedBiasGrad(Lowering &l, const Node &n) {
  auto &b = l.b;
  ValueId dy = n.operands[0], z = n.operands[1], out = n.result;
  ElementMap g = activationGradientMap(l, attr::activation(n), attr::alpha(n));
  V rows = rowsOf(l, dy), cols = lastDim(l, dy);
  l.zero(l.data(out), cols);
  l.forRange(
      rows,
      [&](V row) {
        V base = b.CreateMul(row, cols);
        l.forRange(cols, [&](V j) {
          V at = b.CreateAdd(base, j);
          l.store(out, j, b.CreateFAdd(l.load(out, j), g(l.load(dy, at), l.load(z, at))));
        });
      },
      false);
}

GemmEpilogue guestEpilogue(Lowering &l, const Node &n, const GemmOperands &g) {
  if (!l.guestNode(n, {OpKind::FusedElementwise}))
    return {};
  return [&l, &n, &g](const GemmTile &t) { finishTile(l, n, g, t); };
}

/// A matmul that is not one GEMM ([B, H, T, D] x [B, H, D, T]): one GEMM per
/// batch index of the result, each operand's batch index broadcast, the
/// batches as parallel tasks (each GEMM then runs on its task's thread).
void lowerBatchedMatMul(Lowering &l, const Node &n) {
  auto &b = l.b;
  ValueId a = n.operands[0], bv = n.operands[1], c = n.result;
  bool ta = attr::transposeA(n), tb = attr::transposeB(n);
  const Shape &as = l.type(a).shape, &cs = l.type(c).shape;
  size_t rank = cs.size();
  std::vector<V> extents = l.shape(c);
  V batches = l.constI64(1);
  for (size_t k = 0; k + 2 < rank; ++k)
    batches = b.CreateMul(batches, extents[k]);
  V m = extents[rank - 2], cols = extents[rank - 1], depth = l.dim(as[as.size() - (ta ? 2 : 1)]);
  V work = b.CreateMul(b.CreateMul(batches, m), b.CreateMul(cols, depth));
  V worthIt = b.CreateAnd(b.CreateICmpUGT(batches, l.constI64(1)),
                          b.CreateICmpUGE(work, l.constI64(int64_t{1} << 16)));
  parallelFor(l, batches, worthIt, [&](V t) {
    // The batch index of task t, and where each operand's matrix starts.
    std::vector<V> index(rank, l.constI64(0));
    V rest = t;
    for (size_t k = rank - 2; k-- > 0;) {
      index[k] = b.CreateURem(rest, extents[k]);
      rest = b.CreateUDiv(rest, extents[k]);
    }
    auto matrix = [&](ValueId v) { return l.at(l.data(v), l.broadcastOffset(v, index), l.f32); };
    GemmOperands g{matrix(a), matrix(bv), matrix(c), m, cols, depth, ta, tb};
    g.bf16 = attr::bf16Operands(n);
    emitGemm(l, g, {});
  });
}

} // namespace

void lowerMatMul(Lowering &l, const Node &n) {
  ValueId c = n.result;
  switch (n.op) {
  case OpKind::FusedAttention:
    return lowerAttention(l, n);
  case OpKind::FusedAttentionGrad:
    return lowerAttentionGrad(l, n);
  case OpKind::FusedMatMul:
    return lowerFusedMatMul(l, n);
  case OpKind::FusedMatMulGradBias:
    return lowerFusedBiasGrad(l, n);
  case OpKind::FusedMatMulGradInput: { // (dy, z, w): g op(w)
    ValueId dy = n.operands[0];
    GemmOperands g{l.data(dy),    l.data(n.operands[2]), l.data(c), rowsOf(l, c),
                   lastDim(l, c), lastDim(l, dy),        false,     attr::transposeB(n)};
    setGradientMap(l, n, g, true, l.data(n.operands[1]));
    g.bf16 = attr::bf16Operands(n);
    emitGemm(l, g, guestEpilogue(l, n, g));
    return;
  }
  case OpKind::FusedMatMulGradWeight: { // (x, dy[, z]): op(x) g over every row
    ValueId x = n.operands[0];
    bool ta = attr::transposeA(n);
    const Shape &cs = l.type(c).shape;
    GemmOperands g{l.data(x),    l.data(n.operands[1]),
                   l.data(c),    l.dim(cs[0]),
                   l.dim(cs[1]), ta ? rowsOf(l, x) : l.dim(l.type(x).shape[1]),
                   ta,           false};
    if (n.operands.size() > 2)
      setGradientMap(l, n, g, false, l.data(n.operands[2]));
    g.bf16 = attr::bf16Operands(n);
    if (ValueId bias = l.guestOf(n, {OpKind::Sum, OpKind::FusedMatMulGradBias}); bias != kNoValue)
      g.bSums = l.data(bias);
    emitGemm(l, g, guestEpilogue(l, n, g));
    return;
  }
  case OpKind::MatMul: {
    if (!isSingleGemm(l.graph, n))
      return lowerBatchedMatMul(l, n);
    ValueId a = n.operands[0], bv = n.operands[1];
    bool ta = attr::transposeA(n), tb = attr::transposeB(n);
    const Shape &as = l.type(a).shape;
    GemmOperands g{l.data(a),
                   l.data(bv),
                   l.data(c),
                   rowsOf(l, c),
                   lastDim(l, c),
                   l.dim(ta ? as[0] : as.back()),
                   ta,
                   tb};
    g.bf16 = attr::bf16Operands(n);
    if (ValueId bias = l.guestOf(n, {OpKind::Sum, OpKind::FusedMatMulGradBias}); bias != kNoValue)
      g.bSums = l.data(bias);
    emitGemm(l, g, guestEpilogue(l, n, g));
    return;
  }
  default:
    NNC_UNHANDLED_OP(n, "lowering");
  }
}

} // namespace nnc
