/// nnc's compile pipeline, the graph half: from a model as written to the
/// graphs, kernel schedules and memory plans that codegen turns into machine
/// code (codegen/Compiler.h takes it from there). One straight line:
///
///   1. verify           the model is well formed (ir/Verifier.h)
///   2. training step    training-mode, autodiff and the optimizer (a model
///                       with `minimize`), or the updates written by hand;
///                       inference folds batchnorm into conv2d instead
///   3. simplify         cse, fold, algebra, dce, to a fixed point
///   4. fusion           fuse-attention, fuse-matmul, fuse-add-layernorm,
///                       fuse-elementwise
///                       (in this order: element-wise chains take what the
///                       others leave), then simplify again
///   4b. precision      mixed-precision, when asked for (PlanRequest::bf16Products)
///   5. kernel schedule  which kernel computes which node
///                       (passes/schedule/KernelSchedule.h)
///   6. memory plan      buffers by liveness (passes/schedule/MemoryPlan.h)
///
/// Every command of `nnc` and the host API go through planModel() or, for
/// a graph they built themselves, planGraph(). Each step is logged through
/// the PassContext: `afterPass` sees the graph after it (--print-after-all)
/// and `steps` records how long it took (--time).
#pragma once

#include "ir/Graph.h"
#include "ir/Result.h"
#include "passes/Pass.h"
#include "passes/schedule/MemoryPlan.h"

#include <optional>
#include <string>
#include <vector>

namespace nnc {

/// The fusion passes, in the order the pipeline runs them.
std::vector<std::string> fusionPasses();

/// Steps 3 and 4 of any graph: simplify, fusion, simplify.
std::vector<std::string> simplifyAndFuse();

/// Steps 3 and 4 of the inference graph: fold-batchnorm (inference mode
/// only), simplify, fusion, simplify.
std::vector<std::string> inferPipeline();

/// Steps 2 to 4 of a training step with `minimize`: training-mode,
/// autodiff, then simplify, fusion, simplify.
std::vector<std::string> trainPipeline();

/// Whether a model has a training step: it minimizes a loss, or it writes
/// its updates out by hand (`<-` without `minimize`, as the course states
/// the perceptron rule).
bool hasTrainingStep(const Graph &model);

/// The value a training step reports as its loss: the minimized loss, else
/// (updates written by hand) the model's first f32[] output, else kNoValue.
ValueId reportedLoss(const Graph &model);

/// Steps 3 and 4 for inference: `g` without `minimize` and without its `<-`
/// updates (only its outputs are wanted: inference never changes params or
/// state), simplified and fused.
Result<Graph> optimizedInference(Graph g, PassContext &ctx);

/// Steps 2 to 4 for the training step, whose last output is the loss: with
/// `minimize`, trainPipeline(); with hand-written updates, the model itself
/// with reportedLoss() (or a constant 0 when it has none) appended as the
/// last output, through inferPipeline().
Result<Graph> optimizedTrainingStep(Graph model, PassContext &ctx);

/// An optimized graph with its kernel schedule and memory plan (the plan
/// keeps the schedule): what codegen lowers.
struct PlannedGraph {
  Graph graph;
  MemoryPlan plan;
};

/// Steps 5 and 6 for a graph that is optimized already; `which` names it in
/// the step log ("inference", "training step").
PlannedGraph planGraph(Graph optimized, PassContext &ctx, const std::string &which = "graph");

/// A model ready for codegen: its inference graph and, when it has one and
/// it is wanted, its training step.
struct PlannedModel {
  PlannedGraph infer;
  std::optional<PlannedGraph> train;
  /// The training step cut at the gradients (passes/SplitTrainingStep.h),
  /// when asked for (PlanRequest::splitTrainingStep).
  struct Split {
    PlannedGraph gradients, apply;
    std::vector<std::string> params, gradientInputs;
  };
  std::optional<Split> split;

  const Graph *trainGraph() const { return train ? &train->graph : nullptr; }
  /// Every graph codegen compiles: inference, the training step, the split halves.
  std::vector<const Graph *> graphs() const {
    std::vector<const Graph *> all = {&infer.graph};
    if (train)
      all.push_back(&train->graph);
    if (split)
      all.insert(all.end(), {&split->gradients.graph, &split->apply.graph});
    return all;
  }
};

/// What planModel() plans.
struct PlanRequest {
  /// The training step too, when the model has one.
  bool training = true;
  /// The values inference returns, when not the model's `output`s (nnc train
  /// scores the loss and the logits; nnc run adds the loss and gradients).
  std::optional<std::vector<ValueId>> inferenceOutputs;
  /// Also the training step cut at the gradients, for data-parallel
  /// training (a model with `minimize` only).
  bool splitTrainingStep = false;
  /// Matmul and convolution operands in bf16 (passes/MixedPrecision.h),
  /// run on every optimized graph.
  bool bf16Products = false;
};

/// Steps 1 to 6 for `model`: the whole graph half, in order.
Result<PlannedModel> planModel(const Graph &model, PassContext &ctx,
                               const PlanRequest &request = {});

/// Steps 5 and 6 for graphs that are optimized already (a host program's or
/// a test's own).
PlannedModel planOptimized(const Graph &infer, const Graph *train, PassContext &ctx);

} // namespace nnc
