/// The memory report of `nnc compile --memory-report`: a memory plan in
/// words, for concrete dims.
#pragma once

#include "passes/schedule/MemoryPlan.h"

#include <string>
#include <vector>

namespace nnc {

/// Peak workspace bytes, each buffer with its size and the values that take
/// turns in it (node ranges), the forward values kept for backward (defined
/// at or before the loss's node, read after it: only in a training graph,
/// `hasBackward`), and the sum of all tensors without reuse. `title` heads
/// the report.
std::string memoryReport(const Graph &g, const MemoryPlan &plan, const std::vector<int64_t> &dims,
                         const std::string &title, bool hasBackward);

} // namespace nnc
