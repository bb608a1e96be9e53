/// Dispatch from the op table to the family shape rules, and the helpers
/// they share.
#include "ir/ShapeRules.h"

#include <cassert>

namespace nnc {

const AttrValue &ShapeQuery::attr(std::string_view name) const {
  int i = info.attrIndex(name);
  assert(i >= 0 && "op has no such attribute");
  return attrs[static_cast<size_t>(i)];
}

bool ShapeQuery::requireF32(size_t i) {
  if (operands[i].dtype == DType::F32)
    return true;
  error("operand {} must be f32, got {}", i + 1, str(operands[i]));
  return false;
}

bool ShapeQuery::normalizeAxis(int64_t &axis, size_t rank, const char *what) {
  int64_t r = static_cast<int64_t>(rank);
  if (axis < -r || axis >= r) {
    error("{} {} is out of range for rank {}", what, axis, rank);
    return false;
  }
  if (axis < 0)
    axis += r;
  return true;
}

TypeOrNone inferType(ShapeQuery &q) {
  switch (q.info.family) {
  case OpFamily::Elementwise:
    return inferElementwiseType(q);
  case OpFamily::MatMul:
    return inferMatMulType(q);
  case OpFamily::Shape:
    return inferShapeOpType(q);
  case OpFamily::Reduce:
    return inferReduceType(q);
  case OpFamily::Norm:
    return inferNormType(q);
  case OpFamily::Conv:
    return inferConvType(q);
  case OpFamily::Loss:
    return inferLossType(q);
  }
  return std::nullopt;
}

void canonicalizeAttrs(OpKind op, Attrs &attrs) {
  if (op == OpKind::MaxPool2d || op == OpKind::AvgPool2d) {
    const OpInfo &info = opInfo(op);
    AttrValue &stride = attrs[static_cast<size_t>(info.attrIndex("stride"))];
    const AttrValue &kernel = attrs[static_cast<size_t>(info.attrIndex("kernel"))];
    if (stride == kernel)
      stride = AttrValue::none();
  }
}

int64_t windowOutputSize(int64_t in, int64_t kernel, int64_t stride, int64_t pad) {
  int64_t span = in + 2 * pad - kernel;
  if (span < 0 || stride <= 0)
    return -1;
  return span / stride + 1;
}

} // namespace nnc
