/// fuse-attention: scaled dot-product attention written out as ops,
///   o = matmul(softmax(matmul(q, k, transpose_b=true) * scale [+ mask]), v)
/// (the scale a number, `* c` or `/ c`, or absent), becomes one
/// fused_attention(q, k, v[, mask], scale=), whose kernel never stores the
/// [..., Tq, Tk] scores (codegen/lower/Attention.cpp).
///
/// Each intermediate (scores, scaled, masked, probabilities) must be read by
/// the next op of the chain alone. A training step runs the pass before
/// autodiff (passes/Pipeline.cpp), where that holds, and autodiff writes
/// fused_attention_grad for q, k and v: the backward never stores the
/// scores either; there the mask must need no gradient (it gets none).
/// After autodiff the unfused backward reads the probabilities, so the
/// pass leaves such a chain alone. q, k and v share their batch dims (no broadcasting),
/// softmax is over the last axis, v's last dim is static, and the mask is
/// [Tq, Tk] or of the scores' shape. With ctx.remarks, every candidate (a
/// matmul of a softmax) is reported, fused or not and why.
#include "ir/NodeAttrs.h"
#include "passes/fusion/Fusion.h"

namespace nnc {

namespace {

/// A matched chain: the nodes it absorbs and the fused op's operands.
struct Chain {
  std::vector<NodeId> absorbed;
  ValueId q = kNoValue, k = kNoValue, v = kNoValue, mask = kNoValue;
  double scale = 1;
};

class Matcher {
public:
  /// `minBytes`: in a training step (before autodiff), the smallest scores
  /// per example worth fusing (PassContext::trainingAttentionMinBytes).
  Matcher(const Graph &g, const Uses &uses, int64_t minBytes)
      : g_(g), uses_(uses), minBytes_(minBytes) {}

