/// Training mode: the ops that behave differently while training, as the
/// training step runs them (IR.md section 3). As written, `batchnorm` and
/// `dropout` are inference mode; this rewrite gives the training step
///   batchnorm(x, gamma, beta, rm, rv) -> batchnorm_train(x, gamma, beta), and
///     rm <- batchnorm_running_mean(x, rm), rv <- batchnorm_running_var(x, rv)
///     (when rm and rv are states);
///   dropout(x) -> dropout_train(x, nnc.step), with the state
///     `nnc.step: i32[] = zeros()` and `nnc.step <- nnc.step + 1` (the step
///     counter that keys the masks; saved in checkpoints like any state).
/// The training step pipelines run it first; `nnc run --mode=train` too.
#pragma once

#include "passes/Pass.h"

namespace nnc {

/// Rewrites `g` into training mode; returns whether anything changed.
bool applyTrainingMode(Graph &g);

std::unique_ptr<Pass> createTrainingModePass();

} // namespace nnc
