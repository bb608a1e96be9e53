/// Gradient rules of matmul: two more matmuls, transposes folded into the
/// transpose flags (never materialized), summed back over broadcast batch
/// dims; for a matmul of rows ([B, T, K] x [K, N]) the weight gradient
/// contracts over every row at once (fused_matmul_grad_weight without an
/// activation).
#include "passes/autodiff/GradientRules.h"
#include "ir/InternalError.h"
#include "ir/MatMulForm.h"

namespace nnc {

namespace {

/// fused_attention (q, k, v[, mask]): one fused_attention_grad per operand
/// that needs a gradient (each recomputes the probabilities, a tile of
/// keys at a time); the mask gets none (fuse-attention fuses a training
/// step's attention only when its mask needs no gradient).
Gradients attentionGradients(GradContext &c) {
  Gradients g(c.node.operands.size(), kNoValue);
  std::vector<ValueId> operands = {c.x(0), c.x(1), c.x(2), c.y(), c.dy};
  if (c.node.operands.size() > 3)
    operands.push_back(c.x(3));
  const char *names[] = {"q", "k", "v"};
  for (size_t i = 0; i < 3; ++i)
    if (c.wanted[i])
      g[i] = c.op(OpKind::FusedAttentionGrad, operands,
                  {{"wrt", AttrValue::name(names[i])}, {"scale", c.attr("scale")}});
  return g;
}

} // namespace

Gradients matMulGradients(GradContext &c) {
  if (c.node.op == OpKind::FusedAttention)
    return attentionGradients(c);
  if (c.node.op != OpKind::MatMul)
    NNC_UNHANDLED_OP(c.node, "gradient rule");
  ValueId a = c.x(0), b = c.x(1), dy = c.dy;
  bool ta = c.attr("transpose_a").boolean, tb = c.attr("transpose_b").boolean;
  // The backward products read their operands at the forward's precision.
  const AttrValue &precision = c.attr("precision");
  auto mm = [&](ValueId l, ValueId r, bool tl, bool tr) {
    return c.op(OpKind::MatMul, {l, r},
                {{"transpose_a", AttrValue::flag(tl)},
                 {"transpose_b", AttrValue::flag(tr)},
                 {"precision", precision}});
  };
  Gradients g(2, kNoValue);
  // With op(A) = ta ? A^T : A, and Y = op(A) op(B):
  //   dA = ta ? op(B) dY^T : dY op(B)^T,   dB = tb ? dY^T op(A) : op(A)^T dY.
  if (c.wanted[0])
    g[0] = c.unbroadcast(ta ? mm(b, dy, tb, true) : mm(dy, b, false, !tb), a);
  if (!c.wanted[1])
    return g;
  if (c.type(a).rank() > 2 && isSingleGemm(c.graph(), c.node)) {
    // dB = op(A)^T dY over every row of A: [K, N] (or dY^T A: [N, K]).
    auto rowsProduct = [&](ValueId x, ValueId d) {
      return c.op(OpKind::FusedMatMulGradWeight, {x, d},
                  {{"transpose_a", AttrValue::flag(true)}, {"precision", precision}});
    };
    g[1] = tb ? rowsProduct(dy, a) : rowsProduct(a, dy);
    return g;
  }
  g[1] = c.unbroadcast(tb ? mm(dy, a, true, ta) : mm(a, dy, !ta, false), b);
  return g;
}

} // namespace nnc
