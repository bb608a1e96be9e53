/// layernorm over the last axis, with gamma and beta of that axis' size;
/// batchnorm over every axis but 1 (the channels), with per-channel
/// parameters and running statistics.
#include "ir/ShapeRules.h"
#include "ir/InternalError.h"

namespace nnc {

/// The batchnorm ops: x [N, C, ...] (f32, rank 2 or more) and operands of
/// one channel each ([C]) at `channelOperands`; gives the result type.
static TypeOrNone inferBatchNorm(ShapeQuery &q) {
  for (size_t i = 0; i < q.operands.size(); ++i)
    if (!q.requireF32(i))
      return std::nullopt;
  const Type &x = q.operand(0);
  if (x.rank() < 2)
    return q.error("x must be [N, C, ...] (rank 2 or more), got {}", q.str(x));
  Type channel{DType::F32, {x.shape[1]}};
  OpKind op = q.info.kind;
  bool gradient = op == OpKind::BatchNormGrad || op == OpKind::BatchNormGammaGrad;
  size_t params = gradient ? (op == OpKind::BatchNormGrad ? 2 : 1) : q.operands.size();
  for (size_t i = 1; i < params; ++i)
    if (q.operand(i) != channel)
      return q.error("operand {} must be {} (one per channel of {}), got {}", i, q.str(channel),
                     q.str(x), q.str(q.operand(i)));
  if (gradient && q.operands.back() != x)
    return q.error("the incoming gradient {} must have the type of {}", q.str(q.operands.back()),
                   q.str(x));
  if (q.info.attrIndex("eps") >= 0 && !(q.attr("eps").number > 0))
    return q.error("eps must be positive");
  if (q.info.attrIndex("momentum") >= 0 &&
      !(q.attr("momentum").number >= 0 && q.attr("momentum").number <= 1))
    return q.error("momentum must be in [0, 1], got {}", q.attr("momentum").number);
  bool perChannel = op == OpKind::BatchNormRunningMean || op == OpKind::BatchNormRunningVar ||
                    op == OpKind::BatchNormGammaGrad;
  return perChannel ? channel : x;
}

/// layernorm_grad (x, gamma, dy) -> dx; layernorm_gamma_grad (x, dy) -> dgamma.
static TypeOrNone inferNormGrad(ShapeQuery &q) {
  for (size_t i = 0; i < q.operands.size(); ++i)
    if (!q.requireF32(i))
      return std::nullopt;
  const Type &x = q.operand(0);
  const Type &dy = q.operands.back();
  if (x.rank() < 1)
    return q.error("operand must have rank 1 or more, got {}", q.str(x));
  if (dy != x)
    return q.error("the incoming gradient {} must have the type of {}", q.str(dy), q.str(x));
  Type feature{DType::F32, {x.shape.back()}};
  if (q.info.kind == OpKind::LayerNormGammaGrad)
    return feature;
  if (q.operand(1) != feature)
    return q.error("gamma must have shape {} (the last axis of {}), got {}", q.str(feature.shape),
                   q.str(x), q.str(q.operand(1)));
  return x;
}

/// The fused ops on x + r: x and r of one type, then the rule of the op
/// they stand for with x + r in place of its first operand.
static TypeOrNone inferFusedAddNorm(ShapeQuery &q) {
  if (!q.requireF32(0) || !q.requireF32(1))
    return std::nullopt;
  if (q.operand(0) != q.operand(1))
    return q.error("the residual {} must have the type of the input {}", q.str(q.operand(1)),
                   q.str(q.operand(0)));
  std::vector<Type> rest(q.operands.begin() + 2, q.operands.end());
  rest.insert(rest.begin(), q.operand(0));
  switch (q.info.kind) {
  case OpKind::FusedAddLayerNorm:
    return q.forwardType(OpKind::LayerNorm, rest);
  case OpKind::FusedAddLayerNormGrad:
    return q.forwardType(OpKind::LayerNormGrad, rest);
  case OpKind::FusedAddLayerNormGammaGrad:
    return q.forwardType(OpKind::LayerNormGammaGrad, rest);
  default:
    NNC_UNHANDLED_OPKIND(q.info.kind, "shape rule");
  }
}

TypeOrNone inferNormType(ShapeQuery &q) {
  switch (q.info.kind) {
  case OpKind::BatchNorm:
  case OpKind::BatchNormTrain:
  case OpKind::BatchNormRunningMean:
  case OpKind::BatchNormRunningVar:
  case OpKind::BatchNormGrad:
  case OpKind::BatchNormGammaGrad:
    return inferBatchNorm(q);
  default:
    break;
  }
  if (q.info.has(kFused))
    return inferFusedAddNorm(q);
  if (q.info.has(kGradientOp))
    return inferNormGrad(q);
  for (size_t i = 0; i < 3; ++i)
    if (!q.requireF32(i))
      return std::nullopt;
  const Type &x = q.operand(0);
  if (x.rank() < 1)
    return q.error("operand must have rank 1 or more, got {}", q.str(x));
  Shape feature{x.shape.back()};
  for (size_t i = 1; i < 3; ++i)
    if (q.operand(i).shape != feature)
      return q.error("{} must have shape {} (the last axis of {}), got {}",
                     i == 1 ? "gamma" : "beta", q.str(feature), q.str(x), q.str(q.operand(i)));
  if (!(q.attr("eps").number > 0))
    return q.error("eps must be positive");
  return x;
}

} // namespace nnc
