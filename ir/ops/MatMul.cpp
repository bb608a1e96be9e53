/// matmul: [M, K] x [K, N] -> [M, N], either operand optionally transposed;
/// and the fused matmul ops (forward with bias and activation, backward with
/// the activation's gradient applied on the way in).
#include "ir/Activation.h"
#include "ir/InternalError.h"
#include "ir/ShapeRules.h"

#include <algorithm>

namespace nnc {

namespace {

/// op(a) op(b) for f32 operands i and j of rank 2 or more with the given
/// flags: [..., M, K] x [..., K, N] -> [..., M, N], the leading (batch) dims
/// broadcast as NumPy's matmul does.
TypeOrNone product(ShapeQuery &q, size_t i, size_t j, bool ta, bool tb) {
  const Type &a = q.operand(i);
  const Type &b = q.operand(j);
  if (!q.requireF32(i) || !q.requireF32(j))
    return std::nullopt;
  if (a.rank() < 2 || b.rank() < 2)
    return q.error("operands must have rank 2 or more: {} x {}", q.str(a), q.str(b));
  size_t ra = a.rank(), rb = b.rank();
  Dim m = a.shape[ta ? ra - 1 : ra - 2], ka = a.shape[ta ? ra - 2 : ra - 1];
  Dim kb = b.shape[tb ? rb - 1 : rb - 2], n = b.shape[tb ? rb - 2 : rb - 1];
  if (ka != kb)
    return q.error("inner dimensions differ: {}{} x {}{}", q.str(a), ta ? " (transposed)" : "",
                   q.str(b), tb ? " (transposed)" : "");
  Shape batch;
  if (!broadcastShapes(Shape(a.shape.begin(), a.shape.end() - 2),
                       Shape(b.shape.begin(), b.shape.end() - 2), batch))
    return q.error("batch dims do not broadcast: {} x {}", q.str(a), q.str(b));
  batch.push_back(m);
  batch.push_back(n);
  return Type{DType::F32, batch};
}

/// The fused ops take rows: a (or dy) [..., K] whose leading dims are all
/// rows of one matrix, times a rank-2 b; a transposed operand is rank 2.
bool checkRows(ShapeQuery &q, size_t rows, size_t matrix, bool rowsTransposed) {
  if (q.operand(matrix).rank() != 2) {
    q.error("{} must have rank 2, got {}", matrix == 1 ? "b" : "w", q.str(q.operand(matrix)));
    return false;
  }
  if (rowsTransposed && q.operand(rows).rank() != 2) {
    q.error("a transposed operand must have rank 2, got {}", q.str(q.operand(rows)));
    return false;
  }
  return true;
}

bool checkActivation(ShapeQuery &q) {
  const std::string &name = q.attr("activation").ident;
  if (activationNamed(name).known)
    return true;
  q.error("activation must be {}, got '{}'", activationNames(), name);
  return false;
}

/// dy and z of a fused backward op: one f32 type of rank 2 or more (rows);
/// z may be absent (`z` past the operands) where the activation is none.
bool checkGradientPair(ShapeQuery &q, size_t dy, size_t z) {
  if (!q.requireF32(dy))
    return false;
  if (q.operand(dy).rank() < 2) {
    q.error("the gradient must have rank 2 or more, got {}", q.str(q.operand(dy)));
    return false;
  }
  if (z >= q.operands.size()) {
    if (activationNamed(q.attr("activation").ident).none)
      return true;
    q.error("the activation {} needs its value z", q.attr("activation").ident);
    return false;
  }
  if (!q.requireF32(z))
    return false;
  if (q.operand(z) != q.operand(dy)) {
    q.error("the activation value {} must have the type of the gradient {}", q.str(q.operand(z)),
            q.str(q.operand(dy)));
    return false;
  }
  return true;
}

/// fused_matmul_grad_weight (x, dy[, z]): op(x) g contracted over rows.
/// Transposed, x [..., K] and dy [..., N] share their leading dims, every
/// one of them rows: [K, N] (the weight gradient of a matmul of rows).
TypeOrNone weightGradient(ShapeQuery &q) {
  bool ta = q.attr("transpose_a").boolean;
  const Type &x = q.operand(0), &dy = q.operand(1);
  if (!q.requireF32(0))
    return std::nullopt;
  if (!ta || (x.rank() == 2 && dy.rank() == 2))
    return x.rank() == 2 && dy.rank() == 2
               ? product(q, 0, 1, ta, false)
               : q.error("x and dy must have rank 2 unless x is transposed: {} and {}", q.str(x),
                         q.str(dy));
  if (x.rank() != dy.rank() || !std::equal(x.shape.begin(), x.shape.end() - 1, dy.shape.begin()))
    return q.error("x {} and dy {} must share their leading dims (the rows)", q.str(x), q.str(dy));
  return Type{DType::F32, {x.shape.back(), dy.shape.back()}};
}

/// fused_attention (q, k, v[, mask]): [..., Tq, Dv]; the mask is operand
/// `maskAt` when there is one.
TypeOrNone attentionType(ShapeQuery &q, size_t maskAt) {
  for (size_t i = 0; i < q.operands.size(); ++i)
    if (!q.requireF32(i))
      return std::nullopt;
  const Type &qt = q.operand(0), &kt = q.operand(1), &vt = q.operand(2);
  size_t rank = qt.rank();
  if (rank < 2 || kt.rank() != rank || vt.rank() != rank)
    return q.error("q {}, k {} and v {} must have one rank, 2 or more", q.str(qt), q.str(kt),
                   q.str(vt));
  if (!std::equal(qt.shape.begin(), qt.shape.end() - 2, kt.shape.begin()) ||
      !std::equal(qt.shape.begin(), qt.shape.end() - 2, vt.shape.begin()))
    return q.error("q {}, k {} and v {} must have one batch shape", q.str(qt), q.str(kt),
                   q.str(vt));
  if (qt.shape.back() != kt.shape.back() || kt.shape[rank - 2] != vt.shape[rank - 2])
    return q.error("q {} and k {} must share D, k and v {} the keys", q.str(qt), q.str(kt),
                   q.str(vt));
  Shape scores = qt.shape;
  scores.back() = kt.shape[rank - 2];
  if (q.operands.size() > maskAt) {
    const Shape &mask = q.operand(maskAt).shape;
    Shape square(scores.end() - 2, scores.end());
    if (mask != scores && mask != square)
      return q.error("the mask must be {} or {}, got {}", q.str(square), q.str(scores),
                     q.str(mask));
  }
  Shape out = qt.shape;
  out.back() = vt.shape.back();
  return Type{DType::F32, out};
}

/// fused_attention_grad (q, k, v, o, do[, mask], wrt=): the type of q, k or v.
TypeOrNone inferAttentionGrad(ShapeQuery &q) {
  TypeOrNone o = attentionType(q, 5);
  if (!o)
    return std::nullopt;
  for (size_t i : {size_t{3}, size_t{4}})
    if (q.operand(i).shape != o->shape)
      return q.error("{} must have the attention's shape {}, got {}", i == 3 ? "o" : "do",
                     q.str(*o), q.str(q.operand(i)));
  const std::string &wrt = q.attr("wrt").ident;
  const char *names[] = {"q", "k", "v"};
  for (size_t i = 0; i < 3; ++i)
    if (wrt == names[i])
      return q.operand(i);
  return q.error("wrt must be q, k or v, got '{}'", wrt);
}

TypeOrNone inferFused(ShapeQuery &q) {
  if (q.info.kind == OpKind::FusedAttention)
    return attentionType(q, 3);
  if (q.info.kind == OpKind::FusedAttentionGrad)
    return inferAttentionGrad(q);
  if (!checkActivation(q))
    return std::nullopt;
  switch (q.info.kind) {
  case OpKind::FusedMatMul: {
    if (!checkRows(q, 0, 1, q.attr("transpose_a").boolean))
      return std::nullopt;
    TypeOrNone y = product(q, 0, 1, q.attr("transpose_a").boolean, q.attr("transpose_b").boolean);
    if (!y || q.operands.size() < 3)
      return y;
    if (!q.requireF32(2))
      return std::nullopt;
    Shape bias{y->shape.back()};
    if (q.operand(2).shape != bias)
      return q.error("bias must have shape {} (the columns of the product {}), got {}", q.str(bias),
                     q.str(*y), q.str(q.operand(2)));
    return y;
  }
  case OpKind::FusedMatMulGradInput:
    if (!checkGradientPair(q, 0, 1) || !checkRows(q, 0, 2, false))
      return std::nullopt;
    return product(q, 0, 2, false, q.attr("transpose_b").boolean);
  case OpKind::FusedMatMulGradWeight:
    if (!checkGradientPair(q, 1, 2))
      return std::nullopt;
    return weightGradient(q);
  case OpKind::FusedMatMulGradBias:
    if (!checkGradientPair(q, 0, 1))
      return std::nullopt;
    return Type{DType::F32, {q.operand(0).shape.back()}};
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
