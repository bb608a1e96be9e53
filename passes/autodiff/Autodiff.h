/// Reverse-mode automatic differentiation on the graph, and the optimizer
/// update: together they turn a model with `minimize` into its training step.
#pragma once

#include "passes/Pass.h"

#include <map>

namespace nnc {

/// The gradient of the minimized loss for each param that has one.
using ParamGradients = std::map<ValueId, ValueId>;

/// Appends to `g` the gradient of its minimized loss with respect to every
/// param. Gradients of values used several times are summed; gradients
/// nobody needs are not computed. Errors: the loss reaches a param only
/// through an op without a gradient. A param that does not affect the loss
/// gets a warning in `ctx.diags`. Each gradient is named `grad.PARAM`.
Result<ParamGradients> differentiate(Graph &g, PassContext &ctx);

/// Appends the optimizer of `minimize` (sgd or adam, with PyTorch's update
/// rules) as `state` buffers and `<-` updates, drops `minimize`, and makes
/// the loss the last output (engines find it there). Must run after
/// differentiate().
Status appendOptimizer(Graph &g, const ParamGradients &grads);

/// The name of the learning-rate state appendOptimizer() declares for a
/// model with `minimize` (`sgd.lr` or `adam.lr`, unless the model already
/// uses that name): a scalar f32 initialized to the optimizer's `lr`, which
/// training loops write to schedule the rate.
std::string learningRateName(const Graph &model);

/// The `autodiff` pass: differentiate() then appendOptimizer().
std::unique_ptr<Pass> createAutodiffPass();

} // namespace nnc
