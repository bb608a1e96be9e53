/// Element-wise ops: unary activations keep their operand's type; binary ops
/// broadcast as NumPy does.
#include "ir/ShapeRules.h"

namespace nnc {

TypeOrNone inferElementwiseType(ShapeQuery &q) {
  if (q.info.has(kUnary)) {
    if (!q.requireF32(0))
      return std::nullopt;
    return q.operand(0);
  }
  const Type &a = q.operand(0);
  const Type &b = q.operand(1);
  if (a.dtype != b.dtype)
    return q.error("operands have different dtypes: {} and {}", q.str(a), q.str(b));
  if (a.dtype == DType::I32 && !q.info.has(kIntegerOk))
    return q.error("i32 operands are not supported (i32 has add, sub, mul and eq): {} and {}",
                   q.str(a), q.str(b));
  Type out;
  out.dtype = q.info.kind == OpKind::Eq ? DType::F32 : a.dtype;
  if (!broadcastShapes(a.shape, b.shape, out.shape))
    return q.error("shapes do not broadcast: {} and {}", q.str(a), q.str(b));
  return out;
}

} // namespace nnc
