/// The training step cut at the gradients (passes/SplitTrainingStep.h).
#include "passes/SplitTrainingStep.h"

#include "ir/GraphBuilder.h"
#include "passes/Pipeline.h"
#include "passes/autodiff/Autodiff.h"

#include <algorithm>

namespace nnc {

namespace {

/// `step` without the optimizer: the gradients and the loss are its
/// outputs, the model's own updates its only updates.
Graph gradientsHalf(Graph step, const std::vector<ValueId> &gradients, size_t modelUpdates) {
  OutputRef loss = step.outputs.back();
  step.outputs.clear();
  for (ValueId g : gradients)
    step.outputs.push_back(OutputRef{g, step.value(g).loc});
  step.outputs.push_back(loss);
  step.updates.resize(modelUpdates);
  return step;
}

/// `step` from the gradients on: each gradient replaced by an input of its
/// own, the optimizer's updates the only updates, no outputs.
Graph applyHalf(Graph step, const std::vector<ValueId> &params,
                const std::vector<ValueId> &gradients, size_t modelUpdates,
                std::vector<std::string> &inputNames) {
  for (ValueId g : gradients)
    step.value(g).name.clear(); // `grad.NAME` goes to the input
  GraphBuilder names(step);
  std::vector<ValueId> inputs;
  for (size_t i = 0; i < gradients.size(); ++i) {
    ValueId g = gradients[i];
    Value input;
    input.name = names.freshName("grad." + step.value(params[i]).name);
    input.kind = ValueKind::Input;
    input.type = step.type(g);
    input.loc = step.value(g).loc;
    inputNames.push_back(input.name);
    step.values.push_back(std::move(input));
    inputs.push_back(static_cast<ValueId>(step.values.size() - 1));
  }
  for (Node &n : step.nodes)
    for (ValueId &operand : n.operands)
      if (auto at = std::find(gradients.begin(), gradients.end(), operand); at != gradients.end())
        operand = inputs[static_cast<size_t>(at - gradients.begin())];
  for (Update &u : step.updates)
    if (auto at = std::find(gradients.begin(), gradients.end(), u.value); at != gradients.end())
      u.value = inputs[static_cast<size_t>(at - gradients.begin())];
  step.updates.erase(step.updates.begin(),
                     step.updates.begin() + static_cast<std::ptrdiff_t>(modelUpdates));
  step.outputs.clear();
  return step;
}

} // namespace

Result<SplitTrainingStep> splitTrainingStep(Graph model, PassContext &ctx) {
  using R = Result<SplitTrainingStep>;
  if (!model.minimize)
    return R::failAt(model.loc,
                     "model '{}' has no 'minimize': only a minimized loss has gradients to split "
                     "the training step at",
                     model.name);
  // fuse-attention before autodiff, as trainPipeline() runs it.
  if (Status s = runPipeline(model, {"training-mode", "fuse-attention"}, ctx); !s)
    return R(s.takeDiags());
  size_t modelUpdates = model.updates.size();
  Result<ParamGradients> grads = differentiate(model, ctx);
  if (!grads)
    return R(grads.takeDiags());
  if (Status s = appendOptimizer(model, *grads); !s)
    return R(s.takeDiags());

  SplitTrainingStep split;
  std::vector<ValueId> params, gradients;
  for (ValueId p : model.valuesOfKind(ValueKind::Param))
    if (auto it = grads->find(p); it != grads->end()) {
      split.params.push_back(model.value(p).name);
      params.push_back(p);
      gradients.push_back(it->second);
    }
  split.gradients = gradientsHalf(model, gradients, modelUpdates);
  split.apply = applyHalf(std::move(model), params, gradients, modelUpdates, split.gradientInputs);
  // Each half simplified (its dce drops what the half does not need) and
  // fused on its own.
  for (Graph *half : {&split.gradients, &split.apply})
    if (Status s = runPipeline(*half, simplifyAndFuse(), ctx); !s)
      return R(s.takeDiags());
  return split;
}

} // namespace nnc
