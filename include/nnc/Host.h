/// nnc's host API: JIT-compile a model in your program and call it on your
/// own buffers, with the same calls as the C ABI of an AOT object (IR.md
/// section 6). Errors come back as values (nnc::Result), never exceptions.
///
///   auto model = nnc::CompiledModel::load("examples/mlp.ir");   // or compile(graph)
///   if (!model) { std::cerr << model.errorText(); return 1; }
///   std::vector<std::byte> ... state(model->stateSize()) (64-byte aligned)
///   model->init(state); model->trainStep(state, workspace, dims, inputs, &loss);
#pragma once

#include "codegen/Compiler.h"
#include "ir/Graph.h"
#include "ir/Result.h"

#include <memory>
#include <string>

namespace nnc {

class CompiledModel {
public:
  /// Parses, checks and compiles a `.ir` file; a model with `minimize` also
  /// gets its training step.
  static Result<CompiledModel> load(const std::string &path, const CompileOptions &options = {});
  /// Compiles a graph (e.g. built with the C++ DSL: nnc::dsl::Model::build()).
  static Result<CompiledModel> compile(const Graph &model, const CompileOptions &options = {});

  /// The C ABI's calls. Return 0 on success, else a status (1 unsupported
  /// CPU, 2 null or misaligned buffer, 3 bad dim, 4 label out of range).
  bool cpuSupported() const { return fns().cpuSupported() != 0; }
  uint64_t stateSize() const { return fns().stateSize(); }
  uint64_t workspaceSize(const int64_t *dims) const { return fns().workspaceSize(dims); }
  int init(void *state) const { return fns().init(state); }
  int infer(void *state, void *workspace, const int64_t *dims, const void *const *inputs,
            void *const *outputs) const {
    return fns().infer(state, workspace, dims, inputs, outputs);
  }
  /// Only for a model with `minimize` (see canTrain()); else returns 2.
  int trainStep(void *state, void *workspace, const int64_t *dims, const void *const *inputs,
                float *loss) const {
    return fns().trainStep ? fns().trainStep(state, workspace, dims, inputs, loss) : 2;
  }
  int64_t paramOffset(const char *name) const { return fns().paramOffset(name); }
  bool canTrain() const { return fns().trainStep != nullptr; }

  /// The threads infer and trainStep run on: `threads` (0: one per core,
  /// the default, also CompileOptions::threads; 1: the calling thread) of
  /// a runtime pool shared with other models. Any count gives the same
  /// bits. Copies of this model share the setting; do not change it while
  /// a call is running.
  void setThreads(int threads) { jit_->setThreads(threads); }
  int threads() const { return jit_->threads(); }

  /// The inference graph (inputs, outputs and dims in ABI order).
  const Graph &graph() const { return *graph_; }
  const CompileTimes &times() const { return jit_->times(); }

private:
  const ModelFunctions &fns() const { return jit_->functions(); }
  std::shared_ptr<JitModel> jit_;
  std::shared_ptr<Graph> graph_;
};

} // namespace nnc
