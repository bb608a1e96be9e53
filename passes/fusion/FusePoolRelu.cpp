/// fuse-pool-relu: the relu gradient behind a max pool's gradient moves to
/// the pooled side, where it reads a quarter of the data (a 2x2 pool):
///
///   relu_grad(y, maxpool2d_grad(y, dy))
///     -> maxpool2d_grad(y, relu_grad(maxpool2d(y), dy))
///
/// Exact, bit for bit: maxpool2d_grad puts each window's dy at the window's
/// first maximum p, where y[p] is the window's pooled value h (a NaN when
/// the window holds one: p is then its first NaN), so the mask the relu
/// gradient applies there (0 where y[p] <= 0; a NaN passes dy) is h's;
/// every other position gets 0 either way, and the windows that share a
/// maximum share its mask. In a
/// CNN's backward pass (conv, relu, maxpool) this removes the relu
/// gradient's pass over the full-size activation: the pool's gradient then
/// writes the convolution's dy directly. fuse-matmul runs first, so the
/// relu gradient reads the relu's output y, as the pool does.
///
/// Needs the forward maxpool2d(y) of the same window before the pool
/// gradient in the graph (a training step has it) and the pool gradient's
/// result read by the relu gradient alone.
#include "passes/fusion/Fusion.h"

namespace nnc {

namespace {

class FusePoolReluPass : public Pass {
public:
  const char *name() const override { return "fuse-pool-relu"; }

  Result<bool> run(Graph &g, PassContext &ctx) override {
    Uses uses(g);
    bool changed = false;
    for (Node &relu : g.nodes) {
      if (relu.op != OpKind::ReluGrad)
        continue;
      ValueId y = relu.operands[0], pooledGrad = relu.operands[1];
      const Value &v = g.value(pooledGrad);
      if (v.kind != ValueKind::Op)
        continue;
      Node &unpool = g.node(v.def);
      if (unpool.op != OpKind::MaxPool2dGrad || unpool.operands[0] != y)
        continue;
      ValueId pooled = forwardPool(g, v.def);
      std::string why = uses.whyKept(pooledGrad);
      if (pooled == kNoValue || !why.empty()) {
        if (ctx.remarks)
          ctx.diags.remark(relu.loc, "relu gradient not moved past maxpool2d_grad: {}",
                           pooled == kNoValue ? "no maxpool2d of the same window in the graph"
                                              : why);
        continue;
      }
      // The pool gradient's node computes the mask on the pooled side (its
      // result now has dy's type); the relu gradient's node becomes the
      // pool gradient, which reads it.
      ValueId dy = unpool.operands[1];
      Attrs window = unpool.attrs;
      rewriteNode(unpool, OpKind::ReluGrad, {pooled, dy}, {});
      g.value(pooledGrad).type = g.type(dy);
      rewriteNode(relu, OpKind::MaxPool2dGrad, {y, pooledGrad}, window);
      if (ctx.remarks)
        ctx.diags.remark(relu.loc, "relu gradient moved past maxpool2d_grad to the pooled side");
      changed = true;
    }
    return changed;
  }

private:
  /// The result of a maxpool2d(y) with the window of the pool gradient
  /// `unpool` computed before it (the node order is the schedule: the mask
  /// takes the pool gradient's place), or kNoValue.
  static ValueId forwardPool(const Graph &g, NodeId unpool) {
    const Node &grad = g.node(unpool);
    for (NodeId i = 0; i < unpool; ++i) {
      const Node &n = g.node(i);
      if (n.op == OpKind::MaxPool2d && n.operands[0] == grad.operands[0] && n.attrs == grad.attrs)
        return n.result;
    }
    return kNoValue;
  }
};

} // namespace

std::unique_ptr<Pass> createFusePoolReluPass() { return std::make_unique<FusePoolReluPass>(); }

} // namespace nnc
