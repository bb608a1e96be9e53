/// fuse-conv: an activation of a convolution becomes fused_conv2d, whose
/// kernel applies it to each finished tile of sums: the pre-activation
/// value is never stored, and the activation's pass over the output (a read
/// and a write of a tensor that is often larger than the L2 cache) is gone.
///
///   relu(conv2d(x, w, b, stride, padding)) -> fused_conv2d(x, w, b, stride,
///                                              padding, activation=relu)
///
/// Any activation of the op table's list (relu, leaky_relu, sigmoid, tanh,
/// gelu). The convolution's result must be read by the activation alone and
/// not be an output, an update or the loss. In a training step this holds
/// for relu and leaky_relu (slope >= 0) once fuse-matmul has pointed their
/// gradients at the activation's output, and for sigmoid and tanh, whose
/// gradients read it anyway; gelu's gradient reads its input (as does a
/// leaky_relu's of negative slope), so such an activation after a
/// convolution stays unfused there.
#include "ir/Activation.h"
#include "ir/NodeAttrs.h"
#include "passes/fusion/Fusion.h"

namespace nnc {

namespace {

class FuseConvPass : public Pass {
public:
  const char *name() const override { return "fuse-conv"; }

  Result<bool> run(Graph &g, PassContext &ctx) override {
    Uses uses(g);
    std::vector<bool> dead(g.nodes.size(), false);
    bool changed = false;
    for (Node &act : g.nodes) {
      std::optional<Activation> activation = activationOf(act.op);
      if (!activation)
        continue;
      const Value &in = g.value(act.operands[0]);
      if (in.kind != ValueKind::Op || g.node(in.def).op != OpKind::Conv2d)
        continue;
      if (std::string why = uses.whyKept(act.operands[0]); !why.empty()) {
        if (ctx.remarks)
          ctx.diags.remark(act.loc, "{} not fused into conv2d: {}", act.info().name, why);
        continue;
      }
      Node &conv = g.node(in.def);
      double alpha = act.info().attrIndex("alpha") < 0 ? kLeakyReluSlope : attr::alpha(act);
      Attrs attrs = {conv.attrs[attrIndexOf(conv, "stride")],
                     conv.attrs[attrIndexOf(conv, "padding")], AttrValue::name(act.info().name),
                     AttrValue::num(alpha), conv.attrs[attrIndexOf(conv, "precision")]};
      if (ctx.remarks)
        ctx.diags.remark(act.loc, "{} fused into conv2d (fused_conv2d)", act.info().name);
      rewriteNode(act, OpKind::FusedConv2d, conv.operands, std::move(attrs));
      dead[static_cast<size_t>(in.def)] = true;
      changed = true;
    }
    removeNodes(g, dead);
    return changed;
  }

private:
  static size_t attrIndexOf(const Node &n, const char *name) {
    return static_cast<size_t>(n.info().attrIndex(name));
  }
};

} // namespace

std::unique_ptr<Pass> createFuseConvPass() { return std::make_unique<FuseConvPass>(); }

} // namespace nnc
