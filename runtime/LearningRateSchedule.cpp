/// Learning-rate schedules (runtime/LearningRateSchedule.h).
#include "runtime/LearningRateSchedule.h"

#include <cmath>
#include <numbers>

namespace nnc {

std::optional<LearningRateSchedule> parseLearningRateSchedule(std::string_view name) {
  if (name == "constant")
    return LearningRateSchedule::Constant;
  if (name == "cosine")
    return LearningRateSchedule::Cosine;
  if (name == "linear")
    return LearningRateSchedule::Linear;
  return std::nullopt;
}

double scheduledLearningRate(LearningRateSchedule schedule, double base, int64_t step,
                             int64_t steps) {
  double progress = steps > 0 ? static_cast<double>(step) / static_cast<double>(steps) : 0.0;
  switch (schedule) {
  case LearningRateSchedule::Constant:
    return base;
  case LearningRateSchedule::Cosine:
    return base * (1 + std::cos(std::numbers::pi * progress)) / 2;
  case LearningRateSchedule::Linear:
    return base * (1 - progress);
  }
  return base;
}

} // namespace nnc
