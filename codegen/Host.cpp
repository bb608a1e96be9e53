/// The host API (include/nnc/Host.h): the facade that runs the whole
/// pipeline for a host program: load, check, differentiate, JIT-compile.
#include "nnc/Host.h"

#include "frontend/ModelFile.h"
#include "frontend/Parser.h"
#include "ir/Verifier.h"
#include "passes/Pass.h"
#include "passes/Pipeline.h"

namespace nnc {

Result<CompiledModel> CompiledModel::load(const std::string &path, const CompileOptions &options) {
  Result<Graph> g = loadModel(path);
  if (!g)
    return Result<CompiledModel>(g.takeDiags());
  return compile(*g, options);
}

Result<CompiledModel> CompiledModel::compile(const Graph &model, const CompileOptions &options) {
  using R = Result<CompiledModel>;
  PassContext ctx;
  auto planned = planModel(model, ctx); // verify, training step, passes, schedule, plan
  if (!planned)
    return R(planned.takeDiags());
  auto jit = jitCompile(*planned, options); // LLVM module, optimize, machine code
  if (!jit)
    return R(jit.takeDiags());
  CompiledModel m;
  m.jit_ = std::move(jit).value();
  m.graph_ = std::make_shared<Graph>(model);
  return m;
}

} // namespace nnc
