#include "codegen/HostInfo.h"
#include <cstdio>
int main() {
  auto h = nnc::hostInfo();
  std::printf("nnc %s (LLVM %s, host %s)\n", NNC_VERSION, h.llvmVersion.c_str(), h.cpuName.c_str());
}
