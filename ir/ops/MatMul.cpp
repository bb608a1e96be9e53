/// matmul: [M, K] x [K, N] -> [M, N], either operand optionally transposed;
/// and the fused matmul ops (forward with bias and activation, backward with
/// the activation's gradient applied on the way in).
#include "ir/Activation.h"
#include "ir/InternalError.h"
#include "ir/ShapeRules.h"

namespace nnc {

namespace {

/// op(a) op(b) for rank-2 f32 operands i and j with the given flags.
TypeOrNone product(ShapeQuery &q, size_t i, size_t j, bool ta, bool tb) {
  const Type &a = q.operand(i);
  const Type &b = q.operand(j);
  if (!q.requireF32(i) || !q.requireF32(j))
    return std::nullopt;
  if (a.rank() != 2 || b.rank() != 2)
    return q.error("operands must have rank 2: {} x {}", q.str(a), q.str(b));
  Dim m = a.shape[ta ? 1 : 0], ka = a.shape[ta ? 0 : 1];
  Dim kb = b.shape[tb ? 1 : 0], n = b.shape[tb ? 0 : 1];
  if (ka != kb)
    return q.error("inner dimensions differ: {}{} x {}{}", q.str(a), ta ? " (transposed)" : "",
                   q.str(b), tb ? " (transposed)" : "");
  return Type{DType::F32, {m, n}};
}

bool checkActivation(ShapeQuery &q) {
  const std::string &name = q.attr("activation").ident;
  if (activationNamed(name).known)
    return true;
  q.error("activation must be {}, got '{}'", activationNames(), name);
  return false;
}

/// dy and z of a fused backward op: one f32 type of rank 2.
bool checkGradientPair(ShapeQuery &q, size_t dy, size_t z) {
  if (!q.requireF32(dy) || !q.requireF32(z))
    return false;
  if (q.operand(dy).rank() != 2) {
    q.error("the gradient must have rank 2, got {}", q.str(q.operand(dy)));
    return false;
  }
  if (q.operand(z) != q.operand(dy)) {
    q.error("the activation value {} must have the type of the gradient {}", q.str(q.operand(z)),
            q.str(q.operand(dy)));
    return false;
  }
  return true;
}

TypeOrNone inferFused(ShapeQuery &q) {
  if (!checkActivation(q))
    return std::nullopt;
  switch (q.info.kind) {
  case OpKind::FusedMatMul: {
    TypeOrNone y = product(q, 0, 1, q.attr("transpose_a").boolean, q.attr("transpose_b").boolean);
    if (!y || q.operands.size() < 3)
      return y;
    if (!q.requireF32(2))
      return std::nullopt;
    Shape bias{y->shape[1]};
    if (q.operand(2).shape != bias)
      return q.error("bias must have shape {} (the columns of the product {}), got {}", q.str(bias),
                     q.str(*y), q.str(q.operand(2)));
    return y;
  }
  case OpKind::FusedMatMulGradInput:
    if (!checkGradientPair(q, 0, 1))
      return std::nullopt;
    return product(q, 0, 2, false, q.attr("transpose_b").boolean);
  case OpKind::FusedMatMulGradWeight:
    if (!checkGradientPair(q, 1, 2))
      return std::nullopt;
    return product(q, 0, 1, q.attr("transpose_a").boolean, false);
  case OpKind::FusedMatMulGradBias:
    if (!checkGradientPair(q, 0, 1))
      return std::nullopt;
    return Type{DType::F32, {q.operand(0).shape[1]}};
  default:
    NNC_UNHANDLED_OPKIND(q.info.kind, "shape rule");
  }
}

} // namespace

TypeOrNone inferMatMulType(ShapeQuery &q) {
  if (q.info.kind != OpKind::MatMul)
    return inferFused(q);
  return product(q, 0, 1, q.attr("transpose_a").boolean, q.attr("transpose_b").boolean);
}

} // namespace nnc
