/// The last step of a JIT compile: a model's object files linked in memory
/// by ORC's LLJIT, with the GEMM library's kernels and the process's libc
/// and libm (libmvec) as the symbols they may call.
#pragma once

#include "codegen/Compiler.h"

#include <memory>
#include <string>
#include <vector>

namespace nnc {

/// Which of the optional C ABI functions a compiled model has.
struct LinkedFunctions {
  bool trainStep = false; ///< PREFIX_train_step
  bool splitStep = false; ///< PREFIX_compute_gradients and PREFIX_apply_gradients
};

/// Links `objects` and finds the C ABI functions named PREFIX_*; records
/// the link time in `times`, which the model keeps.
Result<std::unique_ptr<JitModel>> linkJitModel(const std::vector<std::string> &objects,
                                               const std::string &prefix, LinkedFunctions which,
                                               const CompileTimes &times);

} // namespace nnc
