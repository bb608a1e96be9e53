/// The pass registry and the pipeline runner.
#include "passes/Pass.h"

#include "ir/Verifier.h"
#include "passes/autodiff/Autodiff.h"

namespace nnc {

const std::vector<PassInfo> &allPasses() {
  static const std::vector<PassInfo> passes = {
      {"autodiff",
       "derive the gradients of the minimized loss and append the optimizer's update "
       "(the training step)",
       createAutodiffPass},
  };
  return passes;
}

const PassInfo *findPass(const std::string &name) {
  for (const PassInfo &p : allPasses())
    if (name == p.name)
      return &p;
  return nullptr;
}

Result<std::vector<std::string>> parsePipeline(const std::string &spec) {
  std::vector<std::string> names;
  size_t start = 0;
  while (start <= spec.size()) {
    size_t comma = spec.find(',', start);
    std::string name = spec.substr(start, comma == std::string::npos ? std::string::npos
                                                                      : comma - start);
    if (!findPass(name))
      return Result<std::vector<std::string>>::fail(
          "unknown pass '{}' (see 'nnc opt --list-passes')", name);
    names.push_back(name);
    if (comma == std::string::npos)
      break;
    start = comma + 1;
  }
  return names;
}

Status runPipeline(Graph &g, const std::vector<std::string> &passes, PassContext &ctx) {
  for (const std::string &name : passes) {
    std::unique_ptr<Pass> pass = findPass(name)->create();
    Result<bool> changed = pass->run(g, ctx);
    if (!changed)
      return Status(changed.takeDiags());
    if (ctx.verifyEach) {
      Diagnostics problems = verifyGraph(g);
      if (problems.hasErrors()) {
        Diagnostics d;
        d.add(Severity::Error, {}, "internal error: the graph is invalid after pass '" + name + "'");
        d.append(problems);
        return Status(std::move(d));
      }
    }
    if (ctx.afterPass)
      ctx.afterPass(name, g);
  }
  return Ok{};
}

} // namespace nnc
