/// Constant folding.
///
/// 1. Walk the nodes in order. A node folds when every operand is a const or
///    a number, its result type is static, and the result has at most
///    kMaxFoldElements elements (a larger one would print as a long literal
///    and is cheaper to compute than to store).
/// 2. Evaluate it with the reference interpreter's kernel for its op family,
///    so a folded value is exactly what the interpreter would compute.
/// 3. A kernel error (a label out of range) or a result that is not finite
///    (NaN and infinities do not print as literals) leaves the node as it
///    is: the error or value then appears at run time, as without folding.
/// 4. The value becomes a number when it is a scalar used only as an operand,
///    else a const (named after the value when it had a user name, else
///    `fold`, `fold.1`, ...). Nodes after it see it as a constant and may
///    fold in turn.
#include "passes/simplify/Simplify.h"

#include "ir/GraphRewrite.h"
#include "runtime/Initializers.h"
#include "runtime/Interpreter.h"

#include <cmath>

namespace nnc {

namespace {

constexpr int64_t kMaxFoldElements = 256;

bool isConstant(const Value &v) {
  return v.kind == ValueKind::Const || v.kind == ValueKind::Immediate;
}

class FoldPass : public Pass {
public:
  const char *name() const override { return "fold"; }

  Result<bool> run(Graph &g, PassContext &) override {
    GraphRewriter rw(g);
    for (size_t i = 0; i < g.nodes.size(); ++i) {
      rw.remapOperands(static_cast<NodeId>(i));
      const Node &n = g.nodes[i];
      const Type type = g.type(n.result);
      bool foldable = type.isStatic() && type.staticElements() <= kMaxFoldElements;
      for (ValueId v : n.operands)
        foldable = foldable && isConstant(g.value(v));
      if (!foldable)
        continue;
      std::vector<Tensor> inputs;
      for (ValueId v : n.operands)
        inputs.push_back(initialTensor(g, v));
      std::vector<int64_t> shape;
      for (const Dim &d : type.shape)
        shape.push_back(d.size);
      Tensor out(type.dtype, shape);
      KernelCall call{g, n, {}, out};
      for (const Tensor &t : inputs)
        call.inputs.push_back(&t);
      if (!evalNode(call))
        continue;
      std::vector<double> data(static_cast<size_t>(out.numel()));
      bool finite = true;
      for (int64_t k = 0; k < out.numel(); ++k) {
        data[static_cast<size_t>(k)] = out.at(k);
        finite = finite && std::isfinite(data[static_cast<size_t>(k)]);
      }
      if (finite)
        rw.replaceWithConstant(n.result, std::move(data), "fold");
    }
    return rw.finish();
  }
};

} // namespace

std::unique_ptr<Pass> createFoldPass() { return std::make_unique<FoldPass>(); }

} // namespace nnc
