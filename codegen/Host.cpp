/// The host API (include/nnc/Host.h): the facade that runs the whole
/// pipeline for a host program: load, check, differentiate, JIT-compile.
#include "nnc/Host.h"

#include "frontend/ModelFile.h"
#include "frontend/Parser.h"
#include "ir/Verifier.h"
#include "passes/Pass.h"
#include "passes/Pipelines.h"

namespace nnc {

Result<CompiledModel> CompiledModel::load(const std::string &path, const CompileOptions &options) {
  Result<Graph> g = loadModel(path);
  if (!g)
    return Result<CompiledModel>(g.takeDiags());
  return compile(*g, options);
}

Result<CompiledModel> CompiledModel::compile(const Graph &model, const CompileOptions &options) {
  using R = Result<CompiledModel>;
  if (Diagnostics problems = verifyGraph(model); problems.hasErrors())
    return R(std::move(problems));
  PassContext ctx;
  std::unique_ptr<Graph> train;
  if (hasTrainingStep(model)) {
    auto step = optimizedTrainingStep(model, ctx);
    if (!step)
      return R(step.takeDiags());
    train = std::make_unique<Graph>(std::move(step).value());
  }
  auto infer = optimizedInference(model, ctx);
  if (!infer)
    return R(infer.takeDiags());
  auto jit = jitCompile(*infer, train.get(), options);
  if (!jit)
    return R(jit.takeDiags());
  CompiledModel m;
  m.jit_ = std::move(jit).value();
  m.graph_ = std::make_shared<Graph>(model);
  return m;
}

} // namespace nnc
