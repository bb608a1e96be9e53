/// The inputs `--in NAME=FILE` names: a model's input by its name, or by
/// the ONNX name it was imported from (`--in input.1=x.npy` for the input
/// `input_1`: IR.md's name rule, onnxIdentifier).
#pragma once

#include "frontend/onnx/OnnxImport.h"
#include "ir/Graph.h"

#include <string>

namespace nnc::cli {

/// The input `name` names, or kNoValue.
inline ValueId inputNamed(const Graph &g, const std::string &name) {
  for (const std::string &candidate : {name, onnxIdentifier(name)}) {
    ValueId id = g.findValue(candidate);
    if (id != kNoValue && g.value(id).kind == ValueKind::Input)
      return id;
  }
  return kNoValue;
}

/// The model's inputs, "a, b" (for messages).
inline std::string inputList(const Graph &g) {
  std::string names;
  for (ValueId id : g.valuesOfKind(ValueKind::Input))
    names += (names.empty() ? "" : ", ") + g.value(id).name;
  return names.empty() ? "none" : names;
}

} // namespace nnc::cli
