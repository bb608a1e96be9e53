/// Gradient rules of the losses, for the prediction and (when it depends on
/// a param) the target.
#include "passes/autodiff/GradientRules.h"
#include "ir/InternalError.h"

namespace nnc {

Gradients lossGradients(GradContext &c) {
  ValueId p = c.x(0), t = c.x(1), dl = c.dy;
  Gradients g(2, kNoValue);
  switch (c.node.op) {
  case OpKind::Sse:
  case OpKind::Mse: {
    OpKind grad = c.node.op == OpKind::Sse ? OpKind::SseGrad : OpKind::MseGrad;
    ValueId dp = c.op(grad, {p, t, dl});
    g[0] = c.wanted[0] ? dp : kNoValue;
    if (c.wanted[1])
      g[1] = c.op(OpKind::Neg, {dp});
    return g;
  }
  case OpKind::Bce:
    if (c.wanted[0])
      g[0] = c.op(OpKind::BceGrad, {p, t, dl});
    if (c.wanted[1]) { // dl/n * (log(1 - p) - log(p))
      ValueId logOdds = c.op(OpKind::Sub, {c.op(OpKind::Log, {c.op(OpKind::Sub, {c.number(1), p})}),
                                           c.op(OpKind::Log, {p})});
      g[1] = c.op(OpKind::Mul, {c.op(OpKind::MeanGrad, {t, dl}), logOdds});
    }
    return g;
  case OpKind::SoftmaxCrossEntropy:
    if (c.wanted[0])
      g[0] = c.op(OpKind::SoftmaxCrossEntropyGrad, {p, t, dl});
    return g;
  default:
    NNC_UNHANDLED_OP(c.node, "gradient rule");
  }
}

} // namespace nnc
