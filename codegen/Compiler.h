/// nnc's code generator, seen from outside codegen/: compile a model's
/// inference graph (and training step) to native code, in memory (JIT) or
/// as an object file with a C header (IR.md section 6). No LLVM types here.
#pragma once

#include "ir/Graph.h"
#include "ir/Result.h"
#include "nnc/CompileOptions.h"
#include "passes/Pipeline.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace nnc {

/// The entry points of a compiled model: exactly the C ABI of IR.md section 6.
struct ModelFunctions {
  int (*cpuSupported)() = nullptr;
  uint64_t (*stateSize)() = nullptr;
  uint64_t (*workspaceSize)(const int64_t *dims) = nullptr;
  int (*init)(void *state) = nullptr;
  int (*infer)(void *state, void *workspace, const int64_t *dims, const void *const *inputs,
               void *const *outputs) = nullptr;
  int (*trainStep)(void *state, void *workspace, const int64_t *dims, const void *const *inputs,
                   float *loss) = nullptr; ///< null for a model without `minimize`
  int64_t (*paramOffset)(const char *name) = nullptr;
  /// The training step cut at the gradients (null unless the model was
  /// planned with PlanRequest::splitTrainingStep; IR.md section 6).
  uint64_t (*gradientsSize)() = nullptr;
  int64_t (*gradientOffset)(const char *name) = nullptr;
  using GradientReady = void (*)(void *ctx, int64_t param);
  int (*computeGradients)(void *state, void *workspace, const int64_t *dims,
                          const void *const *inputs, float *gradients, float *loss,
                          GradientReady ready, void *readyCtx) = nullptr;
  int (*applyGradients)(void *state, void *workspace, const float *gradients) = nullptr;
  /// The runner of the model's parallel loops (null: the calling thread).
  using ParallelRunner = void (*)(void *pool, int64_t tasks, void (*task)(void *ctx, int64_t t),
                                  void *ctx);
  void (*setParallelRunner)(ParallelRunner run, void *pool) = nullptr;
};

class ThreadPool;

/// A model compiled in memory. Keeps the JIT (and so the code) alive.
class JitModel {
public:
  virtual ~JitModel() = default;
  const ModelFunctions &functions() const { return functions_; }
  const CompileTimes &times() const { return times_; }

  /// Runs the model's parallel loops on `threads` threads (0: one per core;
  /// 1: the calling thread alone) of a shared runtime pool. Results are the
  /// same bits for any count. Not while a call of the model is running.
  void setThreads(int threads);
  int threads() const { return threads_; }

protected:
  ModelFunctions functions_;
  CompileTimes times_;
  std::shared_ptr<ThreadPool> pool_;
  int threads_ = 1;
};

/// Compiles nnc's GEMM library (codegen/GemmLibrary.h) into an object file:
/// a build step (tools/gemm-library).
Status writeGemmLibrary(const std::string &objectPath);

/// The GEMM library's kernels this program links, by symbol (none when it
/// was linked without the library).
std::vector<std::string> linkedGemmKernels();

// The code half of the compile pipeline (the graph half is
// passes/Pipeline.h), one straight line:
//   7. LLVM module     the C ABI functions, each graph lowered node by node as
//                      its kernel schedule and memory plan say (ModuleEmitter.h)
//   8. optimize        LLVM's O1 with the vectorizers (Target.h)
//   9. machine code    on the model's threads, through the disk cache
//                      (ParallelCompile.h, ObjectCache.h); then linked in memory
//                      (JitLinker.h) or returned as an object file
// CompileTimes records each step.

/// Whether `options` ask for bf16 matmul and convolution operands on their
/// CPU (CompileOptions::precision; PlanRequest::bf16Products): Auto is
/// whether the CPU has AVX512_BF16, and BF16 on a CPU without it is an error
/// naming the feature.
Result<bool> bf16Products(const CompileOptions &options);

/// JIT-compiles a planned model for the host CPU.
Result<std::unique_ptr<JitModel>> jitCompile(const PlannedModel &model,
                                             const CompileOptions &options);

/// JIT-compiles graphs that are optimized already: `infer` (the forward
/// graph) and, when given, `train` (the training step), planned first
/// (passes/Pipeline.h, planOptimized).
Result<std::unique_ptr<JitModel>> jitCompile(const Graph &infer, const Graph *train,
                                             const CompileOptions &options);

/// The bytes of an object file with the same functions, named PREFIX_*,
/// for `options.cpu` (the host when empty). It needs only libc and libm.
Result<std::string> compileObject(const PlannedModel &model, const CompileOptions &options,
                                  CompileTimes *times = nullptr);

/// The C header of IR.md section 6 for the object above.
/// `split`: the training step cut at the gradients, when compiled too.
std::string cHeader(const Graph &infer, const Graph *train, const CompileOptions &options,
                    const PlannedModel::Split *split = nullptr);

/// The optimized LLVM IR or the host assembly of a model (for tests and
/// `nnc compile --emit`): what = "llvm" or "asm".
Result<std::string> emitText(const PlannedModel &model, const CompileOptions &options,
                             const std::string &what);

} // namespace nnc
