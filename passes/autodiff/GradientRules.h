/// What a gradient rule sees, and the per-family rules (one file per op
/// family in passes/autodiff/). A rule returns, for each operand of the
/// forward node, the gradient contribution of the node's result gradient,
/// or kNoValue where that operand needs none.
#pragma once

#include "ir/GraphBuilder.h"

#include <initializer_list>
#include <utility>
#include <vector>

namespace nnc {

/// One forward node being differentiated, and a builder for gradient nodes.
class GradContext {
public:
  GradContext(GraphBuilder &b, const Node &node, ValueId dy, std::vector<bool> wanted)
      : node(node), dy(dy), wanted(std::move(wanted)), b_(b) {}

  const Node &node;
  const ValueId dy;               ///< gradient of the node's result
  const std::vector<bool> wanted; ///< which operands need a gradient

  ValueId x(size_t i) const { return node.operands[i]; }
  ValueId y() const { return node.result; }
  const Type &type(ValueId v) const { return b_.graph().type(v); }
  const Graph &graph() const { return b_.graph(); }
  const AttrValue &attr(std::string_view name) const;
  const std::string &dimName(int32_t symbol) const {
    return b_.graph().dims[static_cast<size_t>(symbol)].name;
  }

  /// Appends `op(operands, attrs)` at the forward node's location; named
  /// attributes override the op's defaults.
  ValueId op(OpKind op, std::vector<ValueId> operands,
             std::initializer_list<std::pair<const char *, AttrValue>> attrs = {});
  /// Like op(), copying the forward node's attributes (whose layout the
  /// gradient op shares, e.g. sum -> sum_grad).
  ValueId opWithForwardAttrs(OpKind op, std::vector<ValueId> operands);
  /// A scalar number operand.
  ValueId number(double v);
  /// Sums a gradient of a broadcast result back to the shape of `like`.
  ValueId unbroadcast(ValueId grad, ValueId like);

private:
  GraphBuilder &b_;
};

using Gradients = std::vector<ValueId>;

Gradients elementwiseGradients(GradContext &c);
Gradients matMulGradients(GradContext &c);
Gradients shapeOpGradients(GradContext &c);
Gradients reduceGradients(GradContext &c);
Gradients normGradients(GradContext &c);
Gradients convGradients(GradContext &c);
Gradients lossGradients(GradContext &c);

} // namespace nnc
