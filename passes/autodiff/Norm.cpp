/// Gradient rules of layernorm: input, gamma and beta.
#include "passes/autodiff/GradientRules.h"
#include "ir/InternalError.h"

namespace nnc {

Gradients normGradients(GradContext &c) {
  if (c.node.op != OpKind::LayerNorm)
    NNC_UNHANDLED_OP(c.node, "gradient rule");
  ValueId x = c.x(0), gamma = c.x(1), dy = c.dy;
  AttrValue eps = c.attr("eps");
  Gradients g(3, kNoValue);
  if (c.wanted[0])
    g[0] = c.op(OpKind::LayerNormGrad, {x, gamma, dy}, {{"eps", eps}});
  if (c.wanted[1])
    g[1] = c.op(OpKind::LayerNormGammaGrad, {x, dy}, {{"eps", eps}});
  if (c.wanted[2]) {
    std::vector<int64_t> rows;
    for (size_t i = 0; i + 1 < c.type(x).rank(); ++i)
      rows.push_back(static_cast<int64_t>(i));
    g[2] = rows.empty() ? dy : c.op(OpKind::Sum, {dy}, {{"axes", AttrValue::ints(rows)}});
  }
  return g;
}

} // namespace nnc
