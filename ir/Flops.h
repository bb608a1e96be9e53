/// Floating-point operations of a graph, for `nnc summary` and benchmarks:
/// a multiply-add counts 2 (as MLPerf and PyTorch's profiler count). Matmuls
/// and convolutions (forward and gradients) are exact; every other op counts
/// one operation per element it produces (a reduction, per element it
/// reads), which is what memory-bound ops cost next to them anyway.
#pragma once

#include "ir/Graph.h"

#include <cstdint>
#include <vector>

namespace nnc {

/// The FLOPs of one node with concrete dims (indexed by Dim::symbol).
double nodeFlops(const Graph &g, const Node &n, const std::vector<int64_t> &dims);

/// The FLOPs of every node of `g`.
double graphFlops(const Graph &g, const std::vector<int64_t> &dims);

} // namespace nnc
