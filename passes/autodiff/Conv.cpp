/// Gradient rules of conv2d (input, filter, bias) and the pools.
#include "passes/autodiff/GradientRules.h"
#include "ir/InternalError.h"

namespace nnc {

Gradients convGradients(GradContext &c) {
  ValueId x = c.x(0), dy = c.dy;
  switch (c.node.op) {
  case OpKind::Conv2d: {
    ValueId w = c.x(1);
    Gradients g(c.node.operands.size(), kNoValue);
    if (c.wanted[0])
      g[0] = c.opWithForwardAttrs(OpKind::Conv2dGradInput, {dy, w, x});
    if (c.wanted[1])
      g[1] = c.opWithForwardAttrs(OpKind::Conv2dGradFilter, {x, dy, w});
    if (g.size() == 3 && c.wanted[2])
      g[2] = c.op(OpKind::Sum, {dy}, {{"axes", AttrValue::ints({0, 2, 3})}});
    return g;
  }
  case OpKind::MaxPool2d:
    return {c.opWithForwardAttrs(OpKind::MaxPool2dGrad, {x, dy})};
  case OpKind::AvgPool2d:
    return {c.opWithForwardAttrs(OpKind::AvgPool2dGrad, {x, dy})};
  default:
    NNC_UNHANDLED_OP(c.node, "gradient rule");
  }
}

} // namespace nnc
