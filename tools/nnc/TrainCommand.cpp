/// `nnc train M.ir --data D ...`: trains a model with its optimizer on a
/// dataset (IR.md section 4), reporting per epoch on stderr and, with
/// --log, as JSON lines; --save writes a checkpoint after every epoch.
#include "ir/Parser.h"
#include "ir/Verifier.h"
#include "passes/Pass.h"
#include "passes/Pipelines.h"
#include "passes/autodiff/Autodiff.h"
#include "runtime/Checkpoint.h"
#include "runtime/Dataset.h"
#include "runtime/Interpreter.h"
#include "runtime/LearningRateSchedule.h"
#include "tools/nnc/CommandLine.h"
#include "tools/nnc/Commands.h"
#include "tools/nnc/DataBinding.h"
#include "tools/nnc/Engine.h"
#include "tools/nnc/Progress.h"

#include <cerrno>
#include <cstdio>
#include <chrono>
#include <cstring>
#include <cmath>

namespace nnc::cli {

namespace {

const std::vector<OptionSpec> kTrainOptions = {
    {"data", true},        {"epochs", true},
    {"batch", true},       {"lr", true},
    {"save", true},        {"params", true},
    {"log", true},         {"threads", true},
    {"seed", true},        {"bind", true},
    {"holdout", true},     {"engine", true},
    {"no-cache", false},   {"check-numerics", false},
    {"lr-schedule", true},
};

/// --check-numerics: the first node of the last training step, in node
/// order, whose f32 result holds a NaN or an infinity, as an error at the
/// node's source line (`step 12: sigmoid produced NaN`); Ok when all are
/// finite.
Status checkNumerics(const Interpreter &interp, int64_t step) {
  const Graph &g = interp.graph();
  for (const Node &n : g.nodes) {
    const Tensor &t = interp.value(n.result);
    if (t.empty() || t.dtype() != DType::F32)
      continue;
    const float *p = t.f32();
    for (int64_t i = 0; i < t.numel(); ++i) {
      if (std::isfinite(p[i]))
        continue;
      const std::string &name = g.value(n.result).name;
      Diagnostics d;
      d.error(n.loc, "step {}: {} produced {}{}", step, n.info().name,
              std::isnan(p[i]) ? "NaN" : (p[i] > 0 ? "+Inf" : "-Inf"),
              name.empty() ? std::string() : fmt::format(" (in '{}')", name));
      return Status(std::move(d));
    }
  }
  return Ok{};
}

struct Settings {
  int64_t epochs = 1, batch = 64;
  uint64_t seed = 0;
  LearningRateSchedule schedule = LearningRateSchedule::Constant;
};

Result<Settings> readSettings(const CommandLine &cl) {
  Settings s;
  if (cl.has("epochs")) {
    auto v = parsePositiveInt("epochs", cl.get("epochs"));
    if (!v)
      return Result<Settings>(v.takeDiags());
    s.epochs = *v;
  }
  if (cl.has("batch")) {
    auto v = parsePositiveInt("batch", cl.get("batch"));
    if (!v)
      return Result<Settings>(v.takeDiags());
    s.batch = *v;
  }
  if (cl.has("seed")) {
    auto v = parseNumber("seed", cl.get("seed"));
    if (!v || *v < 0 || *v != std::floor(*v))
      return Result<Settings>::fail("--seed needs a non-negative integer, got '{}'",
                                    cl.get("seed"));
    s.seed = static_cast<uint64_t>(*v);
  }
  if (cl.has("lr-schedule")) {
    auto schedule = parseLearningRateSchedule(cl.get("lr-schedule"));
    if (!schedule)
      return Result<Settings>::fail("--lr-schedule takes constant, cosine or linear, got '{}'",
                                    cl.get("lr-schedule"));
    s.schedule = *schedule;
  }
  return s;
}

/// Reads, verifies and prepares the model of `nnc train` (with --lr).
Result<Graph> readTrainableModel(const CommandLine &cl) {
  Result<Graph> model = loadModelFile(cl.positional[0]);
  if (!model)
    return model;
  if (Diagnostics problems = verifyGraph(*model); problems.hasErrors())
    return Result<Graph>(std::move(problems));
  if (!model->minimize)
    return Result<Graph>::fail("model '{}' has no 'minimize' statement: nothing to train",
                               model->name);
  if (cl.has("lr")) {
    auto lr = parseNumber("lr", cl.get("lr"));
    if (!lr)
      return Result<Graph>(lr.takeDiags());
    model->minimize->args[0] = AttrValue::num(*lr);
  }
  return model;
}

/// The training data and, when the data has a test split or --holdout
/// names one, the held-out data; labels checked against the binding.
struct Datasets {
  Dataset train;
  std::optional<Dataset> heldOut;
};

Result<Datasets> readDatasets(const CommandLine &cl, const Graph &model, Binding &binding) {
  LabelSpec labels = labelSpecOf(model, binding);
  auto train = loadDataset(cl.get("data"), false, labels);
  if (!train)
    return Result<Datasets>(train.takeDiags());
  Datasets d{std::move(train).value(), std::nullopt};
  if (hasTestSplit(cl.get("data")) || cl.has("holdout")) {
    auto test = cl.has("holdout") ? loadDataset(cl.get("holdout"), false, labels)
                                  : loadDataset(cl.get("data"), true, labels);
    if (!test)
      return Result<Datasets>(test.takeDiags());
    d.heldOut = std::move(test).value();
  }
  for (const Dataset *data : {&d.train, d.heldOut ? &*d.heldOut : nullptr})
    if (data)
      if (Status s = checkLabels(*data, binding); !s)
        return Result<Datasets>(s.takeDiags());
  return d;
}

/// One `nnc train` run once its model, data and engine are set up. The
/// engine refers to `step` and `optimizedEval`, so a run is neither copied
/// nor moved.
struct TrainingRun {
  TrainingRun(const CommandLine &cl, const Settings &settings) : cl(cl), settings(settings) {}
  TrainingRun(const TrainingRun &) = delete;
  TrainingRun &operator=(const TrainingRun &) = delete;

