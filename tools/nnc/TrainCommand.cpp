/// `nnc train M.ir --data D ...`: trains a model with its optimizer (or its
/// hand-written updates) on a data set (IR.md section 4), reporting per
/// epoch on stderr and, with --log, as JSON lines; --save writes a
/// checkpoint that --resume continues from. A non-finite loss, a failed
/// write or an interrupt stops the run with a message, and the last good
/// checkpoint stays as it was.
#include "passes/Pass.h"
#include "passes/Pipeline.h"
#include "passes/autodiff/Autodiff.h"
#include "runtime/io/AtomicFile.h"
#include "runtime/io/Checkpoint.h"
#include "runtime/io/Dataset.h"
#include "runtime/Interpreter.h"
#include "runtime/Interrupts.h"
#include "runtime/LearningRateSchedule.h"
#include "tools/nnc/CommandLine.h"
#include "tools/nnc/Commands.h"
#include "tools/nnc/DataBinding.h"
#include "tools/nnc/DataParallel.h"
#include "tools/nnc/Engine.h"
#include "tools/nnc/Progress.h"
#include "tools/nnc/TrainingLog.h"
#include "tools/nnc/TrainingPosition.h"

#include <chrono>
#include <cmath>
#include <cstdio>

namespace nnc::cli {

namespace {

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

/// Reads, verifies and prepares the model of `nnc train` (with --lr).
Result<Graph> readTrainableModel(const CommandLine &cl) {
  Result<Graph> model = loadModelArgument(cl);
  if (!model)
    return model;
  if (!hasTrainingStep(*model))
    return Result<Graph>::fail("model '{}' has no 'minimize' statement and no '<-' updates: "
                               "nothing to train",
                               model->name);
  if (!model->minimize && (cl.has("lr") || cl.has("lr-schedule")))
    return Result<Graph>::fail("model '{}' writes its updates by hand (no 'minimize'): --lr and "
                               "--lr-schedule do not apply",
                               model->name);
  if (cl.has("lr")) {
    auto lr = parseLearningRate(cl.get("lr"));
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

/// One `nnc train` run once its model, data and engine are set up. It holds
/// the command line by reference, so a run is neither copied nor moved.
struct TrainingRun {
  TrainingRun(const CommandLine &cl, const TrainingPosition &settings)
      : cl(cl), settings(settings) {}
  TrainingRun(const TrainingRun &) = delete;
  TrainingRun &operator=(const TrainingRun &) = delete;

  const CommandLine &cl;
  TrainingPosition settings; ///< the run's settings; epochs and steps advance as it trains
  Graph model;               ///< as written, with --lr
  Binding binding;
  Graph eval;           ///< `model`'s evaluation graph (the binding's value ids)
  PlannedModel planned; ///< the training step, and what inference runs for `eval`
  Datasets data;
  std::unique_ptr<Engine> engine;
  bool hasLoss = true;          ///< false for hand-written updates without a scalar output
  ValueId rateState = kNoValue; ///< the optimizer's learning-rate state (none: hand-written)
  bool checkingNumerics = false;
  double rate = 0;          ///< the learning rate of the last step
  bool rateWritten = false; ///< the rate was written for this process's first step
  Batch batch;              ///< refilled in place step after step
  /// The compiled code's threads, which also gather each batch (none on 1).
  std::shared_ptr<ThreadPool> pool;
  std::optional<TrainingLog> log;
  int64_t savedEpochs = -1; ///< epochs in the last checkpoint written (-1: none this run)
  /// Under mpirun: the processes, and this one's part of each step.
  std::unique_ptr<Communicator> comm;
  std::unique_ptr<DataParallel> parallel;
  /// Whether this process reports, logs and saves (rank 0; the only one
  /// without mpirun).
  bool leader() const { return !comm || comm->rank() == 0; }
  /// Examples per step in all processes together.
  int64_t globalBatch() const { return settings.batch * (comm ? comm->size() : 1); }
};

/// --params (a warm start) or --resume (the run goes on where it stopped).
Status loadStartingPoint(TrainingRun &run) {
  const CommandLine &cl = run.cl;
  std::string path = cl.has("resume") ? cl.get("resume") : cl.get("params");
  if (path.empty())
    return Ok{};
  CheckpointMetadata metadata;
  if (Status s = loadParams(*run.engine, path, &metadata); !s)
    return s;
  if (!cl.has("resume"))
    return Ok{};
  auto resumed = resumePosition(metadata, path, run.settings, cl);
  if (!resumed)
    return Status(resumed.takeDiags());
  run.settings = *resumed;
  return Ok{};
}

/// The interpreter with --check-numerics, else --engine (JIT by default);
/// then the starting point and the learning-rate state.
Status startEngine(TrainingRun &run, int threads) {
  const CommandLine &cl = run.cl;
  auto engine = createEngine(run.checkingNumerics ? "interp" : cl.get("engine", kDefaultEngine),
                             run.planned, !cl.has("no-cache"), threads);
  if (!engine)
    return Status(engine.takeDiags());
  run.engine = std::move(engine).value();
  if (int n = threads > 0 ? threads : ThreadPool::defaultThreads(); n > 1)
    run.pool = ThreadPool::shared(n);
  if (Status s = loadStartingPoint(run); !s)
    return s;
  if (!run.model.minimize)
    return Ok{};
  // The optimizer reads its rate from a state: set before every step (also
  // after --params, whose checkpoint holds the rate it ended with).
  run.rateState = run.engine->stateGraph().findValue(learningRateName(run.model));
  if (run.rateState == kNoValue)
    return Status::fail("internal error: the training step of '{}' has no learning-rate state "
                        "'{}'",
                        run.model.name, learningRateName(run.model));
  return Ok{};
}

/// --save and --log must be writable before any work is done.
Status checkOutputs(const CommandLine &cl) {
  if (cl.has("save"))
    if (Status s = checkOutputPath(cl.get("save")); !s)
      return s;
  if (cl.has("log")) // appended to in place
    if (Status s = checkOutputPath(cl.get("log"), OutputKind::InPlace); !s)
      return s;
  return Ok{};
}

/// Sets up everything but the data's batches: model, binding, training
/// step, evaluation graph, data, engine, log.
Status prepareRun(TrainingRun &run, int threads) {
  // Options before data: a wrong --precision is reported before the data is read.
  auto bf16 = bf16ProductsOption(run.cl, "", runsCompiled(run.cl));
  if (!bf16)
    return Status(bf16.takeDiags());
  const CommandLine &cl = run.cl;
  if (Status s = checkOutputs(cl); !s)
    return s;
  auto model = readTrainableModel(cl);
  if (!model)
    return Status(model.takeDiags());
  run.model = std::move(model).value();
  run.hasLoss = reportedLoss(run.model) != kNoValue;
  if (run.model.minimize)
    run.settings.baseRate = run.model.minimize->args[0].number;
  auto binding = bindInputs(run.model, cl.get("bind"));
  if (!binding)
    return Status(binding.takeDiags());
  run.binding = *binding;
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
  // engine's inference is its optimized twin, whose outputs are the same:
  // the loss and the scored prediction.
  run.eval = evaluationGraph(run.model, run.binding);
  if (run.comm && (run.checkingNumerics || cl.get("engine", kDefaultEngine) != "jit"))
    return Status::fail("under mpirun, nnc train runs the JIT: --engine interp and "
                        "--check-numerics run one process");
  if (run.comm && !run.model.minimize)
    return Status::fail("under mpirun, nnc train averages the gradients of a minimized loss; "
                        "model '{}' writes its updates by hand",
                        run.model.name);
  PlanRequest request;
  request.splitTrainingStep = run.comm != nullptr;
  request.bf16Products = *bf16;
  request.inferenceOutputs.emplace();
  for (const OutputRef &o : run.eval.outputs)
    request.inferenceOutputs->push_back(o.value);
  PassContext ctx;
  auto planned = planModel(run.model, ctx, request);
  if (!planned)
    return Status(planned.takeDiags());
  report(ctx.diags);
  run.planned = std::move(planned).value();
  return startEngine(run, threads);
}

/// Reports an error and returns 1. Under mpirun every rank meets the same
/// errors (agree() gives them the failing rank's): rank 0 alone prints.
int reportError(const TrainingRun &run, const Diagnostics &diags) {
  return run.leader() ? report(diags) : 1;
}

/// An error only rank 0 met (writing its log or checkpoint) while the others
/// may already wait in the next step's sums: reported, then every rank ends.
int stopAllRanks(const TrainingRun &run, const Diagnostics &diags) {
  int status = report(diags);
  if (run.comm && run.comm->size() > 1)
    run.comm->abort(status);
  return status;
}

/// The settings every rank must share (they decide the batches and the
/// update), in one line.
std::string sharedSettings(const TrainingRun &run) {
  const TrainingPosition &s = run.settings;
  // (--lr is in the model, which checkSameModel compares.)
  return fmt::format("--batch {} --seed {} --epochs {} (from epoch {}, step {}) --lr-schedule {} "
                     "--bucket-kb {}",
                     s.batch, s.seed, s.totalEpochs, s.epochs, s.steps,
                     static_cast<int>(s.schedule), run.cl.get("bucket-kb", "512"));
}

/// Under mpirun, once every process has prepared its run: stops all of
/// them when one failed (with its message), checks that they train the same
/// model, and gives them rank 0's params and state.
Status startDataParallel(TrainingRun &run, Status prepared) {
  Communicator &comm = *run.comm;
  if (Status s = agree(comm, prepared); !s)
    return s;
  if (Status s = DataParallel::checkSameSettings(comm, sharedSettings(run)); !s)
    return s;
  if (Status s = DataParallel::checkSameModel(comm, run.model); !s)
    return s;
  int64_t bucketKb = run.cl.has("bucket-kb") ? std::stoll(run.cl.get("bucket-kb")) : 512;
  auto parallel = DataParallel::create(
      comm, *run.engine, run.planned, static_cast<uint64_t>(std::max<int64_t>(bucketKb, 1)) * 1024);
  if (Status s = agree(comm, parallel ? Status(Ok{}) : Status(parallel.diags())); !s)
    return s;
  run.parallel = std::move(parallel).value();
  run.parallel->broadcastState();
  if (run.leader())
    std::fprintf(stderr,
                 "nnc: data-parallel on %d ranks: a global batch of %lld (%lld per rank), "
                 "gradients summed in %zu buckets\n",
                 comm.size(), static_cast<long long>(run.globalBatch()),
                 static_cast<long long>(run.settings.batch), run.parallel->buckets());
  return Ok{};
}

/// Opens --log once nothing else can fail: a fresh log, or a resumed run's,
/// without the lines of steps after its checkpoint.
Status openLog(TrainingRun &run) {
  if (!run.cl.has("log") || !run.leader())
    return Ok{};
  auto log = run.cl.has("resume")
                 ? TrainingLog::openForResume(run.cl.get("log"), run.settings.steps)
                 : TrainingLog::open(run.cl.get("log"), false);
  if (!log)
    return Status(log.takeDiags());
  run.log = std::move(log).value();
  return Ok{};
}

/// How an epoch ended.
struct EpochResult {
  double trainLoss = 0;
  int64_t steps = 0;              ///< steps taken in the epoch
  bool stoppedOnNumerics = false; ///< --check-numerics found a NaN or an infinity
  int interruptedBy = 0;          ///< the signal that stopped it, or 0
};

/// Writes the learning rate of the schedule before step `run.settings.steps`:
/// each step under a schedule, and once under a constant rate.
void scheduleRate(TrainingRun &run, int64_t totalSteps, bool &written) {
  const TrainingPosition &s = run.settings;
  if (run.rateState == kNoValue || (written && s.schedule == LearningRateSchedule::Constant))
    return;
  run.rate = scheduledLearningRate(s.schedule, s.baseRate, s.steps, totalSteps);
  run.engine->state().write(run.rateState, Tensor::scalar(static_cast<float>(run.rate)));
  written = true;
}

/// A non-finite loss: where it happened, and what to try.
Status divergence(const TrainingRun &run, int64_t epoch, int64_t stepInEpoch, float loss) {
  return Status::fail(
      "epoch {}, step {} (step {} of the run): the loss is {}: training diverged; "
      "stopped without saving{} (try a smaller --lr, or --check-numerics to find "
      "the op)",
      epoch + 1, stepInEpoch, run.settings.steps, std::isnan(loss) ? "NaN" : "infinite",
      run.cl.has("save") ? fmt::format(" ({} is unchanged)", run.cl.get("save")) : "");
}

/// --log-every N: a JSON line for the step just taken.
Status logStep(TrainingRun &run, int64_t epoch, float loss, double examplesPerSecond) {
  if (!run.log || !run.cl.has("log-every"))
    return Ok{};
  int64_t every = std::stoll(run.cl.get("log-every"));
  if (run.settings.steps % every != 0)
    return Ok{};
  JsonLine line;
  line.add("epoch", epoch + 1).add("step", run.settings.steps);
  if (run.hasLoss)
    line.add("loss", static_cast<double>(loss));
  if (run.rateState != kNoValue)
    line.add("lr", run.rate);
  line.add("examples_per_second", examplesPerSecond, "{:.1f}");
  return run.log->write(line);
}

/// One pass over the shuffled training data, a step per batch, with the
/// learning rate of the schedule written before each step.
Result<EpochResult> trainEpoch(TrainingRun &run, Batcher &batcher, int64_t epoch) {
  using R = Result<EpochResult>;
  const int64_t totalSteps = run.settings.totalEpochs * batcher.batchCount();
  batcher.shuffle(static_cast<uint64_t>(epoch));
  Progress progress(fmt::format("epoch {}/{}", epoch + 1, run.settings.totalEpochs),
                    batcher.batchCount(), run.hasLoss, !run.leader());
  auto start = std::chrono::steady_clock::now();
  double lossSum = 0;
  int64_t seen = 0;
  EpochResult result;
  Batch &bt = run.batch;
  for (int64_t i = 0; i < batcher.batchCount(); ++i) {
    // Under mpirun a signal to any rank stops them all at the same step.
    int requested = StopRequests::requested();
    if (run.comm)
      requested = static_cast<int>(run.comm->allreduceMax(requested));
    if (int signal = requested) {
      progress.finish();
      result.interruptedBy = signal;
      return result;
    }
    batcher.batchInto(i, bt, run.pool.get());
    scheduleRate(run, totalSteps, run.rateWritten);
    std::vector<Tensor> inputs = batchInputs(run.model, run.binding, bt);
    auto loss = run.parallel ? run.parallel->step(inputs) : run.engine->trainStep(inputs);
    if (!loss)
      return R(loss.takeDiags());
    ++run.settings.steps;
    ++result.steps;
    if (run.checkingNumerics)
      if (Status s = checkNumerics(*run.engine->trainingInterpreter(), run.settings.steps); !s) {
        progress.finish();
        report(s.diags());
        result.stoppedOnNumerics = true;
        return result;
      }
    if (!std::isfinite(*loss)) {
      progress.finish();
      return R(divergence(run, epoch, i + 1, *loss).takeDiags());
    }
    int64_t n = bt.features.dim(0);
    lossSum += static_cast<double>(*loss) * static_cast<double>(n);
    seen += n;
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (Status s =
            logStep(run, epoch, *loss, seconds > 0 ? static_cast<double>(seen) / seconds : 0);
        !s)
      return R(s.takeDiags());
    progress.update(i + 1, seen, lossSum / static_cast<double>(seen));
  }
  progress.finish();
  result.trainLoss = lossSum / static_cast<double>(seen);
  return result;
}

/// Reports an epoch: a line on stderr and, with --log, a JSON line (the
/// held-out data's loss and accuracy when there is some).
Status reportEpoch(TrainingRun &run, int64_t epoch, double trainLoss, double seconds) {
  if (!run.leader())
    return Ok{};
  JsonLine line;
  line.add("epoch", epoch + 1).add("step", run.settings.steps);
  if (run.comm)
    line.add("ranks", static_cast<int64_t>(run.comm->size()))
        .add("global_batch", run.globalBatch())
        .add("allreduce_seconds", run.parallel->reduceSeconds(), "{:.3f}")
        .add("allreduce_wait_seconds", run.parallel->waitSeconds(), "{:.3f}");
  std::string human = fmt::format("epoch {}:", epoch + 1);
  if (run.hasLoss) {
    line.add("train_loss", trainLoss, "{:.6f}");
    human += fmt::format(" train_loss {:.4f}", trainLoss);
  }
  line.add("seconds", seconds, "{:.3f}");
  if (run.rateState != kNoValue)
    line.add("lr", run.rate);
  if (run.data.heldOut) {
    auto scores =
        evaluate(*run.engine, run.eval, *run.data.heldOut, run.binding, run.settings.batch);
    if (!scores)
      return Status(scores.takeDiags());
    if (run.hasLoss) {
      line.add("test_loss", scores->loss, "{:.6f}");
      human += fmt::format("  test_loss {:.4f}", scores->loss);
      if (run.data.heldOut->textBytes) { // nats per byte to bits per byte
        double bits = scores->loss / std::log(2.0);
        line.add("test_bits_per_byte", bits, "{:.4f}");
        human += fmt::format(" ({:.3f} bits/byte)", bits);
      }
    }
    if (scores->accuracy >= 0) {
      line.add("test_accuracy", scores->accuracy, "{:.4f}");
      human += fmt::format("  test_accuracy {:.4f}", scores->accuracy);
    }
  }
  std::fprintf(stderr, "%s  (%.1f s)\n", human.c_str(), seconds);
  return run.log ? run.log->write(line) : Status(Ok{});
}

/// --save after this epoch: every --save-every epochs, and after the last.
Status saveIfDue(TrainingRun &run, int64_t epoch) {
  if (!run.cl.has("save") || !run.leader())
    return Ok{};
  int64_t every = run.cl.has("save-every") ? std::stoll(run.cl.get("save-every")) : 1;
  bool last = epoch + 1 == run.settings.totalEpochs;
  if (!last && (epoch + 1) % every != 0)
    return Ok{};
  run.settings.epochs = epoch + 1;
  if (Status s = saveCheckpoint(run.engine->stateGraph(), run.engine->state(), run.cl.get("save"),
                                positionMetadata(run.settings));
      !s)
    return s;
  run.savedEpochs = epoch + 1;
  return Ok{};
}

/// Ctrl-C (or SIGTERM, SIGHUP) between steps: where the run stopped and
/// which checkpoint holds its last saved state.
int reportInterrupt(const TrainingRun &run, int64_t epoch, int64_t stepInEpoch, int signal) {
  if (!run.leader()) // under mpirun every rank stopped at this step; rank 0 says so
    return StopRequests::exitStatus(signal);
  std::string saved = "no checkpoint was written";
  if (run.savedEpochs >= 0)
    saved = fmt::format("last checkpoint: {} (epoch {})", run.cl.get("save"), run.savedEpochs);
  else if (run.cl.has("resume"))
    saved =
        fmt::format("last checkpoint: {} (epoch {})", run.cl.get("resume"), run.settings.epochs);
  std::fprintf(stderr, "nnc: interrupted at epoch %lld, step %lld; %s\n",
               static_cast<long long>(epoch + 1), static_cast<long long>(stepInEpoch),
               saved.c_str());
  return StopRequests::exitStatus(signal);
}

/// The epochs from where the run starts (0, or the resumed checkpoint's)
/// to the total.
int trainEpochs(TrainingRun &run, Batcher &batcher) {
  StopRequests stops;
  for (int64_t epoch = run.settings.epochs; epoch < run.settings.totalEpochs; ++epoch) {
    auto start = std::chrono::steady_clock::now();
    auto result = trainEpoch(run, batcher, epoch);
    if (!result)
      return reportError(run, result.diags());
    if (result->interruptedBy)
      return reportInterrupt(run, epoch, result->steps, result->interruptedBy);
    if (result->stoppedOnNumerics) {
      std::fprintf(stderr, "nnc: stopped at the first non-finite value; nothing was saved%s\n",
                   run.cl.has("save") ? " (the last checkpoint is unchanged)" : "");
      return 1;
    }
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (run.parallel) // every rank must hold the same params: checked each epoch
      if (Status s = run.parallel->checkSameState(); !s)
        return reportError(run, s.diags());
    // Rank 0's own work (scoring, logging, saving): its failure stops all.
    if (Status s = reportEpoch(run, epoch, result->trainLoss, seconds); !s)
      return stopAllRanks(run, s.diags());
    if (Status s = saveIfDue(run, epoch); !s)
      return stopAllRanks(run, s.diags());
  }
  if (run.log)
    if (Status s = run.log->close(); !s)
      return stopAllRanks(run, s.diags());
  return 0;
}

} // namespace

const CommandSpec &trainCommandSpec() {
  static const CommandSpec spec{
      "train",
      "M.ir --data D [options]",
      "train a model with its optimizer on IDX, CSV or .npy data",
      "Trains the model with its optimizer (or its hand-written '<-' updates) on a data\n"
      "set, reporting each epoch on stderr (and with --log as a JSON line). Features\n"
      "bind to the first input, labels to the second; a model with one input trains on\n"
      "features alone. A non-finite loss stops the run (exit 1) and saves nothing;\n"
      "Ctrl-C stops it between steps (exit 130) and names the last checkpoint.\n"
      "Under mpirun -np N, every rank trains the same model on its share of a global\n"
      "batch of N x --batch examples (the batches of one process with --batch N x B);\n"
      "gradients are summed across ranks before each update; rank 0 reports, logs and\n"
      "saves.",
      withEngineOptions(withOnnxTrainingOptions({
          required(option("data", "D",
                          "training data: an IDX directory, a CSV file, FEATURES.npy,LABELS.npy, "
                          "FEATURES.npy alone, or text:PATH (bytes for a language model)")),
          option("epochs", "N", "epochs in all, also when resuming (default 1)"),
          option("batch", "N", "examples per step (default 64)"),
          option("lr", "X", "the learning rate (default: the optimizer's lr)"),
          option("lr-schedule", "S", "constant (default), cosine or linear, stepped per batch"),
          option("seed", "S", "the shuffling seed (default 0)"),
          option("save", "P",
                 "write a checkpoint (safetensors, atomically) after every epoch, or as "
                 "--save-every says"),
          option("save-every", "N",
                 "with --save: after every N epochs (default 1), and always after the last"),
          option("params", "P", "start from a checkpoint's params and state (a warm start)"),
          option("resume", "P",
                 "continue the run that wrote checkpoint P: epoch, step, shuffling and schedule"),
          option("log", "F", "a JSON line per epoch to F (appended with --resume)"),
          option("log-every", "N", "with --log: also a JSON line every N steps"),
          option("holdout", "D",
                 "held-out data to score after each epoch (default: IDX test files)"),
          option("bind", "SPEC", "features=INPUT,labels=INPUT: which inputs take the data"),
          flag("check-numerics",
               "run the interpreter and stop at the first op that makes a NaN or infinity"),
          option("bucket-kb", "N",
                 "under mpirun: gradients are summed across ranks in buckets of at least N KiB "
                 "(default 512), each as soon as the backward pass has made it"),
      })),
      {"nnc train examples/transformer_lm.ir --data text:/usr/share/games/fortunes --epochs 3 "
       "--save lm.safetensors",
       "nnc train examples/mlp.ir --data /usr/share/datasets/fashion-mnist --epochs 5 "
       "--save mlp.safetensors",
       "nnc train examples/mlp.ir --data /usr/share/datasets/fashion-mnist --epochs 10 "
       "--resume mlp.safetensors --save mlp.safetensors"},
  };
  return spec;
}

int trainCommand(const Args &args) {
  int status = 0;
  auto cl = parseCommandLine(args, trainCommandSpec(), status);
  if (!cl)
    return status;
  auto settings = readTrainingSettings(*cl);
  if (!settings)
    return report(settings.diags());
  auto threads = parseThreads(*cl);
  if (!threads)
    return report(threads.diags());
  TrainingRun run(*cl, *settings);
  if (Communicator::launchedByMpi()) {
    auto comm = Communicator::world();
    if (!comm)
      return report(comm.diags());
    run.comm = std::move(comm).value();
    run.settings.ranks = run.comm->size();
  }
  Status prepared = prepareRun(run, *threads);
  if (run.comm)
    prepared = startDataParallel(run, std::move(prepared));
  if (!prepared)
    return reportError(run, prepared.diags());
  auto batcher = Batcher::create(run.data.train, exampleShape(run.model, run.binding.features),
                                 run.globalBatch(), run.settings.seed);
  if (!batcher)
    return reportError(run, batcher.diags());
  if (run.settings.epochs >= run.settings.totalEpochs)
    return fail(fmt::format("{} already holds {} epochs of training: ask for more (--epochs is "
                            "the total)",
                            cl->get("resume"), run.settings.epochs));
  Status opened = openLog(run);
  if (run.comm)
    opened = agree(*run.comm, opened);
  if (!opened)
    return reportError(run, opened.diags());
  return trainEpochs(run, *batcher);
}

} // namespace nnc::cli
