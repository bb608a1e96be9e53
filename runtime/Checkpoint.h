/// Checkpoints: a model's params and state (optimizer buffers, counters)
/// saved by their declared names as a safetensors file, and restored,
/// whatever engine holds them.
#pragma once

#include "ir/Graph.h"
#include "ir/Result.h"
#include "runtime/Tensor.h"

#include <functional>
#include <string>

namespace nnc {

/// How to read and write one param or state of a running model.
struct StateAccess {
  std::function<Tensor(ValueId)> read;
  std::function<void(ValueId, const Tensor &)> write;
};

/// Writes every param and state of `g` to `path` atomically (temp file,
/// fsync, rename): a crash leaves the old file.
Status saveCheckpoint(const Graph &g, const StateAccess &state, const std::string &path);

/// Overwrites params and states from `path`. Every param must be present
/// with its declared dtype and shape; a state that is missing keeps its
/// initial value (e.g. resuming with another optimizer), and tensors the
/// model does not have (optimizer state, when evaluating) are ignored. A
/// foreign file lacks the params and is refused.
Status loadCheckpoint(const Graph &g, const StateAccess &state, const std::string &path);

class Interpreter;
/// The params and state of an interpreter.
StateAccess interpreterState(Interpreter &interp);
/// Conveniences for the interpreter.
Status saveCheckpoint(const Interpreter &interp, const std::string &path);
Status loadCheckpoint(Interpreter &interp, const std::string &path);

} // namespace nnc
