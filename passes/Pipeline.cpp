/// The graph half of the compile pipeline (passes/Pipeline.h).
#include "passes/Pipeline.h"

#include "ir/Verifier.h"
#include "passes/SplitTrainingStep.h"
#include "passes/schedule/KernelSchedule.h"

#include <chrono>

namespace nnc {

namespace {

using Clock = std::chrono::steady_clock;

/// Runs `step`, recording its time in the context under `name`.
template <typename F> auto timed(PassContext &ctx, const std::string &name, F step) {
  auto start = Clock::now();
  auto result = step();
  ctx.stepMs.emplace_back(name,
                          std::chrono::duration<double, std::milli>(Clock::now() - start).count());
  return result;
}

/// A model with hand-written updates as a training step: its loss (or a
/// constant 0) appended as the last output.
Graph handWrittenTrainingStep(Graph model) {
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

std::vector<std::string> fusionPasses() {
  return {"fuse-attention", "fuse-matmul",        "fuse-pool-relu",
          "fuse-conv",      "fuse-add-layernorm", "fuse-elementwise"};
}

std::vector<std::string> simplifyAndFuse() {
  std::vector<std::string> names = {"simplify"};
  for (std::string &fusion : fusionPasses())
    names.push_back(std::move(fusion));
  names.push_back("simplify");
  return names;
}

std::vector<std::string> inferPipeline() {
  std::vector<std::string> names = {"fold-batchnorm"};
  for (std::string &n : simplifyAndFuse())
    names.push_back(std::move(n));
  return names;
}

std::vector<std::string> trainPipeline() {
  // fuse-attention before autodiff: its gradient rule writes the fused
  // backward (after autodiff, the backward reads the probabilities).
  std::vector<std::string> names = {"training-mode", "fuse-attention", "autodiff"};
  for (std::string &n : simplifyAndFuse())
    names.push_back(std::move(n));
  return names;
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

Result<Graph> optimizedInference(Graph g, PassContext &ctx) {
  g.minimize.reset();
  g.updates.clear();
  if (Status s = runPipeline(g, inferPipeline(), ctx); !s)
    return Result<Graph>(s.takeDiags());
  return g;
}

Result<Graph> optimizedTrainingStep(Graph model, PassContext &ctx) {
  if (!model.minimize) {
    Graph step = handWrittenTrainingStep(std::move(model));
    std::vector<std::string> passes = simplifyAndFuse();
    passes.insert(passes.begin(), "training-mode");
    if (Status s = runPipeline(step, passes, ctx); !s)
      return Result<Graph>(s.takeDiags());
    return step;
  }
  if (Status s = runPipeline(model, trainPipeline(), ctx); !s)
    return Result<Graph>(s.takeDiags());
  return model;
}

PlannedGraph planGraph(Graph optimized, PassContext &ctx, const std::string &which) {
  KernelSchedule schedule =
      timed(ctx, which + " kernel schedule", [&] { return scheduleKernels(optimized); });
  MemoryPlan plan = timed(ctx, which + " memory plan",
                          [&] { return planMemory(optimized, std::move(schedule)); });
  return PlannedGraph{std::move(optimized), std::move(plan)};
}

namespace {

/// Step 4b on one optimized graph (none when `g` is null).
Status applyPrecision(Graph *g, const PlanRequest &request, PassContext &ctx) {
  if (!g || !request.bf16Products)
    return Ok{};
  return runPipeline(*g, {"mixed-precision"}, ctx);
}

} // namespace

Result<PlannedModel> planModel(const Graph &model, PassContext &ctx, const PlanRequest &request) {
  using R = Result<PlannedModel>;
  // 1. verify
  if (Diagnostics problems = timed(ctx, "verify", [&] { return verifyGraph(model); });
      problems.hasErrors())
    return R(std::move(problems));
  // 2-4. the training step (autodiff or the hand-written updates, simplify, fusion)
  std::optional<Graph> train;
  if (request.training && hasTrainingStep(model)) {
    auto step =
        timed(ctx, "training step passes", [&] { return optimizedTrainingStep(model, ctx); });
    if (!step)
      return R(step.takeDiags());
    train = std::move(step).value();
  }
  // 3-4. the inference graph (simplify, fusion)
  Graph inference = model;
  if (request.inferenceOutputs) {
    inference.outputs.clear();
    for (ValueId v : *request.inferenceOutputs)
      inference.outputs.push_back(OutputRef{v, model.loc});
  }
  auto infer =
      timed(ctx, "inference passes", [&] { return optimizedInference(std::move(inference), ctx); });
  if (!infer)
    return R(infer.takeDiags());
  // 4b. precision, last: fusion never has to carry it
  for (Graph *g : {&infer.value(), train ? &*train : nullptr})
    if (Status s = applyPrecision(g, request, ctx); !s)
      return R(s.takeDiags());
  // 5-6. kernel schedules and memory plans
  PlannedModel planned{planGraph(std::move(infer).value(), ctx, "inference"), std::nullopt,
                       std::nullopt};
  if (train)
    planned.train = planGraph(std::move(*train), ctx, "training step");
  if (request.training && request.splitTrainingStep && model.minimize) {
    auto split =
        timed(ctx, "split training step passes", [&] { return splitTrainingStep(model, ctx); });
    if (!split)
      return R(split.takeDiags());
    for (Graph *g : {&split->gradients, &split->apply})
      if (Status s = applyPrecision(g, request, ctx); !s)
        return R(s.takeDiags());
    planned.split = PlannedModel::Split{planGraph(std::move(split->gradients), ctx, "gradients"),
                                        planGraph(std::move(split->apply), ctx, "apply gradients"),
                                        std::move(split->params), std::move(split->gradientInputs)};
  }
  return planned;
}

PlannedModel planOptimized(const Graph &infer, const Graph *train, PassContext &ctx) {
  PlannedModel planned{planGraph(infer, ctx, "inference"), std::nullopt, std::nullopt};
  if (train)
    planned.train = planGraph(*train, ctx, "training step");
  return planned;
}

} // namespace nnc
