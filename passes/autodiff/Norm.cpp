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

/// batchnorm_train: the batch's statistics depend on x too.
Gradients batchNormTrainGradients(GradContext &c) {
  ValueId x = c.x(0), gamma = c.x(1), dy = c.dy;
  AttrValue eps = c.attr("eps");
  Gradients g(3, kNoValue);
  if (c.wanted[0])
    g[0] = c.op(OpKind::BatchNormGrad, {x, gamma, dy}, {{"eps", eps}});
  if (c.wanted[1])
    g[1] = c.op(OpKind::BatchNormGammaGrad, {x, dy}, {{"eps", eps}});
  if (c.wanted[2])
    g[2] = sumOverChannels(c, dy);
  return g;
}

} // namespace

Gradients normGradients(GradContext &c) {
  if (c.node.op == OpKind::BatchNorm)
    return batchNormInferenceGradients(c);
  if (c.node.op == OpKind::BatchNormTrain)
    return batchNormTrainGradients(c);
  if (c.node.op != OpKind::LayerNorm)
    NNC_UNHANDLED_OP(c.node, "gradient rule");
  ValueId x = c.x(0), gamma = c.x(1), dy = c.dy;
  AttrValue eps = c.attr("eps");
  Gradients g(3, kNoValue);
  if (c.wanted[0])
    g[0] = c.op(OpKind::LayerNormGrad, {x, gamma, dy}, {{"eps", eps}});
  if (c.wanted[1])
    g[1] = c.op(OpKind::LayerNormGammaGrad, {x, dy}, {{"eps", eps}});
  if (c.wanted[2]) {
    std::vector<int64_t> rows;
    for (size_t i = 0; i + 1 < c.type(x).rank(); ++i)
      rows.push_back(static_cast<int64_t>(i));
    g[2] = rows.empty() ? dy : c.op(OpKind::Sum, {dy}, {{"axes", AttrValue::ints(rows)}});
  }
  return g;
}

} // namespace nnc
