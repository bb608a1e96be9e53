/// Checkpoints: a model's params and state (optimizer buffers, counters)
/// saved by their declared names as a safetensors file, and restored.
#pragma once

#include "ir/Result.h"
#include "runtime/Interpreter.h"

#include <string>

namespace nnc {

/// Writes every param and state of the interpreter's graph to `path`
/// atomically (temp file, fsync, rename): a crash leaves the old file.
Status saveCheckpoint(const Interpreter &interp, const std::string &path);

/// Overwrites params and states from `path`. Every param must be present
/// with its declared dtype and shape; a state that is missing keeps its
/// initial value (e.g. resuming with another optimizer), and tensors the
/// model does not have (optimizer state, when evaluating) are ignored. A
/// foreign file lacks the params and is refused.
Status loadCheckpoint(Interpreter &interp, const std::string &path);

} // namespace nnc
