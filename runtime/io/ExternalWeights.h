/// The `safetensors("FILE", key=NAME)` initializer (IR.md section 1): a
/// param's or state's first values read from a safetensors file, such as a
/// checkpoint or pretrained weights. Model files may come from elsewhere, so
/// FILE may not leave the model's folder (DESIGN.md, "Threat model").
#pragma once

#include "ir/Graph.h"
#include "ir/Result.h"
#include "runtime/io/Safetensors.h"

#include <string>

namespace nnc {

/// How external files named inside a model are resolved.
struct ExternalPathPolicy {
  /// The folder FILE is relative to: the model file's folder ("" for the
  /// current folder, e.g. a model read from stdin).
  std::string modelFolder;
  /// Allows absolute paths, `..` and symlinks that leave the folder
  /// (`--allow-external-paths`).
  bool allowOutside = false;
};

/// Reads the values of every `safetensors(...)` initializer of `g` into its
/// value's data: the key (default: the value's name) must be in the file,
/// with the declared dtype and shape. Errors are located at the
/// initializer and name the file: a path that leaves the folder, a missing
/// or malformed file, a missing key, a wrong dtype or shape. A file shared by
/// several values is read once.
Status loadExternalWeights(Graph &g, const ExternalPathPolicy &policy);

/// The values of the `safetensors("FILE", ...)` initializers of `g` that
/// name `file`, from tensors already in memory (an imported ONNX model's
/// initializers); the same checks as loadExternalWeights.
Status attachWeights(Graph &g, const NamedTensors &tensors, const std::string &file);

/// FILE resolved against the policy's folder, or the reason it may not be
/// used (it leaves the folder).
Result<std::string> resolveExternalPath(const std::string &file, const ExternalPathPolicy &policy);

} // namespace nnc
