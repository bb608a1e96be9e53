/// fold-batchnorm (inference only): a batch norm of a convolution's result
/// becomes part of the convolution. In inference mode batchnorm is per
/// output channel f an affine map, y = (c - rm) s + beta with
/// s = gamma / sqrt(rv + eps), so
///   batchnorm(conv2d(x, w, b), gamma, beta, rm, rv)
///     = conv2d(x, w * s[f], (b - rm) s + beta)
/// one pass over the image instead of two. The scaled filters and shifts
/// are computed from the params and running statistics at the start of the
/// inference graph (a few thousand numbers against a whole image batch), so
/// a checkpoint loaded later is folded too.
///
/// Candidates: batchnorm(c, ...) with c = conv2d(...) read by nothing else
/// and not an output; the filters, bias, gamma, beta and running statistics
/// are declarations (params, states, consts), not computed values. With
/// ctx.remarks, every candidate is reported, folded or not and why.
#include "ir/GraphBuilder.h"
#include "ir/InternalError.h"
#include "ir/NodeAttrs.h"
#include "passes/fusion/Fusion.h"

namespace nnc {

namespace {

/// Puts the nodes from `first` on before the others (they read declarations
/// only), keeping each group's order; permutes `dead` alike.
void moveToFront(Graph &g, size_t first, std::vector<bool> &dead) {
  std::vector<Node> nodes;
  std::vector<bool> moved;
  for (size_t pass = 0; pass < 2; ++pass)
    for (size_t i = pass == 0 ? first : 0; i < (pass == 0 ? g.nodes.size() : first); ++i) {
      nodes.push_back(std::move(g.nodes[i]));
      moved.push_back(dead[i]);
    }
  g.nodes = std::move(nodes);
  dead = std::move(moved);
  for (size_t i = 0; i < g.nodes.size(); ++i)
    g.value(g.nodes[i].result).def = static_cast<NodeId>(i);
}

class FoldBatchNormPass : public Pass {
public:
  const char *name() const override { return "fold-batchnorm"; }

  Result<bool> run(Graph &g, PassContext &ctx) override {
    size_t original = g.nodes.size();
    std::vector<bool> dead(original, false);
    // Folding one batch norm changes no reader of another's convolution.
    Uses uses(g);
    GraphBuilder b(std::move(g));
    bool changed = false;
    for (size_t i = 0; i < original; ++i) {
      if (b.graph().nodes[i].op != OpKind::BatchNorm)
        continue;
      std::string why = whyNotFoldable(b.graph(), uses, b.graph().nodes[i]);
      const Node &bn = b.graph().nodes[i];
      if (ctx.remarks)
        ctx.diags.remark(bn.loc, "{}",
                         why.empty() ? "batchnorm folded into the conv2d before it"
                                     : "batchnorm not folded: " + why);
      if (!why.empty())
        continue;
      NodeId conv = b.graph().value(bn.operands[0]).def;
      fold(b, i, conv);
      dead[static_cast<size_t>(conv)] = true;
      changed = true;
    }
    Result<Graph> built = b.finish();
    NNC_CHECK(built.ok(), "fold-batchnorm builds a valid graph: {}", built.errorText());
    g = std::move(built).value();
    if (!changed)
      return false;
    dead.resize(g.nodes.size(), false);
    moveToFront(g, original, dead);
    removeNodes(g, dead);
    return true;
  }

private:
  /// "" when batchnorm `bn` folds into the convolution it reads.
  static std::string whyNotFoldable(const Graph &g, const Uses &uses, const Node &bn) {
    const Value &c = g.value(bn.operands[0]);
    if (c.kind != ValueKind::Op || g.node(c.def).op != OpKind::Conv2d)
      return "its input is not a conv2d";
    if (std::string kept = uses.whyKept(bn.operands[0]); !kept.empty())
      return "the conv2d's result is kept: " + kept;
    std::vector<ValueId> weights(bn.operands.begin() + 1, bn.operands.end());
    const Node &conv = g.node(c.def);
    weights.insert(weights.end(), conv.operands.begin() + 1, conv.operands.end());
    for (ValueId w : weights)
      if (g.value(w).kind == ValueKind::Op)
        return "'" + g.value(w).name + "' is computed, not a param, state or const";
    return "";
  }

  /// Rewrites node `i` (the batchnorm) into conv2d(x, w * s, shift) and
  /// appends the nodes that compute s, the filters and the shift.
  static void fold(GraphBuilder &b, size_t i, NodeId convId) {
    Node bn = b.graph().nodes[i];
    Node conv = b.graph().node(convId);
    SourceLoc loc = bn.loc;
    auto op = [&](OpKind kind, std::vector<ValueId> operands, Attrs attrs = {}) {
      return b.addOp(kind, std::move(operands), attrs.empty() ? defaultAttrs(kind) : attrs, loc);
    };
    ValueId gamma = bn.operands[1], beta = bn.operands[2], mean = bn.operands[3],
            var = bn.operands[4], w = conv.operands[1];
    int64_t filters = b.graph().type(w).shape[0].size;
    ValueId eps = b.addImmediate(attr::eps(bn), DType::F32, loc);
    ValueId scale = op(OpKind::Div, {gamma, op(OpKind::Sqrt, {op(OpKind::Add, {var, eps})})});
    ValueId column =
        op(OpKind::Reshape, {scale},
           attrsWith(OpKind::Reshape, {{"shape", AttrValue::ints({filters, 1, 1, 1})}}));
    ValueId filtersScaled = op(OpKind::Mul, {w, column});
    ValueId centered = conv.operands.size() > 2 ? op(OpKind::Sub, {conv.operands[2], mean})
                                                : op(OpKind::Neg, {mean});
    ValueId shift = op(OpKind::Add, {op(OpKind::Mul, {centered, scale}), beta});
    Node &node = b.mutableGraph().nodes[i];
    rewriteNode(node, OpKind::Conv2d, {conv.operands[0], filtersScaled, shift}, conv.attrs);
  }
};

} // namespace

std::unique_ptr<Pass> createFoldBatchNormPass() { return std::make_unique<FoldBatchNormPass>(); }

} // namespace nnc
