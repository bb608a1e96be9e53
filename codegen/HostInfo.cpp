/// Host CPU and LLVM version, from LLVM's TargetParser.
#include "codegen/HostInfo.h"

#include "codegen/GemmLibrary.h"
#include "codegen/Target.h"

#include <llvm/Config/llvm-config.h>
#include <llvm/TargetParser/Host.h>
#include <llvm/ADT/StringMap.h>

namespace nnc {

HostInfo hostInfo() {
  HostInfo info;
  info.llvmVersion = LLVM_VERSION_STRING;
  info.cpuName = llvm::sys::getHostCPUName().str();
  info.triple = llvm::sys::getProcessTriple();
  llvm::StringMap<bool> features = llvm::sys::getHostCPUFeatures();
  if (features.lookup("avx512f"))
    info.vectorBits = 512;
  else if (features.lookup("avx2"))
    info.vectorBits = 256;
  info.gemmLibraryKernels = static_cast<int>(linkedGemmKernels().size());
  if (auto machine = createTargetMachine(""))
    info.gemmLibraryCpu = gemmLibraryCpuFor(**machine);
  return info;
}

} // namespace nnc
