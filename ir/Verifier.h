/// The verifier: checks every invariant of a Graph and reports each problem
/// with its location. Passes run it after each rewrite (in tests and debug
/// builds), so a broken graph is caught where it was broken.
#pragma once

#include "ir/Diagnostics.h"
#include "ir/Graph.h"

namespace nnc {

/// Checks names, operand order (defined before use), types against the shape
/// rules, attributes, updates, outputs and `minimize`. Returns every problem.
Diagnostics verifyGraph(const Graph &g);

} // namespace nnc
