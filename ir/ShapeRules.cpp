/// Dispatch from the op table to the family shape rules, and the helpers
/// they share.
#include "ir/ShapeRules.h"
#include "ir/InternalError.h"

namespace nnc {

const AttrValue &ShapeQuery::attr(std::string_view name) const {
  int i = info.attrIndex(name);
  NNC_CHECK(i >= 0, "op has no such attribute");
  return attrs[static_cast<size_t>(i)];
}

bool ShapeQuery::requireF32(size_t i) {
  if (operands[i].dtype == DType::F32)
    return true;
  error("operand {} must be f32, got {}", i + 1, str(operands[i]));
  return false;
}

TypeOrNone ShapeQuery::sameAsOperand(size_t like, std::initializer_list<size_t> alsoF32) {
  for (size_t i : alsoF32)
    if (!requireF32(i))
      return std::nullopt;
  return operands[like];
}

TypeOrNone ShapeQuery::gradientLike(size_t like, size_t dy) {
  if (!requireF32(like) || !requireF32(dy))
    return std::nullopt;
  if (operands[like] != operands[dy])
    return error("the gradient {} must have the type of {}", str(operands[dy]),
                 str(operands[like]));
  return operands[like];
}

TypeOrNone ShapeQuery::forwardType(OpKind forward, std::vector<Type> forwardOperands) {
  ShapeQuery q(opInfo(forward), std::move(forwardOperands), attrs, dimNames, loc, diags_);
  return inferType(q);
}

bool ShapeQuery::checkIncomingGradient(OpKind forward, std::vector<Type> forwardOperands,
                                       size_t dy) {
  TypeOrNone y = forwardType(forward, std::move(forwardOperands));
  if (!y)
    return false;
  if (*y != operands[dy]) {
    error("the incoming gradient is {} but {} gives {}", str(operands[dy]), opInfo(forward).name,
          str(*y));
    return false;
  }
  return true;
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

namespace {

/// `precision` where the op has it: f32 or bf16.
bool checkPrecision(ShapeQuery &q) {
  if (q.info.attrIndex("precision") < 0)
    return true;
  const std::string &name = q.attr("precision").ident;
  if (name == "f32" || name == "bf16")
    return true;
  q.error("precision must be f32 or bf16, got '{}'", name);
  return false;
}

} // namespace

TypeOrNone inferType(ShapeQuery &q) {
  if (!checkPrecision(q))
    return std::nullopt;
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
  const OpInfo &info = opInfo(op);
  if (info.has(kWindow)) {
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
