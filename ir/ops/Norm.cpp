/// layernorm over the last axis, with gamma and beta of that axis' size.
#include "ir/ShapeRules.h"
#include "ir/InternalError.h"

namespace nnc {

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
