/// The reference interpreter: evaluates a Graph node by node with obvious
/// loops. It is the oracle every compiled kernel is tested against.
#pragma once

#include "ir/ConcreteShape.h"
#include "ir/Graph.h"
#include "ir/Result.h"
#include "runtime/Tensor.h"

#include <vector>

namespace nnc {

class Interpreter {
public:
  /// Params and states take their initializers; consts their literals.
  explicit Interpreter(const Graph &graph);

  const Graph &graph() const { return graph_; }

  /// The tensor of a param, state or const (to read, or to overwrite before
  /// a run, e.g. from a checkpoint).
  Tensor &stateTensor(ValueId id) { return values_[static_cast<size_t>(id)]; }

  /// Binds `inputs` (one per graph input, in declaration order; an empty
  /// tensor for an input nothing uses), checks
  /// their dtypes and shapes (binding symbolic dims), checks every value's
  /// size (checkValueSizes), and evaluates every node. Errors (wrong input type, a label out of
  /// range) are located at the input's declaration or the failing node.
  Status run(const std::vector<Tensor> &inputs);

  /// A value computed by the last run (or a param/state/const).
  const Tensor &value(ValueId id) const { return values_[static_cast<size_t>(id)]; }
  /// Values of the symbolic dims in the last run.
  const std::vector<int64_t> &dims() const { return dims_; }

  /// Applies the graph's `<-` updates from the last run's values; all right
  /// sides are read before any target is written.
  void applyUpdates();

private:
  Status bindInputs(const std::vector<Tensor> &inputs);

  const Graph &graph_;
  std::vector<Tensor> values_;
  std::vector<int64_t> dims_;
};

/// Everything an interpreter kernel sees of one node.
struct KernelCall {
  const Graph &graph;
  const Node &node;
  std::vector<const Tensor *> inputs;
  Tensor &output;
  const AttrValue &attr(std::string_view name) const;
};

/// Runs the interpreter kernel of `call.node`'s op family (also what
/// constant folding evaluates with).
Status evalNode(KernelCall &call);

// One kernel entry per op family (runtime/interp/<Family>.cpp). Each fills
// `output`, already allocated with the node's concrete shape.
Status evalElementwise(KernelCall &call);
Status evalMatMul(KernelCall &call);
Status evalShapeOp(KernelCall &call);
Status evalReduce(KernelCall &call);
Status evalNorm(KernelCall &call);
Status evalConv(KernelCall &call);
Status evalLoss(KernelCall &call);

} // namespace nnc
