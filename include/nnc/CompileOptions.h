/// How the host API and the C API compile a model, and what it took.
#pragma once

#include <string>

#pragma GCC visibility push(default)

namespace nnc {

/// The arithmetic of matmuls and convolutions (IR.md section 3, `precision`).
enum class Precision {
  F32,  ///< f32 operands
  BF16, ///< bf16 operands, f32 sums, all else f32; needs AVX512_BF16
  Auto, ///< bf16 where the target CPU has AVX512_BF16, else f32
};

struct CompileOptions {
  std::string prefix;    ///< C symbol prefix (default: the model's name)
  std::string cpu;       ///< LLVM CPU name; empty for the host
  bool useCache = false; ///< reuse and store compiled code on disk (ObjectCache.h)
  /// Threads a JIT-compiled model runs on (0: one per core; JitModel::setThreads),
  /// and compiles on (at most one per core): the JIT splits a large enough
  /// module into that many partitions, optimized and compiled side by side
  /// (codegen/ParallelCompile.h). Results are the same for any count (every
  /// kernel computes in the same order, without fast-math); the disk cache
  /// keeps one entry per thread count.
  int threads = 0;
  /// JIT only: GEMMs call nnc's precompiled GEMM kernels (codegen/GemmLibrary.h)
  /// rather than being compiled into the model, which is most of the
  /// compile time; the results are the same. `nnc compile` objects never do.
  bool gemmLibrary = true;
  /// Also compile the training step cut at the gradients (computeGradients
  /// and applyGradients; IR.md section 6), for data-parallel training.
  bool splitTrainingStep = false;
  /// Mixed precision (passes/MixedPrecision.h), where nnc plans the model
  /// itself (CompiledModel::compile and load, the C API): BF16 on a CPU
  /// without AVX512_BF16 is an error naming the feature; Auto picks BF16
  /// where the target CPU has it. Graphs planned already (jitCompile of a
  /// PlannedModel or of optimized graphs) keep the precision their nodes say.
  Precision precision = Precision::F32;
};

/// What each phase of a compilation took, in milliseconds.
struct CompileTimes {
  double lowerMs = 0, optimizeMs = 0, codegenMs = 0, linkMs = 0;
  /// Compiling on threads: splitting the module into partitions and their
  /// bitcode round trip into contexts of their own (0 on one thread).
  double splitMs = 0;
  bool fromCache = false;
  /// GEMMs that call the GEMM library's kernels (codegen/GemmLibrary.h)
  /// rather than being compiled into the model (0 for objects from the cache).
  int gemmLibraryCalls = 0;
};

} // namespace nnc

#pragma GCC visibility pop
