/// The reference interpreter: binds inputs, then runs one kernel per node.
#include "runtime/Interpreter.h"
#include "ir/NodeAttrs.h"
#include "ir/InternalError.h"

#include "runtime/Initializers.h"
#include "runtime/InputBinding.h"

#include "ir/Limits.h"

namespace nnc {

const AttrValue &KernelCall::attr(std::string_view name) const {
  return attrNamed(node.op, node.attrs, std::string(name).c_str());
}

Interpreter::Interpreter(const Graph &graph)
    : graph_(graph), values_(graph.values.size()), dims_(graph.dims.size(), -1) {
  for (size_t i = 0; i < graph.values.size(); ++i) {
    ValueId id = static_cast<ValueId>(i);
    const Value &v = graph.value(id);
    switch (v.kind) {
    case ValueKind::Param:
    case ValueKind::State:
    case ValueKind::Const:
      values_[i] = initialTensor(graph, id);
      break;
    case ValueKind::Immediate:
      values_[i] = Tensor(v.type.dtype, {});
      values_[i].set(0, v.immediate());
      break;
    case ValueKind::Input:
    case ValueKind::Op:
      break;
    }
  }
}

namespace {

/// The first symbolic dim of `t` that has no value, or -1.
int32_t unboundDim(const Type &t, const std::vector<int64_t> &dims) {
  for (const Dim &d : t.shape)
    if (d.isSymbolic() && dims[static_cast<size_t>(d.symbol)] < 0)
      return d.symbol;
  return -1;
}

} // namespace

Status evalNode(KernelCall &call) {
  switch (call.node.info().family) {
  case OpFamily::Elementwise:
    return evalElementwise(call);
  case OpFamily::MatMul:
    return evalMatMul(call);
  case OpFamily::Shape:
    return evalShapeOp(call);
  case OpFamily::Reduce:
    return evalReduce(call);
  case OpFamily::Norm:
    return evalNorm(call);
  case OpFamily::Conv:
    return evalConv(call);
  case OpFamily::Loss:
    return evalLoss(call);
  }
  NNC_UNHANDLED_OP(call.node, "interpreter kernel");
}

Status Interpreter::bindInputs(const std::vector<Tensor> &inputs) {
  auto dims = nnc::bindInputs(graph_, inputs);
  if (!dims)
    return Status(dims.takeDiags());
  dims_ = std::move(dims).value();
  std::vector<ValueId> ids = graph_.valuesOfKind(ValueKind::Input);
  for (size_t i = 0; i < ids.size(); ++i)
    values_[static_cast<size_t>(ids[i])] = inputs[i];
  return Ok{};
}

Status Interpreter::run(const std::vector<Tensor> &inputs) {
  Status bound = bindInputs(inputs);
  if (!bound)
    return bound;
  if (Status sizes = checkValueSizes(graph_, dims_); !sizes)
    return sizes;
  for (const Node &node : graph_.nodes) {
    const Type &type = graph_.type(node.result);
    if (int32_t d = unboundDim(type, dims_); d >= 0)
      return Status::failAt(node.loc, "{}: dim {} has no value (no input uses it)",
                            node.info().name, graph_.dims[static_cast<size_t>(d)].name);
    Tensor &out = values_[static_cast<size_t>(node.result)];
    out = Tensor(type.dtype, concreteShape(type, dims_));
    KernelCall call{graph_, node, {}, out};
    for (ValueId operand : node.operands)
      call.inputs.push_back(&values_[static_cast<size_t>(operand)]);
    Status s = evalNode(call);
    if (!s)
      return s;
  }
  return Ok{};
}

void Interpreter::applyUpdates() {
  std::vector<Tensor> newValues;
  newValues.reserve(graph_.updates.size());
  for (const Update &u : graph_.updates)
    newValues.push_back(values_[static_cast<size_t>(u.value)].clone());
  for (size_t i = 0; i < graph_.updates.size(); ++i)
    values_[static_cast<size_t>(graph_.updates[i].target)] = std::move(newValues[i]);
}

} // namespace nnc