  const CommandLine &cl;
  Settings settings;
  Graph model; ///< as written, with --lr
  Binding binding;
  Graph step;          ///< the training step
  Graph eval;          ///< `model`'s evaluation graph (the binding's value ids)
  Graph optimizedEval; ///< what the engine runs for `eval`
  Datasets data;
  std::unique_ptr<Engine> engine;
  ValueId rateState = kNoValue; ///< the optimizer's learning-rate state
  bool checkingNumerics = false;
  int64_t stepNumber = 0; ///< steps taken, over all epochs
  double rate = 0;        ///< the learning rate of the last step
  Batch batch;            ///< refilled in place step after step
};

/// The interpreter with --check-numerics, else --engine (JIT by default).
Status startEngine(TrainingRun &run, int threads) {
  const CommandLine &cl = run.cl;
  auto engine = createEngine(run.checkingNumerics ? "interp" : cl.get("engine", kDefaultEngine),
                             run.optimizedEval, &run.step, !cl.has("no-cache"), threads);
  if (!engine)
    return Status(engine.takeDiags());
  run.engine = std::move(engine).value();
  if (cl.has("params"))
    if (Status s = loadCheckpoint(run.engine->stateGraph(), run.engine->state(), cl.get("params"));
        !s)
      return s;
  // The optimizer reads its rate from a state: set before every step (also
  // after --params, whose checkpoint holds the rate it ended with).
  run.rateState = run.engine->stateGraph().findValue(learningRateName(run.model));
  if (run.rateState == kNoValue)
    return Status::fail("internal error: the training step of '{}' has no learning-rate state "
                        "'{}'",
                        run.model.name, learningRateName(run.model));
  return Ok{};
}

/// Sets up everything but the data's batches: model, binding, training
/// step, evaluation graph, data, engine.
Status prepareRun(TrainingRun &run, int threads) {
  const CommandLine &cl = run.cl;
  auto model = readTrainableModel(cl);
  if (!model)
    return Status(model.takeDiags());
  run.model = std::move(model).value();
  auto binding = bindInputs(run.model, cl.get("bind"));
  if (!binding)
    return Status(binding.takeDiags());
  run.binding = *binding;
  run.step = run.model;
  PassContext ctx;
  if (Status s = runPipeline(run.step, trainPipeline(), ctx); !s)
    return s;
  report(ctx.diags);
  auto data = readDatasets(cl, run.model, run.binding);
  if (!data)
    return Status(data.takeDiags());
  run.data = std::move(data).value();
  // --check-numerics inspects every node's value after each step, which
  // only the interpreter keeps.
  run.checkingNumerics = cl.has("check-numerics");
  if (run.checkingNumerics && cl.has("engine") && cl.get("engine") != "interp")
    return Status::fail("--check-numerics runs the reference interpreter; it cannot be used with "
                        "--engine={}",
                        cl.get("engine"));
  // `eval` keeps the model's value ids (the binding refers to them); the
  // engine runs its optimized twin, whose outputs are the same.
  run.eval = evaluationGraph(run.model, run.binding);
  auto optimizedEval = optimizedInference(run.eval, ctx);
  if (!optimizedEval)
    return Status(optimizedEval.takeDiags());
  run.optimizedEval = std::move(optimizedEval).value();
  return startEngine(run, threads);
}

/// The training loss of one epoch, averaged over its examples.
struct EpochResult {
  double trainLoss = 0;
  bool stoppedOnNumerics = false; ///< --check-numerics found a NaN or an infinity
};

/// One pass over the shuffled training data, a step per batch, with the
/// learning rate of the schedule written before each step.
Result<EpochResult> trainEpoch(TrainingRun &run, Batcher &batcher, int64_t epoch) {
  const int64_t totalSteps = run.settings.epochs * batcher.batchCount();
  const double baseRate = run.model.minimize->args[0].number;
  batcher.shuffle(static_cast<uint64_t>(epoch));
  Progress progress(fmt::format("epoch {}/{}", epoch + 1, run.settings.epochs),
                    batcher.batchCount());
  double lossSum = 0;
  int64_t seen = 0;
  Batch &bt = run.batch;
  for (int64_t i = 0; i < batcher.batchCount(); ++i) {
    batcher.batchInto(i, bt);
    if (run.stepNumber == 0 || run.settings.schedule != LearningRateSchedule::Constant) {
      run.rate = scheduledLearningRate(run.settings.schedule, baseRate, run.stepNumber, totalSteps);
      run.engine->state().write(run.rateState, Tensor::scalar(static_cast<float>(run.rate)));
    }
    auto loss = run.engine->trainStep(batchInputs(run.model, run.binding, bt));
    if (!loss)
      return Result<EpochResult>(loss.takeDiags());
    ++run.stepNumber;
    if (run.checkingNumerics)
      if (Status s = checkNumerics(*run.engine->trainingInterpreter(), run.stepNumber); !s) {
        progress.finish();
        report(s.diags());
        return EpochResult{0, true};
      }
    int64_t n = bt.features.dim(0);
    lossSum += static_cast<double>(*loss) * static_cast<double>(n);
    seen += n;
    progress.update(i + 1, seen, lossSum / static_cast<double>(seen));
  }
  progress.finish();
  return EpochResult{lossSum / static_cast<double>(seen), false};
}

/// Reports an epoch: a line on stderr and, with --log, a JSON line (the
/// held-out data's loss and accuracy when there is some).
Status reportEpoch(TrainingRun &run, int64_t epoch, double trainLoss, double seconds,
                   std::FILE *log) {
  std::string line =
      fmt::format("{{\"epoch\": {}, \"train_loss\": {:.6f}, \"seconds\": {:.3f}, \"lr\": {:.6g}",
                  epoch + 1, trainLoss, seconds, run.rate);
  std::string human = fmt::format("epoch {}: train_loss {:.4f}", epoch + 1, trainLoss);
  if (run.data.heldOut) {
    auto scores =
        evaluate(*run.engine, run.eval, *run.data.heldOut, run.binding, run.settings.batch);
    if (!scores)
      return Status(scores.takeDiags());
    line += fmt::format(", \"test_loss\": {:.6f}", scores->loss);
    human += fmt::format("  test_loss {:.4f}", scores->loss);
    if (scores->accuracy >= 0) {
      line += fmt::format(", \"test_accuracy\": {:.4f}", scores->accuracy);
      human += fmt::format("  test_accuracy {:.4f}", scores->accuracy);
    }
  }
  std::fprintf(stderr, "%s  (%.1f s)\n", human.c_str(), seconds);
  if (log) {
    std::fprintf(log, "%s}\n", line.c_str());
    std::fflush(log);
  }
  return Ok{};
}

} // namespace

int trainCommand(const Args &args) {
  auto cl = CommandLine::parse(args, kTrainOptions);
  if (!cl)
    return report(cl.diags());
  if (cl->positional.size() != 1 || !cl->has("data"))
    return fail("usage: nnc train M.ir --data D [--epochs N] [--batch N] [--lr X] [--save P] "
                "[--params P] [--log F] [--threads N] [--seed S] [--bind features=X,labels=Y] "
                "[--holdout D] [--lr-schedule constant|cosine|linear] [--check-numerics]");
  auto settings = readSettings(*cl);
  if (!settings)
    return report(settings.diags());
  auto threads = parseThreads(*cl);
  if (!threads)
    return report(threads.diags());
  TrainingRun run(*cl, *settings);
  if (Status s = prepareRun(run, *threads); !s)
    return report(s.diags());
  auto batcher = Batcher::create(run.data.train, exampleShape(run.model, run.binding.features),
                                 run.settings.batch, run.settings.seed);
  if (!batcher)
    return report(batcher.diags());
  // The log gets one JSON line per epoch as it ends.
  std::unique_ptr<std::FILE, int (*)(std::FILE *)> log(nullptr, std::fclose);
  if (cl->has("log")) {
    log.reset(std::fopen(cl->get("log").c_str(), "w"));
    if (!log)
      return fail(fmt::format("{}: cannot write: {}", cl->get("log"), std::strerror(errno)));
  }
  for (int64_t epoch = 0; epoch < run.settings.epochs; ++epoch) {
    auto start = std::chrono::steady_clock::now();
    auto result = trainEpoch(run, *batcher, epoch);
    if (!result)
      return report(result.diags());
    if (result->stoppedOnNumerics) {
      std::fprintf(stderr, "nnc: stopped at the first non-finite value; nothing was saved%s\n",
                   cl->has("save") ? " (the last checkpoint is unchanged)" : "");
      return 1;
    }
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (Status s = reportEpoch(run, epoch, result->trainLoss, seconds, log.get()); !s)
      return report(s.diags());
    if (cl->has("save"))
      if (Status s = saveCheckpoint(run.engine->stateGraph(), run.engine->state(), cl->get("save"));
          !s)
        return report(s.diags());
  }
  return 0;
}

} // namespace nnc::cli
