/// fuse-add-layernorm: a residual add followed by layernorm becomes one
/// fused_add_layernorm, and layernorm's gradient ops read x and r instead
/// of their sum.
///
/// 1. For each layernorm(s, gamma, beta) with s = add(x, r), x and r of the
///    type of s (no broadcast), s not an output, update or loss: the other
///    readers of s must be layernorm_grad(s, gamma, dy) and
///    layernorm_gamma_grad(s, dy) of the same eps (autodiff writes them).
/// 2. Those become fused_add_layernorm_grad(x, r, gamma, dy) and
///    fused_add_layernorm_gamma_grad(x, r, dy), which recompute x + r per row;
///    the layernorm becomes fused_add_layernorm(x, r, gamma, beta); the add goes.
/// With ctx.remarks, every candidate is reported, fused or not and why.
#include "passes/fusion/Fusion.h"
#include "ir/NodeAttrs.h"

namespace nnc {

namespace {

class FuseAddLayerNormPass : public Pass {
public:
  const char *name() const override { return "fuse-add-layernorm"; }

  Result<bool> run(Graph &g, PassContext &ctx) override {
    std::vector<bool> dead(g.nodes.size(), false);
    bool changed = false;
    auto remark = [&](SourceLoc loc, const std::string &text) {
      if (ctx.remarks)
        ctx.diags.remark(loc, "{}", text);
    };
    for (size_t i = 0; i < g.nodes.size(); ++i) {
      if (g.nodes[i].op != OpKind::LayerNorm)
        continue;
      Uses uses(g);
      Node &ln = g.nodes[i];
      ValueId s = ln.operands[0];
      const Value &sum = g.value(s);
      if (sum.kind != ValueKind::Op || g.node(sum.def).op != OpKind::Add)
        continue;
      NodeId addId = sum.def;
      const Node &add = g.node(addId);
      ValueId x = add.operands[0], r = add.operands[1];
      if (g.type(x) != g.type(s) || g.type(r) != g.type(s)) {
        remark(ln.loc, "add not fused with layernorm: it broadcasts (" + g.typeString(x) + " + " +
                           g.typeString(r) + ")");
        continue;
      }
      if (uses.pinned[static_cast<size_t>(s)]) {
        remark(ln.loc,
               "add not fused with layernorm: its result is an output, an update or the loss");
        continue;
      }
      std::vector<NodeId> grads;
      const Node *blocker = nullptr;
      for (NodeId u : uses.users[static_cast<size_t>(s)]) {
        const Node &n = g.node(u);
        if (u == static_cast<NodeId>(i))
          continue;
        bool ok = (n.op == OpKind::LayerNormGrad || n.op == OpKind::LayerNormGammaGrad) &&
                  n.operands[0] == s && attr::eps(n) == attr::eps(ln);
        for (size_t k = 1; ok && k < n.operands.size(); ++k)
          ok = n.operands[k] != s;
        if (!ok) {
          blocker = &n;
          break;
        }
        grads.push_back(u);
      }
      if (blocker || ln.operands[1] == s || ln.operands[2] == s) {
        remark(ln.loc, std::string("add not fused with layernorm: its result is also used by ") +
                           (blocker ? blocker->info().name : "layernorm"));
        continue;
      }
      AttrValue eps = AttrValue::num(attr::eps(ln));
      for (NodeId u : grads) {
        Node &n = g.node(u);
        if (n.op == OpKind::LayerNormGrad)
          rewriteNode(n, OpKind::FusedAddLayerNormGrad, {x, r, n.operands[1], n.operands[2]},
                      {eps});
        else
          rewriteNode(n, OpKind::FusedAddLayerNormGammaGrad, {x, r, n.operands[1]}, {eps});
      }
      rewriteNode(ln, OpKind::FusedAddLayerNorm, {x, r, ln.operands[1], ln.operands[2]}, {eps});
      remark(ln.loc, "add fused with layernorm into fused_add_layernorm (and " +
                         std::to_string(grads.size()) + " gradient op(s))");
      dead[static_cast<size_t>(addId)] = true;
      g.node(addId).operands.clear();
      changed = true;
    }
    removeNodes(g, dead);
    return changed;
  }
};

} // namespace

std::unique_ptr<Pass> createFuseAddLayerNormPass() {
  return std::make_unique<FuseAddLayerNormPass>();
}

} // namespace nnc
