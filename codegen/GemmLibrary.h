/// nnc's GEMM library: the GEMM emitter's kernels (codegen/lower/Gemm.h),
/// compiled once when nnc is built, for x86-64, AVX2 and AVX-512, into an
/// object that nnc's programs link (the build runs tools/gemm-library).
///
/// Why: the GEMMs are most of a model's code. Compiled into every model,
/// they made most of the JIT's compile time (8 specialized GEMMs were 80%
/// of the MLP training step's IR). A JIT-compiled module calls a library
/// kernel per task of a GEMM instead, and keeps only the fused epilogue
/// (bias, activation, the guest ops) as a function the kernel calls with
/// each finished tile (emitGemm). XLA's CPU backend calls Eigen similarly.
///
/// The kernels are the same code the emitter puts into a module, with the
/// extents as arguments: a model computes the same bits either way (for the
/// same vector width). Objects written by `nnc compile` never call the
/// library: they stay self-contained. A program linked without the library
/// object (its table is a weak symbol) compiles its GEMMs into each module.
#pragma once

#include "codegen/Compiler.h"

#include <llvm/IR/Module.h>
#include <llvm/Target/TargetMachine.h>

#include <string>
#include <utility>
#include <vector>

namespace nnc {

/// What a library kernel computes beyond the extents: C = op(A) op(B)
/// with A's rows (B's rows) mapped by an activation's gradient as they are
/// read, and B's column sums stored into a buffer (GemmOperands).
struct GemmKernelKey {
  bool ta = false, tb = false, bSums = false;
  std::string aMap, bMap; ///< an activation's name ("relu"), or empty
  bool bf16 = false;      ///< bf16 operands (GemmOperands::bf16)
  /// bf16: `a` is A's pairs, converted once for every task
  /// (GemmOperands::aPairs); then ta and aMap do not apply.
  bool aPairs = false;
};

/// Every kernel the library holds for each of its f32 CPUs; the same
/// variants with bf16 operands for its bf16 CPU.
std::vector<GemmKernelKey> gemmLibraryKeys();

/// The symbol of a kernel: nnc_gemm_<cpu>_<variant>.
std::string gemmKernelName(const std::string &cpu, const GemmKernelKey &key);

/// The library CPU whose kernels code for `machine` may call: the same
/// vector width, and every feature of it present; empty when there is none
/// or no library is linked.
std::string gemmLibraryCpuFor(const llvm::TargetMachine &machine);

/// The library CPU whose bf16 kernels code for `machine` may call (it has
/// AVX512_BF16 and every feature of that CPU), or empty.
std::string gemmLibraryBf16CpuFor(const llvm::TargetMachine &machine);

/// The library's own spelling of `name` when its kernels apply that
/// activation's gradient (GemmOperands::aMapActivation), else null.
const char *gemmLibraryActivation(const std::string &name);

/// f32 lanes of the library CPU's vectors (its kernels' blocking).
unsigned gemmLibraryLanes(const std::string &cpu);

/// Declares the kernel in `module`:
///   void (ptr a, ptr b, ptr c, ptr aZ, ptr bZ, ptr bSums,
///         i64 m, i64 n, i64 k, i64 row0, i64 row1, i64 col0, i64 col1,
///         ptr epilogue, ptr context)
/// computing rows [row0, row1) x columns [col0, col1) of C, each finished
/// tile stored into C or handed to the epilogue (emitGemmKernelBody). Null
/// when the linked library does not have it.
llvm::Function *declareGemmKernel(llvm::Module &module, const std::string &cpu,
                                  const GemmKernelKey &key);

/// The linked library's kernels, by symbol (for the JIT's symbol table).
std::vector<std::pair<std::string, void *>> gemmLibrarySymbols();

} // namespace nnc
