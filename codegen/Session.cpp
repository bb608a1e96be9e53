/// JIT sessions: buffers around a compiled model.
#include "codegen/Session.h"

#include "codegen/Layout.h"
#include "ir/Limits.h"
#include "runtime/Interpreter.h"

#include <cstdlib>
#include <cstring>

namespace nnc {

namespace {

std::shared_ptr<void> alignedZeroed(uint64_t bytes) {
  uint64_t size = std::max<uint64_t>(64, (bytes + 63) / 64 * 64);
  void *p = std::aligned_alloc(64, size);
  if (!p)
    throw std::bad_alloc();
  std::memset(p, 0, size);
  return std::shared_ptr<void>(p, [](void *q) { std::free(q); });
}

} // namespace

Result<std::unique_ptr<JitSession>> JitSession::create(const Graph &infer, const Graph *train,
                                                       const CompileOptions &options) {
  using R = Result<std::unique_ptr<JitSession>>;
  std::unique_ptr<JitSession> s(new JitSession());
  s->infer_ = infer;
  if (train)
    s->train_ = std::make_unique<Graph>(*train);
  auto model = jitCompile(s->infer_, s->train_.get(), options);
  if (!model)
    return R(model.takeDiags());
  s->model_ = std::move(model).value();
  const ModelFunctions &f = s->model_->functions();
  if (f.stateSize() > static_cast<uint64_t>(maxTensorBytes()))
    return R::fail("model '{}': its params and state need {} bytes, more than the limit of {} "
                   "(set NNC_MAX_TENSOR_BYTES to change it)",
                   infer.name, f.stateSize(), maxTensorBytes());
  s->state_ = alignedZeroed(f.stateSize());
  if (int status = f.init(s->state_.get()); status != kAbiOk)
    return R::fail("model init failed with status {}", status);
  return R(std::move(s));
}

Result<std::vector<int64_t>> JitSession::bindDims(const Graph &g,
                                                  const std::vector<Tensor> &inputs) const {
  // The same checks and messages as the interpreter's.
  using R = Result<std::vector<int64_t>>;
  std::vector<ValueId> ins = g.valuesOfKind(ValueKind::Input);
  if (inputs.size() != ins.size())
    return R::fail("model '{}' has {} inputs, got {}", g.name, ins.size(), inputs.size());
  std::vector<int64_t> dims(g.dims.size(), -1);
  Diagnostics diags;
  std::vector<int> uses = g.useCounts();
  for (size_t i = 0; i < ins.size(); ++i) {
    const Value &v = g.value(ins[i]);
    const Tensor &t = inputs[i];
    if (t.empty() && uses[static_cast<size_t>(ins[i])] == 0)
      continue; // no output depends on it: passed as null
    bool ok = !t.empty() && t.dtype() == v.type.dtype && t.rank() == v.type.rank();
    for (size_t k = 0; ok && k < v.type.rank(); ++k) {
      const Dim &d = v.type.shape[k];
      int64_t want = d.isStatic() ? d.size : dims[static_cast<size_t>(d.symbol)];
      if (want < 0)
        want = dims[static_cast<size_t>(d.symbol)] = t.dim(k);
      ok = want == t.dim(k);
    }
    if (!ok)
      diags.error(v.loc, "input '{}' expects {} but got {}", v.name, g.typeString(ins[i]),
                  t.empty() ? "no tensor" : t.typeString());
  }
  if (diags.hasErrors())
    return R(std::move(diags));
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

void *JitSession::workspaceFor(const std::vector<int64_t> &dims) {
  uint64_t need = model_->functions().workspaceSize(dims.data());
  if (need > workspaceBytes_ || !workspace_) {
    workspace_ = alignedZeroed(need);
    workspaceBytes_ = need;
  }
  return workspace_.get();
}

Status JitSession::statusError(int status, const char *what) const {
  switch (status) {
  case kAbiBadLabel:
    return Status::fail("{}: a label is outside the range of classes", what);
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
    return R(statusError(status, "infer").takeDiags());
  return outs;
}

Result<float> JitSession::trainStep(const std::vector<Tensor> &inputs) {
  if (!train_)
    return Result<float>::fail("model '{}' has no training step", infer_.name);
  auto dims = bindDims(*train_, inputs);
  if (!dims)
    return Result<float>(dims.takeDiags());
  std::vector<const void *> in;
  for (const Tensor &t : inputs)
    in.push_back(t.data());
  float loss = 0;
  int status = model_->functions().trainStep(state_.get(), workspaceFor(*dims), dims->data(),
                                             in.data(), &loss);
  if (status != kAbiOk)
    return Result<float>(statusError(status, "train step").takeDiags());
  return loss;
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
