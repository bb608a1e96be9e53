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

/// How labels enter the model, and how predictions are scored.
struct Binding {
  ValueId features = kNoValue;
  ValueId labels = kNoValue;
  ValueId logits = kNoValue;     ///< softmax_cross_entropy's logits, for accuracy
  ValueId prediction = kNoValue; ///< a [B, 1] prediction scored at 0.5
  int64_t classes = 0;           ///< labels must lie in [0, classes) when > 0
};

Result<Binding> bindInputs(const Graph &g, const std::string &spec) {
  std::vector<ValueId> inputs = g.valuesOfKind(ValueKind::Input);
  Binding b;
  if (!spec.empty()) {
    for (std::string part :
         {spec.substr(0, spec.find(',')),
          spec.find(',') == std::string::npos ? "" : spec.substr(spec.find(',') + 1)}) {
      if (part.empty())
        continue;
      size_t eq = part.find('=');
      std::string role = part.substr(0, eq),
                  name = eq == std::string::npos ? "" : part.substr(eq + 1);
      ValueId v = g.findValue(name);
      if ((role != "features" && role != "labels") || v == kNoValue ||
          g.value(v).kind != ValueKind::Input)
        return Result<Binding>::fail("--bind takes features=INPUT,labels=INPUT; '{}' is not that",
                                     part);
      (role == "features" ? b.features : b.labels) = v;
    }
  }
  if (b.features == kNoValue && !inputs.empty())
    b.features = inputs[0];
  if (b.labels == kNoValue && inputs.size() > 1)
    b.labels = inputs[inputs[0] == b.features ? 1 : 0];
  if (b.features == kNoValue || b.labels == kNoValue || inputs.size() != 2)
    return Result<Binding>::fail("model '{}' needs exactly two inputs (features and labels) to "
                                 "train on a dataset; it has {}",
                                 g.name, inputs.size());
  for (const Node &n : g.nodes) {
    if (n.op == OpKind::SoftmaxCrossEntropy && n.operands[1] == b.labels) {
      b.logits = n.operands[0];
      b.classes = g.type(b.logits).shape[1].size;
    } else if (n.info().has(kLoss) && n.operands[1] == b.labels &&
               g.type(n.operands[0]).shape.size() == 2 && g.type(n.operands[0]).shape[1].isOne()) {
      b.prediction = n.operands[0];
    }
  }
  const Type &lt = g.type(b.labels);
  if (lt.dtype == DType::F32 && lt.rank() == 2 && !lt.shape[1].isOne())
    b.classes = lt.shape[1].size; // one-hot targets
  return b;
}

/// Converts dataset labels (i32 [B]) to the label input's type: i32 [B],
/// f32 [B] or [B, 1] numbers, or f32 [B, K] one-hot rows.
Tensor labelTensor(const Graph &g, ValueId input, const Tensor &labels) {
  const Type &t = g.type(input);
  int64_t n = labels.dim(0);
  if (t.dtype == DType::I32)
    return labels;
  int64_t k = t.rank() == 2 ? t.shape[1].size : 1;
  std::vector<int64_t> shape = t.rank() == 1 ? std::vector<int64_t>{n} : std::vector<int64_t>{n, k};
  Tensor out(DType::F32, shape);
  for (int64_t i = 0; i < n; ++i) {
    if (k == 1)
      out.f32()[i] = static_cast<float>(labels.i32()[i]);
    else
      out.f32()[i * k + labels.i32()[i]] = 1.0f;
  }
  return out;
}

Status checkLabels(const Dataset &d, const Binding &b) {
  if (b.classes <= 0)
    return Ok{};
  for (int64_t i = 0; i < d.size(); ++i) {
    int32_t label = d.labels.i32()[i];
    if (label < 0 || label >= b.classes)
      return Status::fail("{}: label {} in row {} is outside [0, {}) (the model has {} classes)",
                          d.source, label, i + 1, b.classes, b.classes);
  }
  return Ok{};
}

std::vector<int64_t> exampleShape(const Graph &g, ValueId features) {
  std::vector<int64_t> shape;
  const Shape &s = g.type(features).shape;
  for (size_t i = 1; i < s.size(); ++i)
    shape.push_back(s[i].size);
  return shape;
}

struct Evaluation {
  double loss = 0;
  double accuracy = -1; ///< -1 when the model has no scorable prediction
};

/// The graph evaluation runs: the model with its loss and the scored
/// prediction (logits or a [B, 1] probability) as outputs.
Graph evaluationGraph(const Graph &model, const Binding &b) {
  Graph g = model;
  g.outputs = {OutputRef{model.minimize->loss, model.loc}};
  if (b.logits != kNoValue)
    g.outputs.push_back(OutputRef{b.logits, model.loc});
  else if (b.prediction != kNoValue)
    g.outputs.push_back(OutputRef{b.prediction, model.loc});
  g.minimize.reset();
  return g;
}

/// The two inputs of a batch, in the model's input order.
std::vector<Tensor> batchInputs(const Graph &g, const Binding &b, const Batch &bt) {
  std::vector<Tensor> inputs(2);
  bool featuresFirst = g.valuesOfKind(ValueKind::Input)[0] == b.features;
  inputs[featuresFirst ? 0 : 1] = bt.features;
  inputs[featuresFirst ? 1 : 0] = labelTensor(g, b.labels, bt.labels);
  return inputs;
}

/// Mean loss (and accuracy) over a dataset, through the engine's inference.
Result<Evaluation> evaluate(Engine &engine, const Graph &g, const Dataset &data, const Binding &b,
                            int64_t batch) {
  auto batcher = Batcher::create(data, exampleShape(g, b.features), batch, 0);
  if (!batcher)
    return Result<Evaluation>(batcher.takeDiags());
  batcher->inOrder();
  double lossSum = 0, correct = 0;
  Batch bt;
  for (int64_t i = 0; i < batcher->batchCount(); ++i) {
    batcher->batchInto(i, bt);
    auto outs = engine.infer(batchInputs(g, b, bt));
    if (!outs)
      return Result<Evaluation>(outs.takeDiags());
    int64_t n = bt.labels.dim(0);
    lossSum += (*outs)[0].at(0) * static_cast<double>(n);
    for (int64_t r = 0; r < n && outs->size() > 1; ++r) {
      const Tensor &scored = (*outs)[1];
      int32_t label = bt.labels.i32()[r];
      if (b.logits != kNoValue) {
        int64_t k = scored.dim(1), best = 0;
        for (int64_t c = 1; c < k; ++c)
          if (scored.f32()[r * k + c] > scored.f32()[r * k + best])
            best = c;
        correct += best == label;
      } else {
        correct += (scored.f32()[r] >= 0.5f) == (label != 0);
      }
    }
  }
  Evaluation e;
  e.loss = lossSum / static_cast<double>(data.size());
  if (b.logits != kNoValue || b.prediction != kNoValue)
    e.accuracy = correct / static_cast<double>(data.size());
  return e;
}

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

Result<Datasets> readDatasets(const CommandLine &cl, const Binding &binding) {
  auto train = loadDataset(cl.get("data"), false);
  if (!train)
    return Result<Datasets>(train.takeDiags());
  Datasets d{std::move(train).value(), std::nullopt};
  if (hasTestSplit(cl.get("data")) || cl.has("holdout")) {
    auto test = cl.has("holdout") ? loadDataset(cl.get("holdout"), false)
                                  : loadDataset(cl.get("data"), true);
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
  auto data = readDatasets(cl, run.binding);
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
    int64_t n = bt.labels.dim(0);
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
