/// Gradient rules of the data-movement ops: reshape (reshape back),
/// transpose (inverse perm), concat (a slice per operand), slice (slice_grad
/// puts dy back in place), tril/triu (the same mask), gather (gather_grad
/// adds dy up at the indices).
#include "passes/autodiff/GradientRules.h"
#include "ir/InternalError.h"
#include "ir/NodeAttrs.h"

namespace nnc {

namespace {

/// reshape: dy reshaped back; the shape attribute names the symbolic dims,
/// so it serves any batch.
Gradients reshapeGradient(GradContext &c) {
  std::vector<AttrValue> shape;
  for (const Dim &d : c.type(c.x(0)).shape)
    shape.push_back(d.isSymbolic() ? AttrValue::name(c.dimName(d.symbol))
                                   : AttrValue::num(static_cast<double>(d.size)));
  return {c.op(OpKind::Reshape, {c.dy}, {{"shape", AttrValue::values(shape)}})};
}

Gradients transposeGradient(GradContext &c) {
  const AttrValue &perm = c.attr("perm");
  if (perm.isNone()) // reversed axes are their own inverse
    return {c.op(OpKind::Transpose, {c.dy})};
  std::vector<int64_t> forward = perm.asInts(), inverse(forward.size());
  for (size_t i = 0; i < forward.size(); ++i)
    inverse[static_cast<size_t>(forward[i])] = static_cast<int64_t>(i);
  return {c.op(OpKind::Transpose, {c.dy}, {{"perm", AttrValue::ints(inverse)}})};
}

/// concat: operand i's gradient is dy's slice at its offset along the axis.
Gradients concatGradients(GradContext &c) {
  int64_t axis = attr::axis(c.node);
  if (axis < 0)
    axis += static_cast<int64_t>(c.type(c.y()).rank());
  Gradients g(c.node.operands.size(), kNoValue);
  int64_t offset = 0;
  for (size_t i = 0; i < c.node.operands.size(); ++i) {
    int64_t extent = c.type(c.x(i)).shape[static_cast<size_t>(axis)].size;
    if (c.wanted[i])
      g[i] = c.op(OpKind::Slice, {c.dy},
                  {{"axis", AttrValue::num(static_cast<double>(axis))},
                   {"start", AttrValue::num(static_cast<double>(offset))},
                   {"end", AttrValue::num(static_cast<double>(offset + extent))}});
    offset += extent;
  }
  return g;
}

} // namespace

Gradients shapeOpGradients(GradContext &c) {
  switch (c.node.op) {
  case OpKind::Reshape:
    return reshapeGradient(c);
  case OpKind::Transpose:
    return transposeGradient(c);
  case OpKind::Concat:
    return concatGradients(c);
  case OpKind::Slice:
    return {c.opWithForwardAttrs(OpKind::SliceGrad, {c.x(0), c.dy})};
  case OpKind::Tril:
  case OpKind::Triu:
    return {c.opWithForwardAttrs(c.node.op, {c.dy})};
  case OpKind::Cast: // f32 -> f32 passes dy; an i32 side has no gradient
    return {c.type(c.x(0)).dtype == DType::F32 && c.type(c.y()).dtype == DType::F32 ? c.dy
                                                                                    : kNoValue};
  case OpKind::Gather: // the indices (i32) get none
    return {c.opWithForwardAttrs(OpKind::GatherGrad, {c.x(0), c.x(1), c.dy}), kNoValue};
  default:
    NNC_UNHANDLED_OP(c.node, "gradient rule");
  }
}

} // namespace nnc
