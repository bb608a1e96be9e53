/// Algebraic identities, chiefly for what autodiff and hand-written models
/// leave behind.
///
/// 1. Walk the nodes in order; each rule either replaces the node's result by
///    an existing value (when that value has exactly the result's type, so
///    broadcasting never changes a shape) or rewrites the node in place into
///    one cheaper op with the same result type (checked with the shape rule).
/// 2. The rules ("c" is a number or a const whose elements all equal it):
///      x*1, 1*x, x/1             -> x     exact
///      x+0, 0+x, x-0             -> x     exact but for the sign of a zero:
///                                          -0 + 0 is +0 (as XLA and
///                                          PyTorch's JIT fold it too)
///      x - x, x a finite const   -> zeros  (for any other x, x - x is NaN
///                                          where x is inf or NaN, so it stays)
///      x + neg(y), neg(y) + x    -> x - y  exact
///      neg(neg(x))               -> x     exact
///      transpose(transpose(x))   -> one transpose of the composed perm,
///                                   or x when that is the identity
///      reshape(reshape(x))       -> one reshape; a reshape to x's type -> x
///      sum/mean/max over axes that are all of size 1
///                                -> x, or a reshape dropping those axes
///      sum_grad/mean_grad over size-1 axes (a broadcast that repeats
///      nothing)                  -> dy, or a reshape of dy
///      sum(sum_grad(x, dy)) over the same axes (a broadcast reduced straight
///      back)                     -> dy * N, N the static number of elements
///                                   reduced (N*dy is the correctly rounded sum
///                                   of N copies of dy; a sequential sum may
///                                   differ in the last bit)
///    x*0 is not folded: it is NaN where x is inf or NaN.
/// 3. Nodes whose results are no longer used are removed at the end.
#include "passes/simplify/Simplify.h"
#include "ir/NodeAttrs.h"

#include "ir/GraphRewrite.h"

#include <cmath>
#include <numeric>

namespace nnc {

namespace {

class Algebra {
public:
  explicit Algebra(Graph &g) : g_(g), rw_(g) {}

  bool run() {
    for (size_t i = 0; i < g_.nodes.size(); ++i) {
      rw_.remapOperands(static_cast<NodeId>(i));
      simplify(static_cast<NodeId>(i));
    }
    return rw_.finish();
  }

private:
  /// Whether every element of `v` (a number or a const) equals `c`
  /// (0 matches -0 too).
  bool allEqual(ValueId v, double c) const {
    const Value &val = g_.value(v);
    if (val.kind != ValueKind::Immediate && val.kind != ValueKind::Const)
      return false;
    if (val.data.empty())
      return false;
    for (double d : val.data)
      if (d != c)
        return false;
    return true;
  }

  /// The node defining `v` when it is the op `op`, else nullptr.
  const Node *defOf(ValueId v, OpKind op) const {
    const Value &val = g_.value(v);
    if (val.kind != ValueKind::Op || g_.node(val.def).op != op)
      return nullptr;
    return &g_.node(val.def);
  }

  /// Rewrites node `id` in place into `op(operands, attrs)` when that has
  /// the same result type.
  bool rewrite(NodeId id, OpKind op, std::vector<ValueId> operands, Attrs attrs) {
    Node &n = g_.node(id);
    std::optional<Type> t = inferNodeType(g_, op, operands, attrs);
    if (!t || *t != g_.type(n.result))
      return false;
    n.op = op;
    n.operands = std::move(operands);
    n.attrs = std::move(attrs);
    rw_.markChanged();
    return true;
  }

  bool toReshape(NodeId id, ValueId x) {
    if (rw_.replace(g_.node(id).result, x))
      return true;
    Attrs attrs =
        attrsWith(OpKind::Reshape, {{"shape", shapeAttr(g_, g_.type(g_.node(id).result).shape)}});
    return rewrite(id, OpKind::Reshape, {x}, std::move(attrs));
  }

  /// The axes a reduction-like node (attributes `axes`, `keepdims`) reduces
  /// of a value of rank `rank`.
  std::vector<int64_t> reducedAxes(const Node &n, size_t rank) const {
    const AttrValue &axes = attr::axes(n);
    std::vector<int64_t> out;
    if (axes.isNone()) {
      out.resize(rank);
      std::iota(out.begin(), out.end(), 0);
      return out;
    }
    for (int64_t a : axes.asInts())
      out.push_back(a < 0 ? a + static_cast<int64_t>(rank) : a);
    return out;
  }

  /// The static number of elements that `axes` of `t` hold, or -1.
  static int64_t extentOf(const Type &t, const std::vector<int64_t> &axes) {
    int64_t n = 1;
    for (int64_t a : axes) {
      const Dim &d = t.shape[static_cast<size_t>(a)];
      if (d.isSymbolic())
        return -1;
      n *= d.size;
    }
    return n;
  }

