/// Where each value of a compiled model lives: params and state at static
/// offsets in the caller's state buffer, op results in the workspace (in the
/// buffers of the memory plan, passes/schedule/MemoryPlan.h, sized from the
/// symbolic dims at run time).
#pragma once

#include "ir/Graph.h"

#include <map>
#include <string>
#include <vector>

namespace nnc {

/// The state buffer: every param and state of the training graph (or of
/// the inference graph when there is none), in declaration order.
struct StateLayout {
  std::map<std::string, uint64_t> offsetOf;              ///< by name
  std::vector<std::pair<std::string, uint64_t>> entries; ///< declaration order
  uint64_t size = 0;
};

StateLayout layoutState(const Graph &infer, const Graph *train);

/// The flat gradient buffer of a split training step (IR.md section 6,
/// PREFIX_compute_gradients): the gradient of each trained param at a
/// 64-byte aligned offset, in the order of `params`.
struct GradientLayout {
  std::vector<std::pair<std::string, uint64_t>> entries; ///< param name, byte offset
  uint64_t size = 0;
};

/// `gradients` is the split step's gradients graph, whose outputs are the
/// gradients of `params`, in that order (then the loss).
GradientLayout layoutGradients(const Graph &gradients, const std::vector<std::string> &params);

/// Bytes of a value, rounded up to 64, given the symbolic dims' values.
uint64_t alignedBytes(const Type &t, const std::vector<int64_t> &dims);

/// Status codes of the C ABI (0 is success).
enum AbiStatus : int {
  kAbiOk = 0,
  kAbiUnsupportedCpu = 1,
  kAbiBadBuffer = 2,      ///< null or misaligned
  kAbiBadDim = 3,         ///< negative or too large
  kAbiBadLabel = 4,       ///< a label outside [0, classes)
  kAbiEmptyReduction = 5, ///< max or argmax over an axis of extent 0 (a dim bound to 0)
  kAbiBadIndex = 6,       ///< a gather index outside [0, extent)
};

} // namespace nnc
