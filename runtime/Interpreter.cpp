/// The reference interpreter: binds inputs, then runs one kernel per node.
#include "runtime/Interpreter.h"

#include "runtime/Initializers.h"

#include "ir/Limits.h"

#include <cassert>

namespace nnc {

std::vector<int64_t> concreteShape(const Type &t, const std::vector<int64_t> &dims) {
  std::vector<int64_t> shape;
  shape.reserve(t.rank());
  for (const Dim &d : t.shape) {
    if (d.isStatic()) {
      shape.push_back(d.size);
    } else {
      assert(static_cast<size_t>(d.symbol) < dims.size() && dims[d.symbol] >= 0 &&
             "symbolic dim has no value");
      shape.push_back(dims[static_cast<size_t>(d.symbol)]);
    }
  }
  return shape;
}

Status checkValueSizes(const Graph &g, const std::vector<int64_t> &dims) {
  for (size_t i = 0; i < g.values.size(); ++i) {
    const Value &v = g.values[i];
    bool bound = true;
    for (const Dim &d : v.type.shape)
      bound = bound && (d.isStatic() || (static_cast<size_t>(d.symbol) < dims.size() &&
                                         dims[static_cast<size_t>(d.symbol)] >= 0));
    if (!bound)
      continue;
    std::vector<int64_t> shape = concreteShape(v.type, dims);
    if (std::optional<std::string> problem = tensorSizeProblem(v.type.dtype, shape)) {
      std::string dimValues;
      for (size_t k = 0; k < g.dims.size() && k < dims.size(); ++k)
        dimValues += fmt::format("{}{} = {}", k ? ", " : " (with ", g.dims[k].name, dims[k]);
      if (!dimValues.empty())
        dimValues += ")";
      return Status::failAt(v.loc, "'{}' of type {}: {}{}", v.name.empty() ? "a temporary" : v.name,
                            g.typeString(v.type), *problem, dimValues);
    }
  }
  return Ok{};
}

const AttrValue &KernelCall::attr(std::string_view name) const {
  int i = node.info().attrIndex(name);
  assert(i >= 0 && "op has no such attribute");
  return node.attrs[static_cast<size_t>(i)];
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

/// `f32[4, 3]`, or a note that no tensor was given.
std::string describe(const Tensor &t) {
  return t.empty() ? std::string("no tensor") : t.typeString();
}

/// Whether `t` has `type`'s dtype, rank and static extents.
bool matchesStatically(const Tensor &t, const Type &type) {
  if (t.empty() || t.dtype() != type.dtype || t.rank() != type.rank())
    return false;
  for (size_t i = 0; i < type.rank(); ++i)
    if (type.shape[i].isStatic() && type.shape[i].size != t.dim(i))
      return false;
  return true;
}

/// Values of the symbolic dims as inputs bind them, and which input bound
/// each (for messages).
struct DimBinding {
  const Graph &graph;
  std::vector<int64_t> dims;
  std::vector<ValueId> boundBy;

  /// Binds the symbolic dims of input `id` from `t`, or reports a conflict
  /// with the input that bound them first.
  void bind(ValueId id, const Tensor &t, Diagnostics &diags) {
    const Value &v = graph.value(id);
    for (size_t axis = 0; axis < v.type.rank(); ++axis) {
      const Dim &d = v.type.shape[axis];
      if (d.isStatic())
        continue;
      size_t sym = static_cast<size_t>(d.symbol);
      if (boundBy[sym] == kNoValue) {
        dims[sym] = t.dim(axis);
        boundBy[sym] = id;
      } else if (dims[sym] != t.dim(axis)) {
        const std::string &dimName = graph.dims[sym].name;
        diags.error(v.loc, "input '{}' has {} for dim {} but input '{}' set {} = {}", v.name,
                    t.dim(axis), dimName, graph.value(boundBy[sym]).name, dimName, dims[sym]);
      }
    }
  }
};

/// The first symbolic dim of `t` that has no value, or -1.
int32_t unboundDim(const Type &t, const std::vector<int64_t> &dims) {
  for (const Dim &d : t.shape)
    if (d.isSymbolic() && dims[static_cast<size_t>(d.symbol)] < 0)
      return d.symbol;
  return -1;
}

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
  return Status::failAt(call.node.loc, "{}: no interpreter kernel", call.node.info().name);
}

} // namespace

Status Interpreter::bindInputs(const std::vector<Tensor> &inputs) {
  std::vector<ValueId> ids = graph_.valuesOfKind(ValueKind::Input);
  if (inputs.size() != ids.size())
    return Status::failAt(graph_.loc, "model '{}' has {} input{} but {} tensor{} given",
                          graph_.name, ids.size(), ids.size() == 1 ? "" : "s", inputs.size(),
                          inputs.size() == 1 ? " was" : "s were");
  DimBinding binding{graph_, std::vector<int64_t>(graph_.dims.size(), -1),
                     std::vector<ValueId>(graph_.dims.size(), kNoValue)};
  Diagnostics diags;
  std::vector<int> uses = graph_.useCounts();
  for (size_t i = 0; i < ids.size(); ++i) {
    const Value &v = graph_.value(ids[i]);
    if (inputs[i].empty() && uses[static_cast<size_t>(ids[i])] == 0)
      continue; // no output depends on it: it may be left out
    if (!matchesStatically(inputs[i], v.type))
      diags.error(v.loc, "input '{}' expects {} but got {}", v.name, graph_.typeString(ids[i]),
                  describe(inputs[i]));
    else
      binding.bind(ids[i], inputs[i], diags);
    values_[static_cast<size_t>(ids[i])] = inputs[i];
  }
  dims_ = std::move(binding.dims);
  if (diags.hasErrors())
    return Status(std::move(diags));
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
