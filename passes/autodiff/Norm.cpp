/// Gradient rules of layernorm and batchnorm: input, gamma and beta (the
/// running statistics are states: no gradient).
#include "passes/autodiff/GradientRules.h"
#include "ir/InternalError.h"
#include "ir/NodeAttrs.h"

namespace nnc {

namespace {

/// sum(dy) over every axis but the channels (1): beta's gradient.
ValueId sumOverChannels(GradContext &c, ValueId dy) {
  std::vector<int64_t> axes{0};
  for (size_t a = 2; a < c.type(dy).rank(); ++a)
    axes.push_back(static_cast<int64_t>(a));
  return c.op(OpKind::Sum, {dy}, {{"axes", AttrValue::ints(axes)}});
}

/// A per-channel vector [C] reshaped to [C, 1, ...] so that it broadcasts
/// against x [N, C, ...].
ValueId perChannel(GradContext &c, ValueId v, size_t rank) {
  std::vector<AttrValue> shape{AttrValue::num(static_cast<double>(c.type(v).shape[0].size))};
  for (size_t a = 2; a < rank; ++a)
    shape.push_back(AttrValue::num(1));
  return c.op(OpKind::Reshape, {v}, {{"shape", AttrValue::values(shape)}});
}

/// batchnorm in inference mode is affine per channel: y = (x - rm) s + beta
/// with s = gamma / sqrt(rv + eps). dx = dy s; dgamma = sum(dy (x - rm) /
/// sqrt(rv + eps)); dbeta = sum(dy).
Gradients batchNormInferenceGradients(GradContext &c) {
  ValueId x = c.x(0), gamma = c.x(1), mean = c.x(3), var = c.x(4), dy = c.dy;
  size_t rank = c.type(x).rank();
  ValueId rstd = c.op(
      OpKind::Div,
      {c.number(1), c.op(OpKind::Sqrt, {c.op(OpKind::Add, {var, c.number(attr::eps(c.node))})})});
  Gradients g(5, kNoValue);
  if (c.wanted[0])
    g[0] = c.op(OpKind::Mul, {dy, perChannel(c, c.op(OpKind::Mul, {gamma, rstd}), rank)});
  if (c.wanted[1]) {
    ValueId xhat = c.op(OpKind::Mul, {c.op(OpKind::Sub, {x, perChannel(c, mean, rank)}),
                                      perChannel(c, rstd, rank)});
    g[1] = sumOverChannels(c, c.op(OpKind::Mul, {dy, xhat}));
  }
  if (c.wanted[2])
    g[2] = sumOverChannels(c, dy);
  return g;
}

/// layernorm and batchnorm_train, whose statistics depend on x: the
/// gradient ops `inputGrad` (x, gamma, dy) and `gammaGrad` (x, dy), and
/// beta's gradient dy summed over every axis gamma does not have.
Gradients normalizedGradients(GradContext &c, OpKind inputGrad, OpKind gammaGrad,
                              ValueId betaGrad(GradContext &, ValueId)) {
  ValueId x = c.x(0), gamma = c.x(1), dy = c.dy;
  AttrValue eps = c.attr("eps");
  Gradients g(3, kNoValue);
  if (c.wanted[0])
    g[0] = c.op(inputGrad, {x, gamma, dy}, {{"eps", eps}});
  if (c.wanted[1])
    g[1] = c.op(gammaGrad, {x, dy}, {{"eps", eps}});
  if (c.wanted[2])
    g[2] = betaGrad(c, dy);
  return g;
}

/// sum(dy) over every axis but the last (layernorm's features).
ValueId sumOverRows(GradContext &c, ValueId dy) {
  std::vector<int64_t> rows;
  for (size_t i = 0; i + 1 < c.type(dy).rank(); ++i)
    rows.push_back(static_cast<int64_t>(i));
  return rows.empty() ? dy : c.op(OpKind::Sum, {dy}, {{"axes", AttrValue::ints(rows)}});
}

} // namespace

Gradients normGradients(GradContext &c) {
  switch (c.node.op) {
  case OpKind::BatchNorm:
    return batchNormInferenceGradients(c);
  case OpKind::BatchNormTrain:
    return normalizedGradients(c, OpKind::BatchNormGrad, OpKind::BatchNormGammaGrad,
                               sumOverChannels);
  case OpKind::LayerNorm:
    return normalizedGradients(c, OpKind::LayerNormGrad, OpKind::LayerNormGammaGrad, sumOverRows);
  default:
    NNC_UNHANDLED_OP(c.node, "gradient rule");
  }
}

} // namespace nnc
