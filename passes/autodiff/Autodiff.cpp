/// Reverse-mode automatic differentiation.
///
/// 1. Mark the values that depend on a param through differentiable ops,
///    and the values the loss depends on.
/// 2. Seed the loss's gradient with 1 and walk the forward nodes backwards;
///    each node on a param-to-loss path asks its family's rule for the
///    gradients of the operands that need one.
/// 3. Sum the contributions of values used several times.
/// 4. Check every param: a param the loss reaches only through an op
///    without a gradient is an error; one the loss does not reach, a warning.
#include "passes/autodiff/Autodiff.h"
#include "ir/NodeAttrs.h"
#include "ir/InternalError.h"

#include "ir/ShapeRules.h"
#include "passes/autodiff/GradientRules.h"

namespace nnc {

// ---- GradContext ---------------------------------------------------------------

const AttrValue &GradContext::attr(std::string_view name) const {
  return attrNamed(node.op, node.attrs, std::string(name).c_str());
}

ValueId GradContext::op(OpKind kind, std::vector<ValueId> operands,
                        std::initializer_list<std::pair<const char *, AttrValue>> attrs) {
  ValueId v = b_.addOp(kind, std::move(operands), attrsWith(kind, attrs), node.loc);
  NNC_CHECK(v != kNoValue, "a gradient rule built an ill-typed node");
  return v;
}

ValueId GradContext::opWithForwardAttrs(OpKind kind, std::vector<ValueId> operands) {
  ValueId v = b_.addOp(kind, std::move(operands), node.attrs, node.loc);
  NNC_CHECK(v != kNoValue, "a gradient rule built an ill-typed node");
  return v;
}

ValueId GradContext::number(double v) { return b_.addImmediate(v, DType::F32, node.loc); }

ValueId GradContext::unbroadcast(ValueId grad, ValueId like) {
  const Shape from = type(grad).shape; // copies: adding nodes moves values
  const Shape to = type(like).shape;
  if (from == to)
    return grad;
  // Axes the broadcast added (leading) or stretched from 1. Stretched axes
  // must stay as 1s (keepdims); leading ones then go by a reshape.
  size_t lead = from.size() - to.size();
  std::vector<int64_t> axes;
  bool stretched = false;
  for (size_t i = 0; i < from.size(); ++i) {
    if (i < lead) {
      axes.push_back(static_cast<int64_t>(i));
    } else if (to[i - lead].isOne() && !from[i].isOne()) {
      axes.push_back(static_cast<int64_t>(i));
      stretched = true;
    }
  }
  ValueId summed = op(OpKind::Sum, {grad},
                      {{"axes", AttrValue::ints(axes)}, {"keepdims", AttrValue::flag(stretched)}});
  if (type(summed).shape == to)
    return summed;
  std::vector<AttrValue> shape;
  DimNames names = b_.graph().dimNames();
  for (const Dim &d : to)
    shape.push_back(d.isSymbolic() ? AttrValue::name(names[static_cast<size_t>(d.symbol)])
                                   : AttrValue::num(static_cast<double>(d.size)));
  return op(OpKind::Reshape, {summed}, {{"shape", AttrValue::values(shape)}});
}

// ---- the algorithm ---------------------------------------------------------------

namespace {

Gradients gradientsOf(GradContext &c) {
  switch (c.node.info().family) {
  case OpFamily::Elementwise:
    return elementwiseGradients(c);
  case OpFamily::MatMul:
    return matMulGradients(c);
  case OpFamily::Shape:
    return shapeOpGradients(c);
  case OpFamily::Reduce:
    return reduceGradients(c);
  case OpFamily::Norm:
    return normGradients(c);
  case OpFamily::Conv:
    return convGradients(c);
  case OpFamily::Loss:
    return lossGradients(c);
  }
  NNC_UNHANDLED_OP(c.node, "gradient rule");
}

/// Which values depend on `sources`, propagating through nodes for which
/// `through(node)` holds.
template <typename Pred>
std::vector<bool> dependents(const Graph &g, const std::vector<ValueId> &sources, Pred through) {
  std::vector<bool> dep(g.values.size(), false);
  for (ValueId s : sources)
    dep[static_cast<size_t>(s)] = true;
  for (const Node &n : g.nodes) {
    if (!through(n))
      continue;
    for (ValueId v : n.operands)
      if (dep[static_cast<size_t>(v)])
        dep[static_cast<size_t>(n.result)] = true;
  }
  return dep;
}

/// Which values `target` depends on.
std::vector<bool> ancestors(const Graph &g, ValueId target) {
  std::vector<bool> reach(g.values.size(), false);
  reach[static_cast<size_t>(target)] = true;
  for (size_t i = g.nodes.size(); i-- > 0;) {
    const Node &n = g.nodes[i];
    if (reach[static_cast<size_t>(n.result)])
      for (ValueId v : n.operands)
        reach[static_cast<size_t>(v)] = true;
  }
  return reach;
}

bool differentiable(const Node &n) { return !n.info().has(kNoGradient); }

/// For a param the loss depends on but that got no gradient: the first op
/// without a gradient on its way to the loss.
const Node *blockingOp(const Graph &g, ValueId param, const std::vector<bool> &toLoss) {
  std::vector<bool> dep = dependents(g, {param}, [](const Node &) { return true; });
  for (const Node &n : g.nodes) {
    if (differentiable(n) || !toLoss[static_cast<size_t>(n.result)])
      continue;
    for (ValueId v : n.operands)
      if (dep[static_cast<size_t>(v)])
        return &n;
  }
  return nullptr;
}

} // namespace

Result<ParamGradients> differentiate(Graph &g, PassContext &ctx) {
  if (!g.minimize)
    return Result<ParamGradients>::failAt(
        g.loc, "model '{}' has no 'minimize' statement: there is no loss to differentiate", g.name);
  ValueId loss = g.minimize->loss;
  std::vector<ValueId> params = g.valuesOfKind(ValueKind::Param);
  std::vector<bool> needsGrad = dependents(g, params, differentiable);
  std::vector<bool> toLoss = ancestors(g, loss);
  size_t forwardNodes = g.nodes.size();

  GraphBuilder b(std::move(g));
  std::map<ValueId, ValueId> grads;
  grads[loss] = b.addImmediate(1.0, DType::F32, b.graph().minimize->loc);
  auto accumulate = [&](ValueId v, ValueId contribution, SourceLoc loc) {
    auto [it, fresh] = grads.emplace(v, contribution);
    if (!fresh)
      it->second = b.addOp(OpKind::Add, {it->second, contribution}, {}, loc);
  };
  for (size_t i = forwardNodes; i-- > 0;) {
    const Node node = b.graph().node(static_cast<NodeId>(i)); // copy: nodes grow
    auto dy = grads.find(node.result);
    if (dy == grads.end() || !differentiable(node))
      continue;
    std::vector<bool> wanted;
    bool any = false;
    for (size_t k = 0; k < node.operands.size(); ++k) {
      ValueId v = node.operands[k];
      bool w = needsGrad[static_cast<size_t>(v)] &&
               b.graph().value(v).kind != ValueKind::Immediate &&
               !(k == 0 && node.info().has(kSelector));
      wanted.push_back(w);
      any = any || w;
    }
    if (!any)
      continue;
    GradContext c(b, node, dy->second, wanted);
    Gradients contributions = gradientsOf(c);
    for (size_t k = 0; k < node.operands.size(); ++k) {
      if (!wanted[k])
        continue;
      // A rule that gives a wanted f32 operand no gradient would leave a
      // param untrained without a word: a bug in the rule.
      NNC_CHECK(k < contributions.size() && contributions[k] != kNoValue,
                "the gradient rule of {} gave operand {} no gradient", node.info().name, k);
      accumulate(node.operands[k], contributions[k], node.loc);
    }
  }

  ParamGradients out;
  Diagnostics errors;
  const Graph &cur = b.graph();
  for (ValueId p : params) {
    const Value &param = cur.value(p);
    if (auto it = grads.find(p); it != grads.end()) {
      out[p] = it->second;
      const Value &gv = cur.value(it->second);
      if (gv.kind == ValueKind::Op && gv.name.empty())
        b.nameValue(it->second, b.freshName("grad." + param.name), gv.loc);
    } else if (!toLoss[static_cast<size_t>(p)]) {
      ctx.diags.warning(param.loc, "param '{}' does not affect the loss '{}'", param.name,
                        cur.value(loss).name);
    } else if (const Node *blocker = blockingOp(cur, p, toLoss)) {
      errors.error(blocker->loc,
                   "the loss reaches param '{}' only through {}, which has no gradient", param.name,
                   blocker->info().name);
    }
  }
  Result<Graph> built = b.finish();
  if (!built)
    return Result<ParamGradients>(built.takeDiags());
  g = std::move(built).value();
  if (errors.hasErrors()) {
    errors.sortBySource();
    return Result<ParamGradients>(std::move(errors));
  }
  return out;
}

namespace {

class AutodiffPass : public Pass {
public:
  const char *name() const override { return "autodiff"; }
  Result<bool> run(Graph &g, PassContext &ctx) override {
    Result<ParamGradients> grads = differentiate(g, ctx);
    if (!grads)
      return Result<bool>(grads.takeDiags());
    Status updated = appendOptimizer(g, *grads);
    if (!updated)
      return Result<bool>(updated.takeDiags());
    return true;
  }
};

} // namespace

std::unique_ptr<Pass> createAutodiffPass() { return std::make_unique<AutodiffPass>(); }

} // namespace nnc
