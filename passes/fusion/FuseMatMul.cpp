/// fuse-matmul: matmul + bias add + activation into fused_matmul, and the
/// activation's gradient into the matmuls (and the bias sum) that read it.
///
/// 1. relu_grad(x, dy) and leaky_relu_grad(x, dy, alpha >= 0) read the
///    activation's output y = relu(x) instead of x when that node exists
///    (y > 0 exactly where x > 0), so backward no longer keeps x alive.
/// 2. Backward: an activation gradient g = act_grad(z, dy) all of whose
///    readers are matmul(g, w) (g not transposed), matmul(x, g) (g not
///    transposed), fused_matmul_grad_weight(x, g) (the weight gradient of a
///    matmul of rows, which autodiff writes) or sum(g) over its rows is
///    applied inside each of them: fused_matmul_grad_input,
///    fused_matmul_grad_weight, fused_matmul_grad_bias. Only matmuls that are
///    one GEMM take part (ir/MatMulForm.h); g may have leading dims (rows).
/// 3. Forward: matmul(a, b) [+ bias f32[N]] [-> activation], each
///    intermediate with one reader and not an output, update or loss,
///    becomes one fused_matmul in place of the last node of the chain.
/// With ctx.remarks, every candidate is reported, fused or not and why.
#include "ir/Activation.h"
#include "ir/MatMulForm.h"
#include "ir/NodeAttrs.h"
#include "passes/fusion/Fusion.h"

#include <map>

namespace nnc {

namespace {

/// The slope of a node's activation: its alpha where it has one.
double alphaOf(const Node &n) {
  return n.info().attrIndex("alpha") < 0 ? kLeakyReluSlope : attr::alpha(n);
}

class FuseMatMulPass : public Pass {
public:
  const char *name() const override { return "fuse-matmul"; }

  Result<bool> run(Graph &g, PassContext &ctx) override {
    ctx_ = &ctx;
    dead_.assign(g.nodes.size(), false);
    bool changed = readActivationOutputs(g);
    changed |= fuseBackward(g);
    changed |= fuseForward(g);
    removeNodes(g, dead_);
    return changed;
  }

private:
  template <typename... Args>
  void remark(SourceLoc loc, fmt::format_string<Args...> f, Args &&...args) {
    if (ctx_->remarks)
      ctx_->diags.remark(loc, f, std::forward<Args>(args)...);
  }

  /// Step 1.
  bool readActivationOutputs(Graph &g) {
    std::map<std::pair<ValueId, OpKind>, NodeId> forward; // (x, relu|leaky_relu) -> node
    bool changed = false;
    for (size_t i = 0; i < g.nodes.size(); ++i) {
      Node &n = g.nodes[i];
      if (n.op == OpKind::Relu || (n.op == OpKind::LeakyRelu && alphaOf(n) >= 0)) {
        forward.emplace(std::make_pair(n.operands[0], n.op), static_cast<NodeId>(i));
        continue;
      }
      OpKind fwd = n.op == OpKind::ReluGrad ? OpKind::Relu : OpKind::LeakyRelu;
      if (n.op != OpKind::ReluGrad && n.op != OpKind::LeakyReluGrad)
        continue;
      auto it = forward.find({n.operands[0], fwd});
      if (it == forward.end() || alphaOf(g.node(it->second)) != alphaOf(n))
        continue;
      n.operands[0] = g.node(it->second).result;
      changed = true;
    }
    return changed;
  }

