/// A JIT-compiled model with its own state and workspace: what `nnc run`
/// and `nnc train` use, on Tensors. The workspace grows only when a call
/// needs more than any call before, so steady-state steps allocate nothing.
#pragma once

#include "codegen/Compiler.h"
#include "runtime/Tensor.h"

#include <memory>
#include <string>
#include <vector>

namespace nnc {

class JitSession {
public:
  /// Compiles `infer` (and `train`, the training step, when given) for the
  /// host; params and state take their initializers.
  static Result<std::unique_ptr<JitSession>> create(const PlannedModel &model,
                                                    const CompileOptions &options = {});
  /// The same for graphs that are optimized already (planned first).
  static Result<std::unique_ptr<JitSession>> create(const Graph &infer, const Graph *train,
                                                    const CompileOptions &options = {});
  /// A session of its own (params, state, workspace) around code compiled
  /// already from `infer` and `train`: sessions may share one model.
  static Result<std::unique_ptr<JitSession>> create(std::shared_ptr<JitModel> compiled,
                                                    const Graph &infer, const Graph *train);

  /// Checks inputs (one per input of the inference graph, or of the
  /// training step when `training`, in declaration order) as infer and
  /// trainStep do before they run: dtypes, shapes, dims, size limits.
  Status checkInputs(const std::vector<Tensor> &inputs, bool training) const;

  /// Runs inference: one tensor per input of the inference graph, in
  /// declaration order (an empty one for an input no output depends on);
  /// returns one tensor per `output`.
  Result<std::vector<Tensor>> infer(const std::vector<Tensor> &inputs);
  /// One training step (forward, backward, update); returns the loss.
  Result<float> trainStep(const std::vector<Tensor> &inputs);

  /// The training step cut at the gradients, when the model was planned
  /// with it (PlanRequest::splitTrainingStep): the flat gradient buffer's
  /// bytes (0 without it).
  uint64_t gradientsSize() const;
  /// The forward and backward passes on `inputs` (as trainStep takes them):
  /// the gradients into `gradients` (gradientsSize() bytes), ready(ctx, i)
  /// as soon as the i-th is final; returns the loss. The model's own state
  /// updates (batch norm's running statistics) are applied.
  Result<float> computeGradients(const std::vector<Tensor> &inputs, float *gradients,
                                 ModelFunctions::GradientReady ready = nullptr,
                                 void *readyCtx = nullptr);
  /// The optimizer's update from `gradients`.
  Status applyGradients(const float *gradients);
  /// The state buffer itself (params and state as the layout places them),
  /// for copying it whole between processes.
  void *stateData() { return state_.get(); }
  uint64_t stateBytes() const { return model_->functions().stateSize(); }

  /// A param or state, by name (a copy).
  Tensor read(const std::string &name) const;
  /// Overwrites a param or state; its dtype and shape must match.
  Status write(const std::string &name, const Tensor &t);
  /// Names of every param and state, in state order.
  std::vector<std::string> stateNames() const;

  const JitModel &model() const { return *model_; }
  /// Threads the compiled code runs on (0: one per core; JitModel::setThreads).
  void setThreads(int threads) { model_->setThreads(threads); }

private:
  JitSession() = default;
  /// Checks inputs against `g`'s declarations and binds the dims.
  Result<std::vector<int64_t>> bindDims(const Graph &g, const std::vector<Tensor> &inputs) const;
  void *workspaceFor(const std::vector<int64_t> &dims);
  /// A call of the training step's code (train_step, compute_gradients):
  /// binds `inputs` to its dims, runs call(workspace, dims, inputs, &loss),
  /// and turns a non-zero status into the located error (`what` names it).
  template <typename Call>
  Result<float> runTraining(const std::vector<Tensor> &inputs, const char *what, Call call);
  /// The error a non-zero status of `g`'s compiled code stands for, located
  /// at the op and worded as the interpreter words it where it can be found.
  Status statusError(const Graph &g, int status, const char *what,
                     const std::vector<Tensor> &inputs, const std::vector<int64_t> &dims) const;

  Graph infer_;
  std::unique_ptr<Graph> train_;
  std::shared_ptr<JitModel> model_;
  std::shared_ptr<void> state_;
  std::shared_ptr<void> workspace_;
  uint64_t workspaceBytes_ = 0;
};

} // namespace nnc
