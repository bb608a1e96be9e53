/// libFuzzer entry point for the onnx target (see FuzzTargets.h): a broken
/// promise aborts with its description. Seeds (tests/fuzz/corpus/onnx/):
/// models built here, and backend_*.onnx, model.onnx files of the ONNX
/// project's backend test suite (Debian's libonnx-testdata, Apache-2.0).
#include "tests/fuzz/FuzzTargets.h"

#include <cstdio>
#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string problem =
      nnc::fuzz::onnxTarget(std::string_view(reinterpret_cast<const char *>(data), size));
  if (!problem.empty()) {
    std::fprintf(stderr, "onnx fuzz target: %s\n", problem.c_str());
    std::abort();
  }
  return 0;
}
