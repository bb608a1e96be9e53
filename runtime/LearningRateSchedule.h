/// Learning-rate schedules for training loops: the rate of step t (counted
/// from 0) of a run of T steps. A model's optimizer reads its rate from a
/// state (passes/autodiff/Autodiff.h, learningRateName), which the loop
/// writes before each step.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace nnc {

enum class LearningRateSchedule {
  Constant, ///< the optimizer's lr throughout
  Cosine,   ///< lr (1 + cos(pi t / T)) / 2: PyTorch's CosineAnnealingLR(T_max=T), stepped per batch
  Linear,   ///< lr (1 - t / T): PyTorch's LinearLR(1, 0, total_iters=T), stepped per batch
};

/// "constant", "cosine" or "linear"; nullopt for anything else.
std::optional<LearningRateSchedule> parseLearningRateSchedule(std::string_view name);

/// The rate of step `step` (0 <= step < steps) under `schedule`, starting from `base`.
double scheduledLearningRate(LearningRateSchedule schedule, double base, int64_t step,
                             int64_t steps);

} // namespace nnc
