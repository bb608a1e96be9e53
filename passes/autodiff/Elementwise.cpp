/// Gradient rules of the element-wise ops. Broadcast operands get their
/// gradient summed back to their own shape.
#include "passes/autodiff/GradientRules.h"
#include "ir/InternalError.h"

namespace nnc {

namespace {

ValueId unaryGradient(GradContext &c) {
  ValueId x = c.x(0), y = c.y(), dy = c.dy;
  switch (c.node.op) {
  case OpKind::Neg:
    return c.op(OpKind::Neg, {dy});
  case OpKind::Abs:
    return c.op(OpKind::AbsGrad, {x, dy});
  case OpKind::Exp:
    return c.op(OpKind::Mul, {dy, y});
  case OpKind::Log:
    return c.op(OpKind::Div, {dy, x});
  case OpKind::Sqrt: // dy / (2 sqrt(x)), as PyTorch
    return c.op(OpKind::Div, {dy, c.op(OpKind::Mul, {y, c.number(2)})});
  case OpKind::Sigmoid:
    return c.op(OpKind::SigmoidGrad, {y, dy});
  case OpKind::Tanh:
    return c.op(OpKind::TanhGrad, {y, dy});
  case OpKind::Relu:
    return c.op(OpKind::ReluGrad, {x, dy});
  case OpKind::LeakyRelu:
    return c.op(OpKind::LeakyReluGrad, {x, dy}, {{"alpha", c.attr("alpha")}});
  case OpKind::Gelu:
    return c.op(OpKind::GeluGrad, {x, dy});
  case OpKind::Softplus:
    return c.op(OpKind::Mul, {dy, c.op(OpKind::Sigmoid, {x})});
  case OpKind::Step: // straight-through: Rosenblatt's rule under sse
    return dy;
  case OpKind::Erf: // dy * 2 / sqrt(pi) * exp(-x^2)
    return c.op(OpKind::Mul, {c.op(OpKind::Mul, {dy, c.number(M_2_SQRTPI)}),
                              c.op(OpKind::Exp, {c.op(OpKind::Neg, {c.op(OpKind::Mul, {x, x})})})});
  case OpKind::Sin:
    return c.op(OpKind::Mul, {dy, c.op(OpKind::Cos, {x})});
  case OpKind::Cos:
    return c.op(OpKind::Neg, {c.op(OpKind::Mul, {dy, c.op(OpKind::Sin, {x})})});
  case OpKind::Clip:
    return c.op(OpKind::ClipGrad, {x, dy}, {{"min", c.attr("min")}, {"max", c.attr("max")}});
  case OpKind::Dropout: // inference mode: the identity
    return dy;
  default:
    NNC_UNHANDLED_OP(c.node, "gradient rule");
  }
}

Gradients binaryGradients(GradContext &c) {
  ValueId a = c.x(0), b = c.x(1), y = c.y(), dy = c.dy;
  Gradients g(2, kNoValue);
  auto give = [&](size_t i, auto &&make) {
    if (c.wanted[i])
      g[i] = c.unbroadcast(make(), c.x(i));
  };
  switch (c.node.op) {
  case OpKind::Add:
    give(0, [&] { return dy; });
    give(1, [&] { return dy; });
    break;
  case OpKind::Sub:
    give(0, [&] { return dy; });
    give(1, [&] { return c.op(OpKind::Neg, {dy}); });
    break;
  case OpKind::Mul:
    give(0, [&] { return c.op(OpKind::Mul, {dy, b}); });
    give(1, [&] { return c.op(OpKind::Mul, {dy, a}); });
    break;
  case OpKind::Div: // d/db = -dy * (a / b) / b, as PyTorch
    give(0, [&] { return c.op(OpKind::Div, {dy, b}); });
    give(1, [&] {
      ValueId scaled = c.op(OpKind::Mul, {dy, c.op(OpKind::Div, {y, b})});
      return c.op(OpKind::Neg, {scaled});
    });
    break;
  case OpKind::Pow:
    give(0, [&] { return c.op(OpKind::PowBaseGrad, {a, b, dy}); });
    give(1, [&] { return c.op(OpKind::PowExponentGrad, {a, b, dy}); });
    break;
  case OpKind::Maximum:
  case OpKind::Minimum: {
    OpKind grad = c.node.op == OpKind::Maximum ? OpKind::MaximumGrad : OpKind::MinimumGrad;
    give(0, [&] { return c.op(grad, {a, b, dy}); });
    give(1, [&] { return c.op(grad, {b, a, dy}); });
    break;
  }
  default:
    NNC_UNHANDLED_OP(c.node, "gradient rule");
  }
  return g;
}

/// where(cond, a, b): dy flows to a where cond holds, to b elsewhere.
Gradients whereGradients(GradContext &c) {
  Gradients g(3, kNoValue);
  ValueId zero = c.number(0);
  if (c.wanted[1])
    g[1] = c.unbroadcast(c.op(OpKind::Where, {c.x(0), c.dy, zero}), c.x(1));
  if (c.wanted[2])
    g[2] = c.unbroadcast(c.op(OpKind::Where, {c.x(0), zero, c.dy}), c.x(2));
  return g;
}

} // namespace

Gradients elementwiseGradients(GradContext &c) {
  if (c.node.op == OpKind::Where)
    return whereGradients(c);
  if (c.node.op == OpKind::DropoutTrain) // the same mask on dy; the step gets none
    return {c.opWithForwardAttrs(OpKind::DropoutTrain, {c.dy, c.x(1)}), kNoValue};
  if (c.node.info().has(kUnary))
    return {unaryGradient(c)};
  return binaryGradients(c);
}

} // namespace nnc
