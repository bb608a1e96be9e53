/// Gradient rules of matmul: two more matmuls, transposes folded into the
/// transpose flags (never materialized).
#include "passes/autodiff/GradientRules.h"
#include "ir/InternalError.h"

namespace nnc {

Gradients matMulGradients(GradContext &c) {
  if (c.node.op != OpKind::MatMul)
    NNC_UNHANDLED_OP(c.node, "gradient rule");
  ValueId a = c.x(0), b = c.x(1), dy = c.dy;
  bool ta = c.attr("transpose_a").boolean, tb = c.attr("transpose_b").boolean;
  auto mm = [&](ValueId l, ValueId r, bool tl, bool tr) {
    return c.op(OpKind::MatMul, {l, r},
                {{"transpose_a", AttrValue::flag(tl)}, {"transpose_b", AttrValue::flag(tr)}});
  };
  Gradients g(2, kNoValue);
  // With op(A) = ta ? A^T : A, and Y = op(A) op(B):
  //   dA = ta ? op(B) dY^T : dY op(B)^T,   dB = tb ? dY^T op(A) : op(A)^T dY.
  if (c.wanted[0])
    g[0] = ta ? mm(b, dy, tb, true) : mm(dy, b, false, !tb);
  if (c.wanted[1])
    g[1] = tb ? mm(dy, a, true, ta) : mm(a, dy, !ta, false);
  return g;
}

} // namespace nnc
