/// A build step: compiles nnc's GEMM library (codegen/GemmLibrary.h) into
/// the object file that nnc's programs link.
///
///   nnc-gemm-library OUT.o
#include "codegen/Compiler.h"

#include <cstdio>

int main(int argc, char **argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: nnc-gemm-library OUT.o\n");
    return 1;
  }
  nnc::Status written = nnc::writeGemmLibrary(argv[1]);
  if (!written) {
    std::fprintf(stderr, "%s", written.errorText().c_str());
    return 1;
  }
  return 0;
}
