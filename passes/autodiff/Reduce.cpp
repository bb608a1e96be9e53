/// Gradient rules of the reductions, softmax and log_softmax.
#include "passes/autodiff/GradientRules.h"
#include "ir/InternalError.h"

namespace nnc {

Gradients reduceGradients(GradContext &c) {
  ValueId x = c.x(0), y = c.y(), dy = c.dy;
  switch (c.node.op) {
  case OpKind::Sum:
    return {c.opWithForwardAttrs(OpKind::SumGrad, {x, dy})};
  case OpKind::Mean:
    return {c.opWithForwardAttrs(OpKind::MeanGrad, {x, dy})};
  case OpKind::Max:
    return {c.opWithForwardAttrs(OpKind::MaxGrad, {x, dy})};
  case OpKind::Softmax:
    return {c.opWithForwardAttrs(OpKind::SoftmaxGrad, {y, dy})};
  case OpKind::LogSoftmax:
    return {c.opWithForwardAttrs(OpKind::LogSoftmaxGrad, {y, dy})};
  default:
    NNC_UNHANDLED_OP(c.node, "gradient rule");
  }
}

} // namespace nnc
