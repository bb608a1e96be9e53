/// The training step cut in two at the gradients, for data-parallel training
/// (DESIGN.md, "Data parallelism"): the gradients graph runs the forward and
/// backward passes and outputs every trained param's gradient; the apply
/// graph takes those gradients as inputs and runs the optimizer's update.
/// Between them a program may reduce the gradients across processes. Run
/// one after the other on the same gradients, they compute what the
/// training step computes (passes/Pipeline.h, optimizedTrainingStep).
#pragma once

#include "ir/Graph.h"
#include "ir/Result.h"
#include "passes/Pass.h"

#include <string>
#include <vector>

namespace nnc {

struct SplitTrainingStep {
  /// Outputs: the gradient of each trained param (in `params` order), then
  /// the loss. Updates: the model's own (batch norm's running statistics,
  /// dropout's step counter).
  Graph gradients;
  /// Inputs used: `grad.NAME` of each trained param (in `params` order;
  /// static shapes). Updates: the optimizer's. No outputs.
  Graph apply;
  /// The params the optimizer updates (those the loss depends on), in
  /// declaration order, and the apply graph's input for each one's gradient.
  std::vector<std::string> params;
  std::vector<std::string> gradientInputs;
};

/// Steps 2 to 4 of the pipeline for a model with `minimize`, cut at the
/// gradients: training-mode, fuse-attention, autodiff, then each half
/// simplified and fused on its own.
Result<SplitTrainingStep> splitTrainingStep(Graph model, PassContext &ctx);

} // namespace nnc
