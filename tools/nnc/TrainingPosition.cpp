/// Training positions in checkpoint metadata.
#include "tools/nnc/TrainingPosition.h"

#include <charconv>
#include <cmath>
#include <cstdio>

namespace nnc::cli {

namespace {

const char *scheduleName(LearningRateSchedule s) {
  switch (s) {
  case LearningRateSchedule::Constant:
    return "constant";
  case LearningRateSchedule::Cosine:
    return "cosine";
  case LearningRateSchedule::Linear:
    return "linear";
  }
  return "constant";
}

template <typename T> bool parseWhole(const std::string &text, T &out) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && end == text.data() + text.size();
}

/// A value of the metadata, parsed; false when missing or malformed.
template <typename T> bool field(const CheckpointMetadata &m, const std::string &key, T &out) {
  auto it = m.find("nnc.train." + key);
  return it != m.end() && parseWhole(it->second, out);
}

} // namespace

Result<TrainingPosition> readTrainingSettings(const CommandLine &cl) {
  using R = Result<TrainingPosition>;
  TrainingPosition s;
  for (auto [option, slot] : {std::pair{"epochs", &s.totalEpochs}, std::pair{"batch", &s.batch}})
    if (cl.has(option)) {
      auto v = parsePositiveInt(option, cl.get(option));
      if (!v)
        return R(v.takeDiags());
      *slot = *v;
    }
  for (const char *option : {"save-every", "log-every", "bucket-kb"})
    if (cl.has(option))
      if (auto v = parsePositiveInt(option, cl.get(option)); !v)
        return R(v.takeDiags());
  if (cl.has("seed")) {
    if (!parseWhole(cl.get("seed"), s.seed))
      return R::fail("--seed needs a non-negative integer, got '{}'", cl.get("seed"));
  }
  if (cl.has("lr-schedule")) {
    auto schedule = parseLearningRateSchedule(cl.get("lr-schedule"));
    if (!schedule)
      return R::fail("--lr-schedule takes constant, cosine or linear, got '{}'",
                     cl.get("lr-schedule"));
    s.schedule = *schedule;
  }
  if (cl.has("resume") && cl.has("params"))
    return R::fail("--resume and --params both name a starting point: give one");
  return s;
}

CheckpointMetadata positionMetadata(const TrainingPosition &p) {
  return {{"nnc.train.epochs", std::to_string(p.epochs)},
          {"nnc.train.steps", std::to_string(p.steps)},
          {"nnc.train.total_epochs", std::to_string(p.totalEpochs)},
          {"nnc.train.batch", std::to_string(p.batch)},
          {"nnc.train.seed", std::to_string(p.seed)},
          {"nnc.train.lr_schedule", scheduleName(p.schedule)},
          {"nnc.train.base_lr", fmt::format("{:.17g}", p.baseRate)},
          {"nnc.train.ranks", std::to_string(p.ranks)}};
}

Result<TrainingPosition> resumePosition(const CheckpointMetadata &metadata, const std::string &path,
                                        const TrainingPosition &requested, const CommandLine &cl) {
  using R = Result<TrainingPosition>;
  TrainingPosition p;
  std::string schedule;
  auto it = metadata.find("nnc.train.lr_schedule");
  if (!field(metadata, "epochs", p.epochs) || !field(metadata, "steps", p.steps) ||
      !field(metadata, "batch", p.batch) || !field(metadata, "seed", p.seed) ||
      !field(metadata, "base_lr", p.baseRate) || it == metadata.end() ||
      !parseLearningRateSchedule(it->second))
    return R::fail("{}: cannot resume: the checkpoint does not say where its training stopped "
                   "(written by an older nnc, or not by nnc train --save); start from it with "
                   "--params instead",
                   path);
  if (p.epochs < 0 || p.steps < 0 || p.batch <= 0 || !std::isfinite(p.baseRate) || p.baseRate < 0)
    return R::fail("{}: cannot resume: its training position is damaged (epochs {}, steps {}, "
                   "batch {}, rate {})",
                   path, p.epochs, p.steps, p.batch, p.baseRate);
  p.schedule = *parseLearningRateSchedule(it->second);
  p.totalEpochs = requested.totalEpochs;
  if (!field(metadata, "ranks", p.ranks)) // written before data parallelism: one process
    p.ranks = 1;
  if (p.ranks != requested.ranks)
    return R::fail("{}: cannot resume on {} process{}: the run was trained on {} (a global batch "
                   "of {} x --batch {}); resume it on {}",
                   path, requested.ranks, requested.ranks == 1 ? "" : "es", p.ranks, p.ranks,
                   p.batch, p.ranks);
  auto differs = [&](const char *option, const std::string &recorded) -> Status {
    if (cl.has(option) && cl.get(option) != recorded)
      return Status::fail("{}: cannot resume with --{} {}: the run was trained with --{} {} (leave "
                          "the option out to continue it)",
                          path, option, cl.get(option), option, recorded);
    return Ok{};
  };
  for (Status s : {differs("batch", std::to_string(p.batch)),
                   differs("seed", std::to_string(p.seed)), differs("lr-schedule", it->second)})
    if (!s)
      return R(s.takeDiags());
  if (cl.has("lr") && requested.baseRate != p.baseRate)
    return R::fail("{}: cannot resume with --lr {}: the run was trained with a rate of {:g}", path,
                   cl.get("lr"), p.baseRate);
  int64_t plannedEpochs = 0;
  if (p.schedule != LearningRateSchedule::Constant &&
      field(metadata, "total_epochs", plannedEpochs) && plannedEpochs != p.totalEpochs)
    std::fprintf(stderr,
                 "nnc: warning: %s: the %s schedule was planned over %lld epochs; it goes on over "
                 "%lld (the result differs from an uninterrupted run of either)\n",
                 path.c_str(), it->second.c_str(), static_cast<long long>(plannedEpochs),
                 static_cast<long long>(p.totalEpochs));
  return p;
}

} // namespace nnc::cli
