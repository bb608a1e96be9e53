/// What LLVM knows about the machine nnc runs on.
#pragma once

#include <string>

namespace nnc {

struct HostInfo {
  std::string llvmVersion; ///< e.g. "19.1.7"
  std::string cpuName;     ///< LLVM's name for the host CPU, e.g. "znver4"
  std::string triple;      ///< e.g. "x86_64-pc-linux-gnu"
  int vectorBits = 128;    ///< widest f32 vector the host runs natively
  /// The GEMM library's CPU whose kernels the host's JIT calls
  /// (codegen/GemmLibrary.h); empty when none fits or none is linked.
  std::string gemmLibraryCpu;
  int gemmLibraryKernels = 0; ///< kernels linked, for every CPU
};

HostInfo hostInfo();

} // namespace nnc
