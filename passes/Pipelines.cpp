/// The default pipelines, built from the pass registry.
#include "passes/Pipelines.h"

#include "passes/Pass.h"

namespace nnc {

std::vector<std::string> fusionPasses() {
  std::vector<std::string> names;
  for (const PassInfo &p : allPasses())
    if (std::string_view(p.name).starts_with("fuse") ||
        std::string_view(p.name).starts_with("fusion"))
      names.push_back(p.name);
  return names;
}

namespace {

std::vector<std::string> optimize() {
  std::vector<std::string> names = {"simplify"};
  std::vector<std::string> fusion = fusionPasses();
  if (!fusion.empty()) {
    names.insert(names.end(), fusion.begin(), fusion.end());
    names.push_back("simplify");
  }
  return names;
}

} // namespace

std::vector<std::string> trainPipeline() {
  std::vector<std::string> names = {"autodiff"};
  for (std::string &n : optimize())
    names.push_back(std::move(n));
  return names;
}

std::vector<std::string> inferPipeline() { return optimize(); }

Result<Graph> optimizedInference(Graph g, PassContext &ctx) {
  g.minimize.reset();
  if (Status s = runPipeline(g, inferPipeline(), ctx); !s)
    return Result<Graph>(s.takeDiags());
  return g;
}

Result<Graph> optimizedTrainingStep(Graph model, PassContext &ctx) {
  if (Status s = runPipeline(model, trainPipeline(), ctx); !s)
    return Result<Graph>(s.takeDiags());
  return model;
}

} // namespace nnc
