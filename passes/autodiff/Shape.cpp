/// Gradient rules of reshape (reshape back) and transpose (inverse perm).
#include "passes/autodiff/GradientRules.h"
#include "ir/InternalError.h"

namespace nnc {

Gradients shapeOpGradients(GradContext &c) {
  ValueId x = c.x(0);
  if (c.node.op == OpKind::Reshape) {
    // The shape attribute names the symbolic dims, so it serves any batch.
    std::vector<AttrValue> shape;
    for (const Dim &d : c.type(x).shape)
      shape.push_back(d.isSymbolic() ? AttrValue::name(c.dimName(d.symbol))
                                     : AttrValue::num(static_cast<double>(d.size)));
    return {c.op(OpKind::Reshape, {c.dy}, {{"shape", AttrValue::values(shape)}})};
  }
  if (c.node.op != OpKind::Transpose)
    NNC_UNHANDLED_OP(c.node, "gradient rule");
  const AttrValue &perm = c.attr("perm");
  if (perm.isNone()) // reversed axes are their own inverse
    return {c.op(OpKind::Transpose, {c.dy})};
  std::vector<int64_t> forward = perm.asInts(), inverse(forward.size());
  for (size_t i = 0; i < forward.size(); ++i)
    inverse[static_cast<size_t>(forward[i])] = static_cast<int64_t>(i);
  return {c.op(OpKind::Transpose, {c.dy}, {{"perm", AttrValue::ints(inverse)}})};
}

} // namespace nnc
