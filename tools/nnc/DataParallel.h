/// `nnc train` under mpirun (DESIGN.md, "Data parallelism"): every process
/// runs the same model on its share of each global batch; the gradients are
/// summed across processes, bucket by bucket while the backward pass goes
/// on, before each process applies the same update, so that every process
/// holds the same params after every step.
#pragma once

#include "ir/Graph.h"
#include "ir/Result.h"
#include "runtime/Tensor.h"
#include "runtime/distributed/Communicator.h"
#include "runtime/distributed/GradientReducer.h"
#include "tools/nnc/Engine.h"

#include <memory>
#include <string>
#include <vector>

namespace nnc::cli {

class DataParallel {
public:
  /// For a JIT engine whose model was planned with its training step cut at
  /// the gradients (PlanRequest::splitTrainingStep).
  static Result<std::unique_ptr<DataParallel>>
  create(Communicator &comm, Engine &engine, const PlannedModel &planned, uint64_t bucketBytes);

  /// Every process must train the same model: its printed form's hash
  /// against rank 0's, before the first step.
  static Status checkSameModel(Communicator &comm, const Graph &model);
  /// And with the same settings (`settings`: the options that decide the
  /// batches and the update, printed), against rank 0's.
  static Status checkSameSettings(Communicator &comm, const std::string &settings);

  /// Rank 0's params and state (initialized, or from --params) to all.
  void broadcastState();

  /// Whether every process holds the same bits in its params and state
  /// (a hash of the state buffer against rank 0's); the first rank that
  /// differs is named in the error.
  Status checkSameState();

  /// One step on this process's rows of the global batch `inputs` (the
  /// first dim of each is the batch): rows [r n / N, (r + 1) n / N). The
  /// gradients are weighted by each process's share of the rows, so the
  /// sum is the global batch's gradient; batch norm's running statistics
  /// are averaged. Returns the global batch's loss.
  Result<float> step(const std::vector<Tensor> &inputs);

  size_t buckets() const { return reducer_.buckets(); }
  /// Seconds spent in the gradients' all-reduces (background thread) and
  /// waiting for them after the backward pass (main thread).
  double reduceSeconds() const { return reducer_.reduceSeconds(); }
  double waitSeconds() const { return reducer_.waitSeconds(); }

private:
  DataParallel(Communicator &comm, JitSession &session,
               std::vector<std::pair<uint64_t, uint64_t>> params, uint64_t bucketBytes,
               uint64_t gradientBytes, std::vector<std::string> averaged);
  void averageStates();

  Communicator &comm_;
  JitSession &session_;
  std::vector<float> gradients_;
  GradientReducer reducer_;
  std::vector<std::string> averaged_; ///< f32 states the forward pass updates
  /// i32 scalar states the forward pass counts steps with (dropout's
  /// nnc.step): each rank counts on its own track during its step, so that
  /// no two ranks draw the same dropout masks.
  std::vector<std::string> counters_;
};

} // namespace nnc::cli
