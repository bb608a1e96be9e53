/// Losses: a f32[] scalar of a prediction and a target.
#include "ir/ShapeRules.h"

namespace nnc {

TypeOrNone inferLossType(ShapeQuery &q) {
  const Type &pred = q.operand(0);
  const Type &target = q.operand(1);
  Type scalar{DType::F32, {}};
  if (q.info.kind == OpKind::SoftmaxCrossEntropy) {
    if (pred.dtype != DType::F32 || pred.rank() != 2)
      return q.error("logits must be f32[N, K], got {}", q.str(pred));
    if (target.dtype != DType::I32 || target.rank() != 1)
      return q.error("labels must be i32[N], got {}", q.str(target));
    if (target.shape[0] != pred.shape[0])
      return q.error("logits {} and labels {} have different batch sizes",
                     q.str(pred), q.str(target));
    return scalar;
  }
  if (!q.requireF32(0) || !q.requireF32(1))
    return std::nullopt;
  if (pred.shape != target.shape)
    return q.error("prediction and target shapes differ: {} and {}", q.str(pred),
                   q.str(target));
  return scalar;
}

} // namespace nnc
