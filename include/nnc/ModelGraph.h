/// A model's checked graph, as the C++ DSL builds it (nnc::dsl::Model::build)
/// and the host API compiles it (nnc::CompiledModel::compile). Opaque: its
/// IR (ir/Graph.h) is nnc's internal business; what a program can do with it
/// is print it, parse one, and compile it. Copies share one immutable graph.
#pragma once

#include "nnc/Result.h"

#include <memory>
#include <string>

#pragma GCC visibility push(default)

namespace nnc {

class Graph;

class ModelGraph {
public:
  /// Parses and verifies a model in the `.ir` language (IR.md sections 1-3);
  /// `name` is the file name its diagnostics give. Weights its initializers
  /// name (`safetensors("FILE")`) are read relative to the current folder.
  static Result<ModelGraph> parse(const std::string &text, const std::string &name = "<text>");
  /// Reads a model file: `.ir`, or `.onnx` (imported, IR.md section 7).
  static Result<ModelGraph> load(const std::string &path);

  /// The model's name (`model NAME`).
  const std::string &name() const;
  /// The canonical `.ir` text (IR.md section 2), which parses back to the
  /// same graph.
  std::string print() const;

  /// The graph itself, for nnc's own sources (ir/Graph.h is not installed).
  explicit ModelGraph(Graph graph);
  const Graph &graph() const { return *graph_; }

private:
  std::shared_ptr<const Graph> graph_;
};

} // namespace nnc

#pragma GCC visibility pop
