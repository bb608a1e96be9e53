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
  g.updates.clear();
  if (Status s = runPipeline(g, inferPipeline(), ctx); !s)
    return Result<Graph>(s.takeDiags());
  return g;
}

bool hasTrainingStep(const Graph &model) {
  return model.minimize.has_value() || !model.updates.empty();
}

ValueId reportedLoss(const Graph &model) {
  if (model.minimize)
    return model.minimize->loss;
  for (const OutputRef &o : model.outputs)
    if (model.type(o.value) == Type{DType::F32, {}})
      return o.value;
  return kNoValue;
}

namespace {

/// A model with hand-written updates as a training step: its loss (or a
/// constant 0) appended as the last output.
Result<Graph> handWrittenTrainingStep(Graph model) {
  ValueId loss = reportedLoss(model);
  if (loss == kNoValue) {
    Value zero;
    zero.name = "nnc.no_loss";
    while (model.findValue(zero.name) != kNoValue)
      zero.name += "_";
    zero.kind = ValueKind::Const;
    zero.type = Type{DType::F32, {}};
    zero.loc = model.loc;
    zero.data = {0.0};
    model.values.push_back(std::move(zero));
    loss = static_cast<ValueId>(model.values.size() - 1);
  }
  model.outputs.push_back(OutputRef{loss, model.loc});
  return model;
}

} // namespace

Result<Graph> optimizedTrainingStep(Graph model, PassContext &ctx) {
  if (!model.minimize) {
    auto step = handWrittenTrainingStep(std::move(model));
    if (!step)
      return step;
    if (Status s = runPipeline(*step, inferPipeline(), ctx); !s)
      return Result<Graph>(s.takeDiags());
    return step;
  }
  if (Status s = runPipeline(model, trainPipeline(), ctx); !s)
    return Result<Graph>(s.takeDiags());
  return model;
}

} // namespace nnc
