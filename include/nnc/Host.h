/// nnc's host API: JIT-compile a model in your program and call it on your
/// own buffers, with the same calls as the C ABI of an AOT object (IR.md
/// section 6). Errors come back as values (nnc::Result), never exceptions.
///
///   auto model = nnc::CompiledModel::load("examples/mlp.ir");   // or compile(graph)
///   if (!model) { std::cerr << model.errorText(); return 1; }
///   std::vector<std::byte> ... state(model->stateSize()) (64-byte aligned)
///   model->init(state); model->trainStep(state, workspace, dims, inputs, &loss);
///
/// For a session that owns its buffers and takes inputs by name, see the C
/// API (nnc/nnc.h).
#pragma once

#include "nnc/CompileOptions.h"
#include "nnc/ModelGraph.h"
#include "nnc/Result.h"

#include <cstdint>
#include <memory>
#include <string>

#pragma GCC visibility push(default)

namespace nnc {

namespace detail {
struct CompiledModelImpl;
}

class CompiledModel {
public:
  /// Parses, checks and compiles a model file (`.ir`, or `.onnx`); a model
  /// with `minimize` also gets its training step.
  static Result<CompiledModel> load(const std::string &path, const CompileOptions &options = {});
  /// Compiles a graph (e.g. built with the C++ DSL: nnc::dsl::Model::build()).
  static Result<CompiledModel> compile(const ModelGraph &model, const CompileOptions &options = {});

  /// The C ABI's calls. Return 0 on success, else a status (IR.md section
  /// 6: 1 unsupported CPU, 2 null or misaligned buffer, 3 bad dim, 4 label
  /// out of range, 5 max over an empty axis, 6 gather index out of range).
  bool cpuSupported() const;
  uint64_t stateSize() const;
  uint64_t workspaceSize(const int64_t *dims) const;
  int init(void *state) const;
  int infer(void *state, void *workspace, const int64_t *dims, const void *const *inputs,
            void *const *outputs) const;
  /// Only for a model with `minimize` (see canTrain()); else returns 2.
  int trainStep(void *state, void *workspace, const int64_t *dims, const void *const *inputs,
                float *loss) const;
  int64_t paramOffset(const char *name) const;
  bool canTrain() const;

  /// The training step cut at the gradients, for data-parallel training
  /// with your own communicator (compiled with
  /// CompileOptions::splitTrainingStep; else these return 2 and 0):
  /// computeGradients writes each trained param's gradient into the flat
  /// buffer `gradients` (gradientsSize() bytes, at gradientOffset(name))
  /// and calls ready(readyCtx, i) as soon as the i-th is final; after the
  /// caller has combined them, applyGradients runs the optimizer's update.
  using GradientReady = void (*)(void *ctx, int64_t param);
  uint64_t gradientsSize() const;
  int64_t gradientOffset(const char *name) const;
  int computeGradients(void *state, void *workspace, const int64_t *dims, const void *const *inputs,
                       float *gradients, float *loss, GradientReady ready = nullptr,
                       void *readyCtx = nullptr) const;
  int applyGradients(void *state, void *workspace, const float *gradients) const;

  /// The threads infer and trainStep run on: `threads` (0: one per core,
  /// the default, also CompileOptions::threads; 1: the calling thread) of
  /// a runtime pool shared with other models. Any count gives the same
  /// bits. Copies of this model share the setting; do not change it while
  /// a call is running.
  void setThreads(int threads);
  int threads() const;

  /// The model as given (inputs, outputs and dims in ABI order).
  const ModelGraph &graph() const;
  const CompileTimes &times() const;

private:
  CompiledModel() = default;
  std::shared_ptr<detail::CompiledModelImpl> impl_;
};

} // namespace nnc

#pragma GCC visibility pop
