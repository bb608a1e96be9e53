/// The front door for model files: parse and check a `.ir` file, then read
/// the files its initializers name (`safetensors(...)`), confined to the
/// model's folder unless the caller allows otherwise.
#pragma once

#include "ir/Graph.h"
#include "ir/Result.h"

#include <string>

namespace nnc {

struct ModelLoadOptions {
  /// Lets initializers name files outside the model's folder (absolute
  /// paths, `..`, symlinks out): `--allow-external-paths`.
  bool allowExternalPaths = false;
  /// For an ONNX model: a loss and optimizer to train it with
  /// (OnnxImportOptions::loss and ::optimizer; `nnc train --loss`).
  std::string onnxLoss, onnxOptimizer;
};

/// Whether `path` names an ONNX model (ends in .onnx).
bool isOnnxPath(const std::string &path);

/// An ONNX model imported in memory (frontend/onnx/OnnxImport.h) with its
/// initializers' values, as a verified graph.
Result<Graph> loadOnnxModel(const std::string &path, const ModelLoadOptions &options = {});

/// Reads, parses and checks `path` (`-`: standard input) and loads the
/// weights its initializers name (runtime/io/ExternalWeights.h); an ONNX
/// model (`.onnx`) is imported (loadOnnxModel).
Result<Graph> loadModel(const std::string &path, const ModelLoadOptions &options = {});

/// Parses and checks model text (`name`: the file name diagnostics give) and
/// loads the weights its initializers name, relative to the current folder
/// (as for a model read from standard input).
Result<Graph> loadModelText(const std::string &text, const std::string &name);

} // namespace nnc
