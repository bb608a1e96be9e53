/// JIT sessions: buffers around a compiled model.
#include "codegen/Session.h"

#include "codegen/Layout.h"
#include "ir/Limits.h"
#include "ir/NodeAttrs.h"
#include "runtime/AlignedMemory.h"
#include "runtime/InputBinding.h"
#include "runtime/Interpreter.h"

#include <algorithm>
#include <cstdlib>
#include <optional>
#include <cstring>

namespace nnc {

Result<std::unique_ptr<JitSession>> JitSession::create(const PlannedModel &planned,
                                                       const CompileOptions &options) {
  auto model = jitCompile(planned, options);
  if (!model)
    return Result<std::unique_ptr<JitSession>>(model.takeDiags());
  return create(std::shared_ptr<JitModel>(std::move(model).value()), planned.infer.graph,
                planned.trainGraph());
}

Result<std::unique_ptr<JitSession>> JitSession::create(std::shared_ptr<JitModel> compiled,
                                                       const Graph &infer, const Graph *train) {
  using R = Result<std::unique_ptr<JitSession>>;
  std::unique_ptr<JitSession> s(new JitSession());
  s->infer_ = infer;
  if (train)
    s->train_ = std::make_unique<Graph>(*train);
  s->model_ = std::move(compiled);
  const ModelFunctions &f = s->model_->functions();
  if (f.stateSize() > static_cast<uint64_t>(maxTensorBytes()))
    return R::fail("model '{}': its params and state need {} bytes, more than the limit of {} "
                   "(set NNC_MAX_TENSOR_BYTES to change it)",
                   s->infer_.name, f.stateSize(), maxTensorBytes());
  s->state_ = allocateAlignedZeroed(f.stateSize());
  if (int status = f.init(s->state_.get()); status != kAbiOk)
    return R::fail("model init failed with status {}", status);
  return R(std::move(s));
}

Result<std::unique_ptr<JitSession>> JitSession::create(const Graph &infer, const Graph *train,
                                                       const CompileOptions &options) {
  PassContext ctx;
  return create(planOptimized(infer, train, ctx), options);
}

Result<std::vector<int64_t>> JitSession::bindDims(const Graph &g,
                                                  const std::vector<Tensor> &inputs) const {
  // The same checks and messages as the interpreter's.
  using R = Result<std::vector<int64_t>>;
  auto bound = bindInputs(g, inputs);
  if (!bound)
    return R(bound.takeDiags());
  std::vector<int64_t> dims = std::move(bound).value();
  for (int64_t &d : dims)
    d = std::max<int64_t>(d, 0);
  // Sizes before the compiled code computes its workspace from the dims:
  // every value fits the limit, so the workspace arithmetic cannot overflow.
  if (Status sizes = checkValueSizes(g, dims); !sizes)
    return R(sizes.takeDiags());
  uint64_t need = model_->functions().workspaceSize(dims.data());
  if (need > static_cast<uint64_t>(maxTensorBytes()))
    return R::failAt(g.loc,
                     "model '{}' needs a workspace of {} bytes for these inputs, more than "
                     "the limit of {} (set NNC_MAX_TENSOR_BYTES to change it)",
                     g.name, need, maxTensorBytes());
  return dims;
}

Status JitSession::checkInputs(const std::vector<Tensor> &inputs, bool training) const {
  if (training && !train_)
    return Status::fail("model '{}' has no training step", infer_.name);
  auto dims = bindDims(training ? *train_ : infer_, inputs);
  if (!dims)
    return Status(dims.takeDiags());
  return Ok{};
}

void *JitSession::workspaceFor(const std::vector<int64_t> &dims) {
  uint64_t need = model_->functions().workspaceSize(dims.data());
  if (need > workspaceBytes_ || !workspace_) {
    workspace_ = allocateAlignedZeroed(need);
    workspaceBytes_ = need;
  }
  return workspace_.get();
}

namespace {

/// The error of a label outside [0, K) at the softmax_cross_entropy that
/// reads it, as the interpreter words it, when its labels are an input.
std::optional<Status> badLabelAt(const Graph &g, const Node &n, const std::vector<Tensor> &inputs,
                                 const std::vector<int64_t> &dims) {
  std::vector<ValueId> ins = g.valuesOfKind(ValueKind::Input);
  auto it = std::find(ins.begin(), ins.end(), n.operands[1]);
  if (it == ins.end())
    return std::nullopt;
  const Tensor &labels = inputs[static_cast<size_t>(it - ins.begin())];
  int64_t classes = concreteShape(g.type(n.operands[0]), dims).back();
  for (int64_t r = 0; r < labels.numel(); ++r)
    if (int32_t label = labels.i32()[r]; label < 0 || label >= classes)
      return Status::failAt(n.loc, "softmax_cross_entropy: label {} in row {} is outside [0, {})",
                            label, r, classes);
  return std::nullopt;
}

/// The error of a gather index outside [0, extent) at the gather (or
/// gather_grad) that reads it, as the interpreter words it, when its
/// indices are an input or a const.
std::optional<Status> badIndexAt(const Graph &g, const Node &n, const std::vector<Tensor> &inputs,
                                 const std::vector<int64_t> &dims) {
  ValueId indices = n.operands[1];
  std::vector<double> values;
  std::vector<ValueId> ins = g.valuesOfKind(ValueKind::Input);
  if (auto it = std::find(ins.begin(), ins.end(), indices); it != ins.end()) {
    const Tensor &t = inputs[static_cast<size_t>(it - ins.begin())];
    values.assign(t.i32(), t.i32() + t.numel());
  } else if (g.value(indices).kind == ValueKind::Const) {
    values = g.value(indices).data;
  } else {
    return std::nullopt;
  }
  std::vector<int64_t> shape = concreteShape(g.type(n.operands[0]), dims);
  if (n.op == OpKind::GatherGrad)
    shape = concreteShape(g.type(n.result), dims);
  int64_t axis = attr::axis(n);
  int64_t extent =
      shape[static_cast<size_t>(axis < 0 ? axis + static_cast<int64_t>(shape.size()) : axis)];
  for (size_t j = 0; j < values.size(); ++j)
    if (values[j] < 0 || values[j] >= static_cast<double>(extent))
      return Status::failAt(n.loc, "{}: index {} (element {} of the indices) is outside [0, {})",
                            n.info().name, values[j], j, extent);
  return std::nullopt;
}

/// Elements a max or argmax node reduces over, with these dims.
int64_t reducedElements(const Graph &g, const Node &n, const std::vector<int64_t> &dims) {
  std::vector<int64_t> shape = concreteShape(g.type(n.operands[0]), dims);
  const AttrValue &axes =
      n.attrs[static_cast<size_t>(n.info().attrIndex(n.op == OpKind::ArgMax ? "axis" : "axes"))];
  int64_t count = 1;
  auto rank = static_cast<int64_t>(shape.size());
  std::vector<int64_t> reduced = axes.isNone() ? std::vector<int64_t>() : axes.asInts();
  if (n.op == OpKind::ArgMax)
    reduced = {axes.asInt()};
  if (axes.isNone())
    for (int64_t a = 0; a < rank; ++a)
      reduced.push_back(a);
  for (int64_t a : reduced)
    count *= shape[static_cast<size_t>(a < 0 ? a + rank : a)];
  return count;
}

} // namespace

Status JitSession::statusError(const Graph &g, int status, const char *what,
                               const std::vector<Tensor> &inputs,
                               const std::vector<int64_t> &dims) const {
  // Compiled code returns a status; the same error as the interpreter's,
  // located at the op, is found from the graph and the call's inputs.
  for (const Node &n : g.nodes) {
    if (status == kAbiBadLabel && n.op == OpKind::SoftmaxCrossEntropy)
      if (auto located = badLabelAt(g, n, inputs, dims))
        return std::move(*located);
    if (status == kAbiBadIndex && (n.op == OpKind::Gather || n.op == OpKind::GatherGrad))
      if (auto located = badIndexAt(g, n, inputs, dims))
        return std::move(*located);
    if (status == kAbiEmptyReduction && (n.op == OpKind::Max || n.op == OpKind::ArgMax) &&
        reducedElements(g, n, dims) == 0) {
      Tensor x(DType::F32, concreteShape(g.type(n.operands[0]), dims));
      return Status::failAt(n.loc, "{}: cannot reduce over an empty axis of {}", n.info().name,
                            x.typeString());
    }
  }
  switch (status) {
  case kAbiBadLabel:
    return Status::fail("{}: a label is outside the range of classes", what);
  case kAbiEmptyReduction:
    return Status::fail("{}: a max over an empty axis", what);
  case kAbiBadIndex:
    return Status::fail("{}: a gather index is outside the range of its axis", what);
  case kAbiBadDim:
    return Status::fail("{}: a dim value is out of range", what);
  case kAbiBadBuffer:
    return Status::fail("{}: a null or misaligned buffer", what);
  default:
    return Status::fail("{}: compiled code returned status {}", what, status);
  }
}

Result<std::vector<Tensor>> JitSession::infer(const std::vector<Tensor> &inputs) {
  using R = Result<std::vector<Tensor>>;
  auto dims = bindDims(infer_, inputs);
  if (!dims)
    return R(dims.takeDiags());
  std::vector<const void *> in;
  for (const Tensor &t : inputs)
    in.push_back(t.data());
  std::vector<Tensor> outs;
  std::vector<void *> outPtrs;
  for (const OutputRef &o : infer_.outputs) {
    outs.emplace_back(infer_.type(o.value).dtype, concreteShape(infer_.type(o.value), *dims));
    outPtrs.push_back(outs.back().data());
  }
  int status = model_->functions().infer(state_.get(), workspaceFor(*dims), dims->data(), in.data(),
                                         outPtrs.data());
  if (status != kAbiOk)
    return R(statusError(infer_, status, "infer", inputs, *dims).takeDiags());
  return outs;
}

template <typename Call>
Result<float> JitSession::runTraining(const std::vector<Tensor> &inputs, const char *what,
                                      Call call) {
  auto dims = bindDims(*train_, inputs);
  if (!dims)
    return Result<float>(dims.takeDiags());
  std::vector<const void *> in;
  for (const Tensor &t : inputs)
    in.push_back(t.data());
  float loss = 0;
  int status = call(workspaceFor(*dims), dims->data(), in.data(), &loss);
  if (status != kAbiOk)
    return Result<float>(statusError(*train_, status, what, inputs, *dims).takeDiags());
  return loss;
}

Result<float> JitSession::trainStep(const std::vector<Tensor> &inputs) {
  if (!train_)
    return Result<float>::fail("model '{}' has no training step", infer_.name);
  return runTraining(inputs, "train step",
                     [&](void *workspace, const int64_t *dims, const void *const *in, float *loss) {
                       return model_->functions().trainStep(state_.get(), workspace, dims, in,
                                                            loss);
                     });
}

uint64_t JitSession::gradientsSize() const {
  const ModelFunctions &f = model_->functions();
  return f.gradientsSize ? f.gradientsSize() : 0;
}

Result<float> JitSession::computeGradients(const std::vector<Tensor> &inputs, float *gradients,
                                           ModelFunctions::GradientReady ready, void *readyCtx) {
  const ModelFunctions &f = model_->functions();
  if (!train_ || !f.computeGradients)
    return Result<float>::fail("model '{}' was not compiled with its training step cut at the "
                               "gradients",
                               infer_.name);
  return runTraining(inputs, "compute gradients",
                     [&](void *workspace, const int64_t *dims, const void *const *in, float *loss) {
                       return f.computeGradients(state_.get(), workspace, dims, in, gradients, loss,
                                                 ready, readyCtx);
                     });
}

Status JitSession::applyGradients(const float *gradients) {
  const ModelFunctions &f = model_->functions();
  if (!f.applyGradients)
    return Status::fail("model '{}' was not compiled with its training step cut at the gradients",
                        infer_.name);
  // The update's workspace needs no dims: the largest call's is enough.
  std::vector<int64_t> dims(train_->dims.size(), 0);
  void *workspace = workspace_ ? workspace_.get() : workspaceFor(dims);
  if (int status = f.applyGradients(state_.get(), workspace, gradients); status != kAbiOk)
    return Status::fail("apply gradients: compiled code returned status {}", status);
  return Ok{};
}

std::vector<std::string> JitSession::stateNames() const {
  std::vector<std::string> names;
  for (const auto &[name, offset] : layoutState(infer_, train_.get()).entries)
    names.push_back(name);
  return names;
}

Tensor JitSession::read(const std::string &name) const {
  const Graph &g = train_ ? *train_ : infer_;
  ValueId id = g.findValue(name);
  int64_t offset = model_->functions().paramOffset(name.c_str());
  if (id == kNoValue || offset < 0)
    return Tensor();
  Tensor t(g.type(id).dtype, concreteShape(g.type(id), {}));
  std::memcpy(t.data(), static_cast<char *>(state_.get()) + offset, static_cast<size_t>(t.bytes()));
  return t;
}

Status JitSession::write(const std::string &name, const Tensor &t) {
  const Graph &g = train_ ? *train_ : infer_;
  ValueId id = g.findValue(name);
  int64_t offset = model_->functions().paramOffset(name.c_str());
  if (id == kNoValue || offset < 0)
    return Status::fail("model '{}' has no param or state '{}'", g.name, name);
  if (t.dtype() != g.type(id).dtype || t.shape() != concreteShape(g.type(id), {}))
    return Status::fail("'{}' is {} but got {}", name, g.typeString(id), t.typeString());
  std::memcpy(static_cast<char *>(state_.get()) + offset, t.data(), static_cast<size_t>(t.bytes()));
  return Ok{};
}

} // namespace nnc
