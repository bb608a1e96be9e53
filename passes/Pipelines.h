/// The default pipelines (IR.md section 4), in one place: what `nnc opt`
/// (and run, train, compile) apply when no `--passes` is given.
#pragma once

#include "ir/Graph.h"
#include "ir/Result.h"
#include "passes/Pass.h"

#include <string>
#include <vector>

namespace nnc {

/// The training step: autodiff, simplify, the fusion passes that are
/// registered, simplify again. For a model with `minimize`.
std::vector<std::string> trainPipeline();

/// The inference graph: simplify, the fusion passes, simplify. The caller
/// drops `minimize` first when only the outputs are wanted.
std::vector<std::string> inferPipeline();

/// The inference graph an engine compiles: `g` without `minimize` and
/// without its `<-` updates (only its outputs are wanted: inference never
/// changes params or state), through inferPipeline().
Result<Graph> optimizedInference(Graph g, PassContext &ctx);

/// Whether a model has a training step: it minimizes a loss, or it writes
/// its updates out by hand (`<-` without `minimize`, as the course states
/// the perceptron rule).
bool hasTrainingStep(const Graph &model);

/// The value a training step reports as its loss: the minimized loss, else
/// (updates written by hand) the model's first f32[] output, else kNoValue.
ValueId reportedLoss(const Graph &model);

/// The training step an engine compiles, whose last output is the loss:
/// with `minimize`, `model` through trainPipeline(); with hand-written
/// updates, the model itself with reportedLoss() (or a constant 0 when it
/// has none) appended as the last output, through inferPipeline()'s passes.
Result<Graph> optimizedTrainingStep(Graph model, PassContext &ctx);

/// The registered fusion passes (names beginning with "fuse" or "fusion"), in registry
/// order; empty when there are none.
std::vector<std::string> fusionPasses();

} // namespace nnc
