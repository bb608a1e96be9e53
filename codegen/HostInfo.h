/// What LLVM knows about the machine nnc runs on.
#pragma once

#include <string>

namespace nnc {

struct HostInfo {
  std::string llvmVersion; ///< e.g. "19.1.7"
  std::string cpuName;     ///< LLVM's name for the host CPU, e.g. "znver4"
  std::string triple;      ///< e.g. "x86_64-pc-linux-gnu"
  int vectorBits = 128;    ///< widest f32 vector the host runs natively
};

HostInfo hostInfo();

} // namespace nnc
