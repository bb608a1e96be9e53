/// ONNX models into nnc's language: an ONNX file (a protobuf ModelProto)
/// becomes the text of a `.ir` model and its initializers' values, which
/// the text's params read through `safetensors("FILE", key=NAME)`.
///
/// Graph inputs become `input`s, initializers `param`s (i32 ones that shape
/// ops read are folded away), graph outputs `output`s; a symbolic or unknown
/// dimension becomes a `dim`. Names: an ONNX name that is an identifier (and
/// no keyword) is kept; any other is mapped by one rule (onnxIdentifier):
/// every character outside [A-Za-z0-9_] becomes '_', a leading digit or an
/// empty name gets a 'v' in front, and a name already taken gets _2, _3, ...
/// INT64 tensors become i32, each value checked to fit.
///
/// What cannot be imported (an op, attribute or type outside what nnc
/// expresses) is one error per offending node, all of them, naming the
/// node, its op type, the opset and what is unsupported.
#pragma once

#include "ir/Result.h"
#include "runtime/io/Safetensors.h"

#include <string>
#include <string_view>

namespace nnc {

struct OnnxImport {
  std::string text;     ///< the model in nnc's language
  NamedTensors weights; ///< the params' values, by their safetensors keys
};

struct OnnxImportOptions {
  /// The FILE the params' `safetensors(...)` initializers name.
  std::string weightsFile = "weights.safetensors";
  /// The model's name (default: the file's stem, as an identifier).
  std::string modelName;
  /// Training an inference graph: a loss over its first output and a new
  /// `labels` input (`softmax_cross_entropy`: i32 of the output's shape
  /// less its last dim; `mse`, `sse`, `bce`: f32 of the output's shape),
  /// minimized with `optimizer` (IR.md's syntax, e.g. "adam(lr=1e-3)").
  std::string loss;
  std::string optimizer = "sgd(lr=0.01)";
};

/// Reads and converts the ONNX model at `path`.
Result<OnnxImport> importOnnx(const std::string &path, const OnnxImportOptions &options = {});

/// Converts the bytes of an ONNX model; `name` (a file name) starts every
/// message and gives the default model name. Safe on arbitrary bytes: the
/// text it returns always parses and takes its weights (the onnx fuzz
/// target checks that).
Result<OnnxImport> importOnnxBytes(std::string_view bytes, const std::string &name,
                                   const OnnxImportOptions &options = {});

/// The identifier an ONNX name maps to (before making it unique).
std::string onnxIdentifier(const std::string &name);

} // namespace nnc