  /// Step 2.
  bool fuseBackward(Graph &g) {
    bool changed = false;
    for (size_t i = 0; i < g.nodes.size(); ++i) {
      Uses uses(g);
      Node &grad = g.nodes[i];
      std::optional<Activation> activation = activationOfGradient(grad.op);
      if (!activation || dead_[i])
        continue;
      const char *act = opInfo(activation->forward).name;
      ValueId gv = grad.result, z = grad.operands[0], dy = grad.operands[1];
      if (activation->costlyGradient) {
        remark(grad.loc,
               "{} not fused into matmuls: its erf and exp would be recomputed by "
               "each matmul that reads it (and per tile); computed once instead",
               grad.info().name);
        continue;
      }
      if (g.type(gv).rank() < 2 || g.type(z) != g.type(gv) || g.type(dy) != g.type(gv)) {
        remark(grad.loc,
               "{} not fused into the matmuls that read it: they take a gradient of rank 2 or "
               "more whose operands have its shape, and here z is {}, dy {}",
               grad.info().name, g.typeString(z), g.typeString(dy));
        continue;
      }
      if (uses.pinned[static_cast<size_t>(gv)]) {
        remark(grad.loc,
               "{} not fused into matmuls: its result is an output, an update or the loss",
               grad.info().name);
        continue;
      }
      const std::vector<NodeId> &readers = uses.users[static_cast<size_t>(gv)];
      const Node *blocker = nullptr;
      for (NodeId r : readers)
        if (!absorbable(g, g.node(r), gv)) {
          blocker = &g.node(r);
          break;
        }
      if (blocker || readers.empty()) {
        if (blocker)
          remark(grad.loc, "{} not fused into matmuls: its result is also used by {}",
                 grad.info().name, blocker->info().name);
        continue;
      }
      Attrs common = {AttrValue::name(act), AttrValue::num(alphaOf(grad))};
      for (NodeId r : readers) {
        Node &u = g.node(r);
        if (u.op == OpKind::Sum) {
          rewriteNode(u, OpKind::FusedMatMulGradBias, {dy, z},
                      attrsWith(OpKind::FusedMatMulGradBias,
                                {{"activation", common[0]}, {"alpha", common[1]}}));
        } else if (u.op == OpKind::FusedMatMulGradWeight) { // (x, g), no z yet
          rewriteNode(u, OpKind::FusedMatMulGradWeight, {u.operands[0], dy, z},
                      attrsWith(OpKind::FusedMatMulGradWeight,
                                {{"transpose_a", AttrValue::flag(attr::transposeA(u))},
                                 {"activation", common[0]},
                                 {"alpha", common[1]},
                                 {"precision", AttrValue::name(attr::precision(u))}}));
        } else if (u.operands[0] == gv) {
          rewriteNode(u, OpKind::FusedMatMulGradInput, {dy, z, u.operands[1]},
                      attrsWith(OpKind::FusedMatMulGradInput,
                                {{"transpose_b", AttrValue::flag(attr::transposeB(u))},
                                 {"activation", common[0]},
                                 {"alpha", common[1]},
                                 {"precision", AttrValue::name(attr::precision(u))}}));
        } else {
          rewriteNode(u, OpKind::FusedMatMulGradWeight, {u.operands[0], dy, z},
                      attrsWith(OpKind::FusedMatMulGradWeight,
                                {{"transpose_a", AttrValue::flag(attr::transposeA(u))},
                                 {"activation", common[0]},
                                 {"alpha", common[1]},
                                 {"precision", AttrValue::name(attr::precision(u))}}));
        }
      }
      remark(grad.loc, "{} fused into the {} matmul and bias gradient op(s) that read it",
             grad.info().name, readers.size());
      grad.operands.clear();
      dead_[i] = true;
      changed = true;
    }
    return changed;
  }

  /// A reader of the activation gradient `gv` that can apply it itself.
  static bool absorbable(const Graph &g, const Node &u, ValueId gv) {
    if (u.op == OpKind::MatMul) {
      bool left = u.operands[0] == gv, right = u.operands[1] == gv;
      if (left == right || !isSingleGemm(g, u))
        return false;
      return left ? !attr::transposeA(u) : !attr::transposeB(u);
    }
    if (u.op == OpKind::FusedMatMulGradWeight)
      return u.operands.size() == 2 && u.operands[1] == gv && u.operands[0] != gv;
    if (u.op == OpKind::Sum) { // over every axis but the last: the rows
      const AttrValue &axes = attr::axes(u);
      size_t rank = g.type(gv).rank();
      std::vector<int64_t> rows;
      for (size_t k = 0; k + 1 < rank; ++k)
        rows.push_back(static_cast<int64_t>(k));
      return !attr::keepdims(u) && !axes.isNone() && axes.asInts() == rows &&
             g.type(u.result).rank() == 1;
    }
    return false;
  }