  void simplify(NodeId id) {
    const Node n = g_.node(id); // copy: rewrites edit the node and the values
    ValueId r = n.result;
    auto same = [&](ValueId v) { return g_.type(v) == g_.type(r); };
    auto use = [&](ValueId v) { return same(v) && rw_.replace(r, v); };
    switch (n.op) {
    case OpKind::Mul:
      if (allEqual(n.operands[1], 1) && use(n.operands[0]))
        return;
      if (allEqual(n.operands[0], 1) && use(n.operands[1]))
        return;
      break;
    case OpKind::Div:
      if (allEqual(n.operands[1], 1) && use(n.operands[0]))
        return;
      break;
    case OpKind::Add:
      if (allEqual(n.operands[1], 0) && use(n.operands[0]))
        return;
      if (allEqual(n.operands[0], 0) && use(n.operands[1]))
        return;
      if (const Node *neg = defOf(n.operands[1], OpKind::Neg))
        if (rewrite(id, OpKind::Sub, {n.operands[0], neg->operands[0]}, {}))
          return;
      if (const Node *neg = defOf(n.operands[0], OpKind::Neg))
        if (rewrite(id, OpKind::Sub, {n.operands[1], neg->operands[0]}, {}))
          return;
      break;
    case OpKind::Sub:
      if (allEqual(n.operands[1], 0) && use(n.operands[0]))
        return;
      if (n.operands[0] == n.operands[1] && zeroOfFiniteConst(n.operands[0], r))
        return;
      break;
    case OpKind::Neg:
      if (const Node *inner = defOf(n.operands[0], OpKind::Neg))
        use(inner->operands[0]);
      break;
    case OpKind::Dropout: // inference mode: the identity
      use(n.operands[0]);
      break;
    case OpKind::Transpose:
      transposeChain(id);
      break;
    case OpKind::Reshape:
      if (use(n.operands[0]))
        return;
      if (const Node *inner = defOf(n.operands[0], OpKind::Reshape))
        rewrite(id, OpKind::Reshape, {inner->operands[0]}, n.attrs);
      break;
    case OpKind::Sum:
    case OpKind::Mean:
    case OpKind::Max: {
      const Type &xt = g_.type(n.operands[0]);
      std::vector<int64_t> axes = reducedAxes(n, xt.rank());
      if (extentOf(xt, axes) == 1 && toReshape(id, n.operands[0]))
        return;
      if (n.op == OpKind::Sum)
        sumOfBroadcast(id, axes);
      break;
    }
    case OpKind::SumGrad:
    case OpKind::MeanGrad: {
      const Type &xt = g_.type(n.operands[0]);
      if (extentOf(xt, reducedAxes(n, xt.rank())) == 1)
        toReshape(id, n.operands[1]);
      break;
    }
    default:
      break;
    }
  }

  /// x - x for a const x without infinities or NaN: zeros.
  bool zeroOfFiniteConst(ValueId x, ValueId r) {
    const Value &v = g_.value(x);
    if ((v.kind != ValueKind::Const && v.kind != ValueKind::Immediate) || !g_.type(r).isStatic())
      return false;
    for (double d : v.data)
      if (!std::isfinite(d))
        return false;
    int64_t n = g_.type(r).staticElements();
    if (n > 256)
      return false;
    return rw_.replaceWithConstant(r, std::vector<double>(static_cast<size_t>(n), 0.0), "zeros");
  }

  void transposeChain(NodeId id) {
    const Node n = g_.node(id);
    auto permOf = [&](const Node &t) {
      const AttrValue &p = attr::perm(t);
      size_t rank = g_.type(t.operands[0]).rank();
      std::vector<int64_t> perm(rank);
      if (p.isNone()) // reversed axes
        for (size_t i = 0; i < rank; ++i)
          perm[i] = static_cast<int64_t>(rank - 1 - i);
      else
        perm = p.asInts();
      return perm;
    };
    std::vector<int64_t> outer = permOf(n), composed = outer;
    ValueId x = n.operands[0];
    if (const Node *inner = defOf(x, OpKind::Transpose)) {
      std::vector<int64_t> in = permOf(*inner);
      for (size_t i = 0; i < outer.size(); ++i)
        composed[i] = in[static_cast<size_t>(outer[i])];
      x = inner->operands[0];
    }
    bool identity = true;
    for (size_t i = 0; i < composed.size(); ++i)
      identity = identity && composed[i] == static_cast<int64_t>(i);
    if (identity && g_.type(x) == g_.type(n.result) && rw_.replace(n.result, x))
      return;
    if (x != n.operands[0])
      rewrite(id, OpKind::Transpose, {x}, {AttrValue::ints(composed)});
  }

  /// sum(sum_grad(x, dy)) over the same axes: dy * N.
  void sumOfBroadcast(NodeId id, const std::vector<int64_t> &axes) {
    const Node n = g_.node(id);
    const Node *grad = defOf(n.operands[0], OpKind::SumGrad);
    if (!grad || grad->attrs != n.attrs)
      return;
    ValueId dy = grad->operands[1];
    int64_t count = extentOf(g_.type(grad->operands[0]), axes);
    if (count < 0 || g_.type(dy) != g_.type(n.result) || g_.type(dy).dtype != DType::F32)
      return;
    if (count == 1 && rw_.replace(n.result, dy))
      return;
    ValueId factor = rw_.addImmediate(static_cast<double>(count), DType::F32, n.loc);
    rewrite(id, OpKind::Mul, {dy, factor}, {});
  }

  Graph &g_;
  GraphRewriter rw_;
};

class AlgebraPass : public Pass {
public:
  const char *name() const override { return "algebra"; }
  Result<bool> run(Graph &g, PassContext &) override { return Algebra(g).run(); }
};

} // namespace

std::unique_ptr<Pass> createAlgebraPass() { return std::make_unique<AlgebraPass>(); }

} // namespace nnc
