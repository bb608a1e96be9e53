/// Checkpoints: a model's params and state (optimizer buffers, counters)
/// saved by their declared names as a safetensors file, and restored,
/// whatever engine holds them.
#pragma once

#include "ir/Graph.h"
#include "ir/Result.h"
#include "runtime/Tensor.h"

#include <functional>
#include <map>
#include <string>

namespace nnc {

/// How to read and write one param or state of a running model.
struct StateAccess {
  std::function<Tensor(ValueId)> read;
  std::function<void(ValueId, const Tensor &)> write;
};

/// Checkpoint metadata (safetensors `__metadata__`): `format` = "nnc",
/// `model` = the model's name, and whatever else the writer adds (a training
/// run's position, for resuming).
using CheckpointMetadata = std::map<std::string, std::string>;

/// Writes every param and state of `g` to `path` atomically (temp file,
/// fsync, rename): a crash leaves the old file. `extra` joins the metadata.
/// Refused, and nothing written, when a value is not finite (a diverged
/// run must not overwrite a good checkpoint).
Status saveCheckpoint(const Graph &g, const StateAccess &state, const std::string &path,
                      const CheckpointMetadata &extra = {});

/// Overwrites params and states from `path`. Every param must be present
/// with its declared dtype and shape; a state that is missing keeps its
/// initial value (e.g. resuming with another optimizer), and tensors the
/// model does not have (optimizer state, when evaluating) are ignored. A
/// foreign file lacks the params and is refused. Nothing is written unless
/// every tensor fits (a refused file changes nothing). The file's metadata goes
/// to `*metadata` when given.
Status loadCheckpoint(const Graph &g, const StateAccess &state, const std::string &path,
                      CheckpointMetadata *metadata = nullptr);

/// Makes the checkpoint's values the initial values of `g`'s params and
/// state (literal initializers), with loadCheckpoint()'s rules: every param
/// required, missing state keeps its initializer. For `nnc compile --params`,
/// which bakes trained weights into an object.
Status bakeCheckpoint(Graph &g, const std::string &path, CheckpointMetadata *metadata = nullptr);

/// A warning when a checkpoint was written for a model of another name
/// (whose params happen to match), else "".
std::string checkpointModelMismatch(const CheckpointMetadata &metadata, const Graph &g,
                                    const std::string &path);

class Interpreter;
/// The params and state of an interpreter.
StateAccess interpreterState(Interpreter &interp);
/// Conveniences for the interpreter.
Status saveCheckpoint(const Interpreter &interp, const std::string &path);
Status loadCheckpoint(Interpreter &interp, const std::string &path);

} // namespace nnc