  /// Step 3.
  bool fuseForward(Graph &g) {
    bool changed = false;
    for (size_t i = 0; i < g.nodes.size(); ++i) {
      if (dead_[i] || g.nodes[i].op != OpKind::MatMul)
        continue;
      Uses uses(g);
      const Node &mm = g.nodes[i];
      if (!isSingleGemm(g, mm)) {
        remark(mm.loc, "matmul not fused: a batched matmul is one GEMM per batch index");
        continue;
      }
      ValueId cur = mm.result;
      std::vector<NodeId> chain = {static_cast<NodeId>(i)};
      ValueId bias = kNoValue;
      const Node *act = nullptr;
      const char *curName = "matmul";
      auto single = [&](ValueId v) -> const Node * {
        const std::vector<NodeId> &r = uses.users[static_cast<size_t>(v)];
        return r.empty() ? nullptr : &g.node(r[0]);
      };
      // The bias add.
      if (const Node *u = single(cur); u && u->op == OpKind::Add) {
        std::string why = uses.whyKept(cur);
        ValueId other = u->operands[0] == cur ? u->operands[1] : u->operands[0];
        Shape want{g.type(cur).shape.back()};
        if (!why.empty()) {
          remark(mm.loc, "matmul not fused with add: {}", why);
        } else if (other == cur || g.type(other).dtype != DType::F32 ||
                   g.type(other).shape != want) {
          remark(mm.loc,
                 "matmul not fused with add: the other operand {} is not a bias of shape {}",
                 g.typeString(other), shapeToString(want, g.dimNames()));
        } else {
          bias = other;
          chain.push_back(uses.users[static_cast<size_t>(cur)][0]);
          cur = u->result;
          curName = "add";
        }
      }
      // The activation.
      if (const Node *u = single(cur); u && activationOf(u->op)) {
        std::string why = uses.whyKept(cur);
        if (!why.empty()) {
          remark(mm.loc, "{} not fused with {}: {}", curName, u->info().name, why);
        } else {
          act = u;
          chain.push_back(uses.users[static_cast<size_t>(cur)][0]);
        }
      }
      if (chain.size() == 1)
        continue;
      std::vector<ValueId> operands = {mm.operands[0], mm.operands[1]};
      if (bias != kNoValue)
        operands.push_back(bias);
      Attrs attrs = attrsWith(OpKind::FusedMatMul,
                              {{"transpose_a", AttrValue::flag(attr::transposeA(mm))},
                               {"transpose_b", AttrValue::flag(attr::transposeB(mm))},
                               {"activation", AttrValue::name(act ? act->info().name : "none")},
                               {"alpha", AttrValue::num(act ? alphaOf(*act) : kLeakyReluSlope)},
                               {"precision", AttrValue::name(attr::precision(mm))}});
      std::string with = bias != kNoValue ? "add" : "";
      if (act)
        with += (with.empty() ? "" : " and ") + std::string(act->info().name);
      remark(mm.loc, "matmul fused with {} into fused_matmul", with);
      rewriteNode(g.node(chain.back()), OpKind::FusedMatMul, std::move(operands), std::move(attrs));
      for (size_t k = 0; k + 1 < chain.size(); ++k) {
        dead_[static_cast<size_t>(chain[k])] = true;
        g.node(chain[k]).operands.clear();
      }
      changed = true;
    }
    return changed;
  }

  PassContext *ctx_ = nullptr;
  std::vector<bool> dead_;
};

} // namespace

std::unique_ptr<Pass> createFuseMatMulPass() { return std::make_unique<FuseMatMulPass>(); }

} // namespace nnc
