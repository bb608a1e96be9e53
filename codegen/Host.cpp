/// The host API (include/nnc/Host.h): the facade that runs the whole
/// pipeline for a host program: load, check, differentiate, JIT-compile.
#include "nnc/Host.h"

#include "ir/Parser.h"
#include "ir/Verifier.h"
#include "passes/Pass.h"

namespace nnc {

Result<CompiledModel> CompiledModel::load(const std::string &path, const CompileOptions &options) {
  Result<Graph> g = loadModelFile(path);
  if (!g)
    return Result<CompiledModel>(g.takeDiags());
  return compile(*g, options);
}

Result<CompiledModel> CompiledModel::compile(const Graph &model, const CompileOptions &options) {
  using R = Result<CompiledModel>;
  if (Diagnostics problems = verifyGraph(model); problems.hasErrors())
    return R(std::move(problems));
  std::unique_ptr<Graph> train;
  if (model.minimize) {
    train = std::make_unique<Graph>(model);
    PassContext ctx;
    if (Status s = runPipeline(*train, {"autodiff"}, ctx); !s)
      return R(s.takeDiags());
  }
  auto jit = jitCompile(model, train.get(), options);
  if (!jit)
    return R(jit.takeDiags());
  CompiledModel m;
  m.jit_ = std::move(jit).value();
  m.graph_ = std::make_shared<Graph>(model);
  return m;
}

} // namespace nnc
