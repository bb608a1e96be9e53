/// The canonical printed form of a model (IR.md section 2).
#pragma once

#include "ir/Graph.h"

#include <string>
#include <vector>

namespace nnc {

/// Prints `g` in canonical form. Printing is a fixed point:
/// print(parse(print(g))) == print(g), byte for byte.
std::string printGraph(const Graph &g);

/// The name each value prints as: its own, or the `tK` printGraph() gives
/// an unnamed result (indexed by ValueId).
std::vector<std::string> printedNames(const Graph &g);

/// The shortest decimal that reads back to the same f32, as numpy's repr of a
/// float32 gives it but without a trailing ".0", "+" or exponent zeros:
/// 1, 0.1, 1e-5, 1e20, -2.5.
std::string formatNumber(double v);

} // namespace nnc
