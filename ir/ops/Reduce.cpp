/// Reductions (sum, mean, max over axes), argmax, softmax and log_softmax.
#include "ir/ShapeRules.h"
#include "ir/InternalError.h"

namespace nnc {

/// The axes a reduction reduces, normalized to [0, rank), in the order given;
/// false after reporting a bad axis.
static bool reductionAxes(ShapeQuery &q, size_t rank, std::vector<bool> &reduced) {
  reduced.assign(rank, false);
  const AttrValue &axes = q.attr("axes");
  if (axes.isNone()) {
    reduced.assign(rank, true);
    return true;
  }
  for (int64_t axis : axes.asInts()) {
    if (!q.normalizeAxis(axis, rank, "axis"))
      return false;
    if (reduced[static_cast<size_t>(axis)]) {
      q.error("axis {} is listed twice", axis);
      return false;
    }
    reduced[static_cast<size_t>(axis)] = true;
  }
  return true;
}

/// The forward op of a reduction gradient.
static OpKind forwardOf(OpKind grad) {
  switch (grad) {
  case OpKind::SumGrad:
    return OpKind::Sum;
  case OpKind::MeanGrad:
    return OpKind::Mean;
  case OpKind::MaxGrad:
    return OpKind::Max;
  case OpKind::SoftmaxGrad:
    return OpKind::Softmax;
  case OpKind::LogSoftmaxGrad:
    return OpKind::LogSoftmax;
  default:
    NNC_UNHANDLED_OPKIND(grad, "forward reduction");
  }
}

/// (x, dy) -> x for the reductions; (y, dy) -> y for softmax/log_softmax.
static TypeOrNone inferReduceGrad(ShapeQuery &q) {
  if (!q.requireF32(0) || !q.requireF32(1))
    return std::nullopt;
  if (!q.checkIncomingGradient(forwardOf(q.info.kind), {q.operand(0)}, 1))
    return std::nullopt;
  return q.operand(0);
}

TypeOrNone inferReduceType(ShapeQuery &q) {
  if (q.info.has(kGradientOp))
    return inferReduceGrad(q);
  const Type &x = q.operand(0);
  if (!q.requireF32(0))
    return std::nullopt;
  OpKind op = q.info.kind;
  if (op == OpKind::Softmax || op == OpKind::LogSoftmax || op == OpKind::ArgMax) {
    int64_t axis = q.attr("axis").asInt();
    if (!q.normalizeAxis(axis, x.rank(), "axis"))
      return std::nullopt;
    if (op != OpKind::ArgMax)
      return x;
    if (x.shape[static_cast<size_t>(axis)].isStatic() &&
        x.shape[static_cast<size_t>(axis)].size == 0)
      return q.error("cannot reduce over an empty axis of {}", q.str(x));
    Type out{DType::I32, x.shape};
    out.shape.erase(out.shape.begin() + axis);
    return out;
  }
  std::vector<bool> reduced;
  if (!reductionAxes(q, x.rank(), reduced))
    return std::nullopt;
  // A max has no identity: over no elements it is an error, at check time
  // when the axis is static, at run time (in every engine) when it is not.
  for (size_t i = 0; i < x.rank() && op == OpKind::Max; ++i)
    if (reduced[i] && x.shape[i].isStatic() && x.shape[i].size == 0)
      return q.error("cannot reduce over an empty axis of {}", q.str(x));
  bool keep = q.attr("keepdims").boolean;
  Type out{DType::F32, {}};
  for (size_t i = 0; i < x.rank(); ++i) {
    if (!reduced[i])
      out.shape.push_back(x.shape[i]);
    else if (keep)
      out.shape.push_back(Dim::fixed(1));
  }
  return out;
}

} // namespace nnc
