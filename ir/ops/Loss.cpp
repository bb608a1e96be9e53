/// Losses: a f32[] scalar of a prediction and a target.
#include "ir/ShapeRules.h"
#include "ir/InternalError.h"

namespace nnc {

/// The forward loss of a loss gradient.
static OpKind forwardOf(OpKind grad) {
  switch (grad) {
  case OpKind::SseGrad:
    return OpKind::Sse;
  case OpKind::MseGrad:
    return OpKind::Mse;
  case OpKind::BceGrad:
    return OpKind::Bce;
  case OpKind::SoftmaxCrossEntropyGrad:
    return OpKind::SoftmaxCrossEntropy;
  default:
    NNC_UNHANDLED_OPKIND(grad, "forward loss");
  }
}

/// (pred, target, dloss) -> the type of pred.
static TypeOrNone inferLossGrad(ShapeQuery &q) {
  if (!q.checkIncomingGradient(forwardOf(q.info.kind), {q.operand(0), q.operand(1)}, 2))
    return std::nullopt;
  return q.operand(0);
}

TypeOrNone inferLossType(ShapeQuery &q) {
  if (q.info.has(kGradientOp))
    return inferLossGrad(q);
  const Type &pred = q.operand(0);
  const Type &target = q.operand(1);
  Type scalar{DType::F32, {}};
  if (q.info.kind == OpKind::SoftmaxCrossEntropy) {
    // logits [..., K] and labels [...]: the leading dims are rows.
    if (pred.dtype != DType::F32 || pred.rank() < 2)
      return q.error("logits must be f32[..., K] (rank 2 or more), got {}", q.str(pred));
    if (target.dtype != DType::I32 || target.rank() != pred.rank() - 1)
      return q.error("labels must be i32 of the logits' leading dims ({} has {}), got {}",
                     q.str(pred), pred.rank() - 1, q.str(target));
    for (size_t a = 0; a < target.rank(); ++a)
      if (target.shape[a] != pred.shape[a])
        return q.error("logits {} and labels {} have different leading dims", q.str(pred),
                       q.str(target));
    return scalar;
  }
  if (!q.requireF32(0) || !q.requireF32(1))
    return std::nullopt;
  if (pred.shape != target.shape)
    return q.error("prediction and target shapes differ: {} and {}", q.str(pred), q.str(target));
  return scalar;
}

} // namespace nnc
