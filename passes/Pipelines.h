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

/// The inference graph an engine compiles: `g` without `minimize` (only its
/// outputs are wanted), through inferPipeline().
Result<Graph> optimizedInference(Graph g, PassContext &ctx);

/// The training step an engine compiles: `model` through trainPipeline().
/// Its last output is the loss.
Result<Graph> optimizedTrainingStep(Graph model, PassContext &ctx);

/// The registered fusion passes (names beginning with "fuse" or "fusion"), in registry
/// order; empty when there are none.
std::vector<std::string> fusionPasses();

} // namespace nnc
