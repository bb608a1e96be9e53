/// The target machine (host CPU or a named one) and the LLVM optimization
/// pipeline nnc runs on every module.
#pragma once

#include "ir/Result.h"

#include <llvm/Analysis/TargetLibraryInfo.h>
#include <llvm/IR/Module.h>
#include <llvm/Target/TargetMachine.h>

#include <memory>
#include <string>
#include <vector>

namespace nnc {

/// Initializes LLVM's native target once per process.
void initializeLlvm();

/// Makes `ctx` print LLVM's errors only: optimization remarks and warnings
/// (e.g. a loop hinted for vectorization that LLVM left scalar) are for
/// nnc's developers, not its users.
void reportOnlyErrors(llvm::LLVMContext &ctx);

/// A target machine for `cpu` (LLVM's CPU name; empty = the host, with its
/// exact feature set), optimizing aggressively, without fast-math.
Result<std::unique_ptr<llvm::TargetMachine>> createTargetMachine(const std::string &cpu);

/// The feature string (`+avx2,+fma,...`) of the host, or of `cpu`.
std::string cpuFeatures(const std::string &cpu);

/// Whether `machine` (its CPU and features) has LLVM feature `feature`
/// ("avx512bf16").
bool targetHas(const llvm::TargetMachine &machine, const char *feature);

/// libmvec's vector math functions beyond LLVM 19's own table, for the
/// features of `machine`.
std::vector<llvm::VecDesc> extraVectorFunctions(const llvm::TargetMachine &machine);

/// Merges identical functions (the inference graph repeats the training
/// step's forward kernels), so that optimization and code generation see
/// each kernel once. Runs on the whole module, before any split.
void mergeIdenticalFunctions(llvm::Module &module);

/// Which optimization pipeline a module gets. Both vectorize loops and
/// straight-line code, with glibc's libmvec as the vector math library so
/// loops over exp and log stay vectorized.
enum class Pipeline {
  /// A model's module (JIT or object file): O1, with the loop and SLP
  /// vectorizers, and loops unrolled only where they ask for it
  /// (llvm.loop.unroll metadata: the GEMM micro-kernel), without
  /// interleaving. Its big kernels are explicitly vectorized already (or in
  /// the GEMM library), and against O3 with LLVM's own unrolling this
  /// compiles the MLP step in about 60% of the time for step times within
  /// 1.2% (paired: MLP, residual block, 64x784x256 matmul, conv, XOR; with
  /// and without the GEMM library).
  Model,
  /// O3 with LLVM's own unrolling and interleaving: the GEMM library,
  /// compiled once at build time.
  Library,
};

void optimizeModule(llvm::Module &module, llvm::TargetMachine &machine,
                    Pipeline pipeline = Pipeline::Model);

} // namespace nnc