  /// The chain ending in matmul node `o`, or "" in `why` when it is not
  /// one (then nothing is reported) or the reason it cannot fuse.
  std::optional<Chain> match(const Node &o, std::string &why) {
    why.clear();
    if (o.op != OpKind::MatMul || attr::transposeA(o) || attr::transposeB(o))
      return std::nullopt;
    const Node *p = producer(o.operands[0], OpKind::Softmax);
    if (!p)
      return std::nullopt;
    // The fused kernel computes in f32 (the pipeline's --precision bf16 sets
    // the precision after fusion, and leaves it so).
    if (attr::precision(o) != "f32")
      return fail(why, "the matmul's precision is " + attr::precision(o));
    Chain c;
    c.v = o.operands[1];
    if (!readOnce(o.operands[0], "the probabilities", why, c))
      return std::nullopt;
    size_t rank = g_.type(p->result).rank();
    if (attr::axis(*p) != -1 && attr::axis(*p) != static_cast<int64_t>(rank) - 1)
      return fail(why, "the softmax is not over the last axis");
    ValueId x = p->operands[0];
    if (const Node *add = producer(x, OpKind::Add)) {
      if (!readOnce(x, "the masked scores", why, c))
        return std::nullopt;
      // Either side may be the mask: the other is the scores' chain.
      bool left = isScores(add->operands[0]);
      x = add->operands[left ? 0 : 1];
      c.mask = add->operands[left ? 1 : 0];
    }
    if (const Node *mul = producer(x, OpKind::Mul); mul && scaleOf(*mul, c)) {
      if (!readOnce(x, "the scaled scores", why, c))
        return std::nullopt;
      x = isScores(mul->operands[0]) ? mul->operands[0] : mul->operands[1];
    } else if (const Node *div = producer(x, OpKind::Div); div && scaleOf(*div, c)) {
      if (!readOnce(x, "the scaled scores", why, c))
        return std::nullopt;
      x = div->operands[0];
    }
    const Node *s = producer(x, OpKind::MatMul);
    if (!s || attr::transposeA(*s) || !attr::transposeB(*s))
      return fail(why, "the scores are not matmul(q, k, transpose_b=true)");
    if (attr::precision(*s) != "f32")
      return fail(why, "the scores' matmul's precision is " + attr::precision(*s));
    if (!readOnce(x, "the scores", why, c))
      return std::nullopt;
    c.q = s->operands[0];
    c.k = s->operands[1];
    return checkShapes(c, why) ? std::optional<Chain>(c) : std::nullopt;
  }

private:
  const Node *producer(ValueId v, OpKind op) const {
    const Value &val = g_.value(v);
    if (val.kind != ValueKind::Op || g_.node(val.def).op != op)
      return nullptr;
    return &g_.node(val.def);
  }
  bool isScores(ValueId v) const {
    return producer(v, OpKind::MatMul) || producer(v, OpKind::Mul) || producer(v, OpKind::Div);
  }
  /// Whether `v` is read by the chain alone; absorbs its node.
  bool readOnce(ValueId v, const char *what, std::string &why, Chain &c) const {
    if (std::string kept = uses_.whyKept(v); !kept.empty()) {
      why = std::string(what) + " are kept: " + kept;
      if (producer(v, OpKind::Softmax) && uses_.users[static_cast<size_t>(v)].size() > 1)
        why += " (the backward pass reads them)";
      return false;
    }
    c.absorbed.push_back(g_.value(v).def);
    return true;
  }
  /// `* c`, `c *` or `/ c` with an immediate c: the scale.
  bool scaleOf(const Node &n, Chain &c) const {
    for (size_t side = 0; side < 2; ++side) {
      const Value &num = g_.value(n.operands[side]);
      if (num.kind != ValueKind::Immediate || (n.op == OpKind::Div && side == 0))
        continue;
      c.scale = n.op == OpKind::Div ? 1.0 / num.immediate() : num.immediate();
      return true;
    }
    return false;
  }
  bool checkShapes(const Chain &c, std::string &why) const {
    const Type &q = g_.type(c.q), &k = g_.type(c.k), &v = g_.type(c.v);
    if (q.rank() != k.rank() || q.rank() != v.rank() ||
        !std::equal(q.shape.begin(), q.shape.end() - 2, k.shape.begin()) ||
        !std::equal(q.shape.begin(), q.shape.end() - 2, v.shape.begin()))
      return fail(why, "q, k and v do not share their batch dims (broadcasting)").has_value();
    if (!v.shape.back().isStatic() || !q.shape.back().isStatic())
      return fail(why, "q's or v's last dim is not static").has_value();
    if (g_.minimize) {
      std::optional<int64_t> bytes = scoresBytesPerExample(q, k);
      if (bytes && *bytes < minBytes_)
        return fail(why, "in a training step, scores of " + std::to_string(*bytes) +
                             " bytes per example are below " + std::to_string(minBytes_) +
                             ", where the unfused backward is faster")
            .has_value();
    }
    if (c.mask != kNoValue) {
      if (g_.minimize && dependsOnParam(c.mask))
        return fail(why, "the mask is computed from params (it would need a gradient)").has_value();
      const Type &m = g_.type(c.mask);
      Shape square = {q.shape[q.rank() - 2], k.shape[k.rank() - 2]};
      Shape scores = q.shape;
      scores.back() = square.back();
      if (m.dtype != DType::F32 || (m.shape != square && m.shape != scores))
        return fail(why, "the mask " + g_.typeString(c.mask) + " is not [Tq, Tk] or the scores'")
            .has_value();
    }
    return true;
  }
  /// Bytes of the scores [..., Tq, Tk] per example (every dim but the
  /// first, of rank 3 or more); none when one of those dims is symbolic.
  static std::optional<int64_t> scoresBytesPerExample(const Type &q, const Type &k) {
    int64_t bytes = 4 * k.shape[k.rank() - 2].size;
    if (!k.shape[k.rank() - 2].isStatic())
      return std::nullopt;
    for (size_t i = q.rank() > 2 ? 1 : 0; i + 1 < q.rank(); ++i) {
      if (!q.shape[i].isStatic())
        return std::nullopt;
      bytes *= q.shape[i].size;
    }
    return bytes;
  }
  /// Whether v is a param or computed from one.
  bool dependsOnParam(ValueId v) const {
    std::vector<ValueId> todo = {v};
    std::vector<bool> seen(g_.values.size(), false);
    while (!todo.empty()) {
      ValueId u = todo.back();
      todo.pop_back();
      if (seen[static_cast<size_t>(u)])
        continue;
      seen[static_cast<size_t>(u)] = true;
      const Value &val = g_.value(u);
      if (val.kind == ValueKind::Param)
        return true;
      if (val.kind == ValueKind::Op)
        for (ValueId w : g_.node(val.def).operands)
          todo.push_back(w);
    }
    return false;
  }
  static std::optional<Chain> fail(std::string &why, const std::string &reason) {
    why = reason;
    return std::nullopt;
  }

  const Graph &g_;
  const Uses &uses_;
  int64_t minBytes_;
};

class FuseAttentionPass : public Pass {
public:
  const char *name() const override { return "fuse-attention"; }

  Result<bool> run(Graph &g, PassContext &ctx) override {
    std::vector<bool> dead(g.nodes.size(), false);
    bool changed = false;
    Uses uses(g);
    Matcher matcher(g, uses, ctx.trainingAttentionMinBytes);
    for (Node &o : g.nodes) {
      std::string why;
      std::optional<Chain> chain = matcher.match(o, why);
      if (ctx.remarks && (chain || !why.empty()))
        ctx.diags.remark(o.loc, "{}",
                         chain ? "attention fused into fused_attention (softmax of q k^T never "
                                 "stored)"
                               : "attention not fused: " + why);
      if (!chain)
        continue;
      std::vector<ValueId> operands = {chain->q, chain->k, chain->v};
      if (chain->mask != kNoValue)
        operands.push_back(chain->mask);
      rewriteNode(o, OpKind::FusedAttention, operands,
                  attrsWith(OpKind::FusedAttention, {{"scale", AttrValue::num(chain->scale)}}));
      for (NodeId n : chain->absorbed)
        dead[static_cast<size_t>(n)] = true;
      changed = true;
    }
    removeNodes(g, dead);
    return changed;
  }
};

} // namespace

std::unique_ptr<Pass> createFuseAttentionPass() { return std::make_unique<FuseAttentionPass>(); }

} // namespace nnc
