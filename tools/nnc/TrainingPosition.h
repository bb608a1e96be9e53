/// Where a training run stands (epochs and steps done) and the settings that
/// decide its next steps (batch, shuffling seed, learning-rate schedule). A
/// checkpoint records them in its metadata, so `nnc train --resume` goes on
/// exactly where the run stopped: 1 + 1 epochs give the bits of 2.
#pragma once

#include "ir/Result.h"
#include "runtime/io/Checkpoint.h"
#include "runtime/LearningRateSchedule.h"
#include "tools/nnc/CommandLine.h"

#include <cstdint>
#include <string>

namespace nnc::cli {

struct TrainingPosition {
  int64_t totalEpochs = 1; ///< --epochs: the run's total, resumed or not
  int64_t epochs = 0;      ///< epochs done
  int64_t steps = 0;       ///< steps done, over all epochs
  int64_t batch = 64;
  uint64_t seed = 0;
  LearningRateSchedule schedule = LearningRateSchedule::Constant;
  double baseRate = 0; ///< the schedule's starting rate (the optimizer's lr, or --lr)
  int64_t ranks = 1;   ///< processes under mpirun (a global batch of ranks x batch)
};

/// The settings of `nnc train` from its options (--epochs, --batch, --seed,
/// --lr-schedule); the base rate is filled in from the model.
Result<TrainingPosition> readTrainingSettings(const CommandLine &cl);

/// Checkpoint metadata that records `p` (keys `nnc.train.*`).
CheckpointMetadata positionMetadata(const TrainingPosition &p);

/// The position recorded in a checkpoint's metadata, with the total epochs
/// of `requested`. Options the user gave that contradict the checkpoint
/// (another batch, seed, schedule or rate) are errors: the resumed run would
/// not continue the same run.
Result<TrainingPosition> resumePosition(const CheckpointMetadata &metadata, const std::string &path,
                                        const TrainingPosition &requested, const CommandLine &cl);

} // namespace nnc::cli
