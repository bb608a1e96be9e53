/// What `nnc run` and `nnc train` execute on: the reference interpreter or
/// the JIT, behind one interface.
#pragma once

#include "ir/Graph.h"
#include "ir/Result.h"
#include "passes/Pipeline.h"
#include "runtime/io/Checkpoint.h"
#include "runtime/Tensor.h"
#include "tools/nnc/CommandLine.h"

#include <memory>
#include <string>
#include <vector>

namespace nnc {
class Interpreter;
class JitSession;
} // namespace nnc

namespace nnc::cli {

/// The engine `run` and `train` use unless --engine says otherwise.
inline constexpr const char *kDefaultEngine = "jit";

class Engine {
public:
  virtual ~Engine() = default;
  /// The inference graph's outputs for one tensor per input.
  virtual Result<std::vector<Tensor>> infer(const std::vector<Tensor> &inputs) = 0;
  /// One training step (forward, backward, update); the loss.
  virtual Result<float> trainStep(const std::vector<Tensor> &inputs) = 0;
  /// The params and state, by value ids of stateGraph().
  virtual StateAccess state() = 0;
  /// The graph whose params and state the engine holds (the training step
  /// when there is one).
  virtual const Graph &stateGraph() const = 0;
  /// The interpreter that ran the last training step, with every node's
  /// value (for --check-numerics); null for compiled engines.
  virtual const Interpreter *trainingInterpreter() const { return nullptr; }
  /// The JIT session behind a compiled engine (null for the interpreter).
  virtual JitSession *jitSession() { return nullptr; }
};

/// Loads params and state from a checkpoint into the engine (`--params`),
/// warning on stderr when it was written for a model of another name; its
/// metadata goes to `*metadata` when given.
Status loadParams(Engine &engine, const std::string &path, CheckpointMetadata *metadata = nullptr);

/// `engine` is "jit" or "interp", for a planned model (passes/Pipeline.h;
/// its training step, when planned, is what trainStep() runs). With
/// `useCache`, the JIT reuses compiled code from the disk cache; it runs on
/// `threads` threads (0: one per core; the interpreter uses one).
Result<std::unique_ptr<Engine>> createEngine(const std::string &engine, const PlannedModel &model,
                                             bool useCache = true, int threads = 0);

/// A model planned for inference only and the engine that runs it, which
/// refers to the plan: they live together (the plan stays put when this moves).
struct InferenceEngine {
  std::unique_ptr<PlannedModel> plan;
  std::unique_ptr<Engine> engine;
};

/// What `nnc run` and `nnc eval` run on: `model` planned without a training
/// step, on the engine --engine names (--no-cache honoured), with the
/// params of --params when given.
Result<InferenceEngine> createInferenceEngine(const Graph &model, const CommandLine &cl,
                                              int threads);

} // namespace nnc::cli
