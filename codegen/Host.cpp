/// The host API (include/nnc/Host.h): the facade that runs the whole
/// pipeline for a host program: load, check, differentiate, JIT-compile.
#include "nnc/Host.h"

#include "codegen/Compiler.h"
#include "passes/Pass.h"
#include "passes/Pipeline.h"

namespace nnc {

namespace detail {
struct CompiledModelImpl {
  std::unique_ptr<JitModel> jit;
  ModelGraph graph;
  const ModelFunctions &fns() const { return jit->functions(); }
};
} // namespace detail

Result<CompiledModel> CompiledModel::load(const std::string &path, const CompileOptions &options) {
  Result<ModelGraph> g = ModelGraph::load(path);
  if (!g)
    return Result<CompiledModel>(g.takeDiags());
  return compile(*g, options);
}

Result<CompiledModel> CompiledModel::compile(const ModelGraph &model,
                                             const CompileOptions &options) {
  using R = Result<CompiledModel>;
  PassContext ctx;
  PlanRequest request;
  request.splitTrainingStep = options.splitTrainingStep && model.graph().minimize.has_value();
  auto bf16 = bf16Products(options);
  if (!bf16)
    return R(bf16.takeDiags());
  request.bf16Products = *bf16;
  // verify, training step, passes, schedule, plan
  auto planned = planModel(model.graph(), ctx, request);
  if (!planned)
    return R(planned.takeDiags());
  auto jit = jitCompile(*planned, options); // LLVM module, optimize, machine code
  if (!jit)
    return R(jit.takeDiags());
  CompiledModel m;
  m.impl_ = std::make_shared<detail::CompiledModelImpl>(
      detail::CompiledModelImpl{std::move(jit).value(), model});
  return m;
}

bool CompiledModel::cpuSupported() const { return impl_->fns().cpuSupported() != 0; }
uint64_t CompiledModel::stateSize() const { return impl_->fns().stateSize(); }
uint64_t CompiledModel::workspaceSize(const int64_t *dims) const {
  return impl_->fns().workspaceSize(dims);
}
int CompiledModel::init(void *state) const { return impl_->fns().init(state); }

int CompiledModel::infer(void *state, void *workspace, const int64_t *dims,
                         const void *const *inputs, void *const *outputs) const {
  return impl_->fns().infer(state, workspace, dims, inputs, outputs);
}

int CompiledModel::trainStep(void *state, void *workspace, const int64_t *dims,
                             const void *const *inputs, float *loss) const {
  const ModelFunctions &f = impl_->fns();
  return f.trainStep ? f.trainStep(state, workspace, dims, inputs, loss) : 2;
}

int64_t CompiledModel::paramOffset(const char *name) const {
  return impl_->fns().paramOffset(name);
}
bool CompiledModel::canTrain() const { return impl_->fns().trainStep != nullptr; }

uint64_t CompiledModel::gradientsSize() const {
  const ModelFunctions &f = impl_->fns();
  return f.gradientsSize ? f.gradientsSize() : 0;
}

int64_t CompiledModel::gradientOffset(const char *name) const {
  const ModelFunctions &f = impl_->fns();
  return f.gradientOffset ? f.gradientOffset(name) : -1;
}

int CompiledModel::computeGradients(void *state, void *workspace, const int64_t *dims,
                                    const void *const *inputs, float *gradients, float *loss,
                                    GradientReady ready, void *readyCtx) const {
  const ModelFunctions &f = impl_->fns();
  if (!f.computeGradients)
    return 2;
  return f.computeGradients(state, workspace, dims, inputs, gradients, loss, ready, readyCtx);
}

int CompiledModel::applyGradients(void *state, void *workspace, const float *gradients) const {
  const ModelFunctions &f = impl_->fns();
  return f.applyGradients ? f.applyGradients(state, workspace, gradients) : 2;
}
void CompiledModel::setThreads(int threads) { impl_->jit->setThreads(threads); }
int CompiledModel::threads() const { return impl_->jit->threads(); }
const ModelGraph &CompiledModel::graph() const { return impl_->graph; }
const CompileTimes &CompiledModel::times() const { return impl_->jit->times(); }

} // namespace nnc
