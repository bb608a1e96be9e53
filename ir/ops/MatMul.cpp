/// matmul: [M, K] x [K, N] -> [M, N], either operand optionally transposed.
#include "ir/ShapeRules.h"

namespace nnc {

TypeOrNone inferMatMulType(ShapeQuery &q) {
  const Type &a = q.operand(0);
  const Type &b = q.operand(1);
  if (!q.requireF32(0) || !q.requireF32(1))
    return std::nullopt;
  if (a.rank() != 2 || b.rank() != 2)
    return q.error("operands must have rank 2: {} x {}", q.str(a), q.str(b));
  bool ta = q.attr("transpose_a").boolean;
  bool tb = q.attr("transpose_b").boolean;
  Dim m = a.shape[ta ? 1 : 0], ka = a.shape[ta ? 0 : 1];
  Dim kb = b.shape[tb ? 1 : 0], n = b.shape[tb ? 0 : 1];
  if (ka != kb)
    return q.error("inner dimensions differ: {}{} x {}{}", q.str(a),
                   ta ? " (transposed)" : "", q.str(b), tb ? " (transposed)" : "");
  return Type{DType::F32, {m, n}};
}

} // namespace nnc
