/// Shapes once the symbolic dims have values: what every engine allocates,
/// and the size checks that come before it.
#pragma once

#include "ir/Graph.h"
#include "ir/Result.h"

#include <cstdint>
#include <vector>

namespace nnc {

/// The concrete shape of a type once symbolic dims have values (indexed by
/// Dim::symbol; each dim the type uses must have one).
std::vector<int64_t> concreteShape(const Type &t, const std::vector<int64_t> &dims);

/// Checks that with these dim values (every one bound, e.g. by the inputs)
/// each value of `g` has an element count that fits int64 and at most
/// maxTensorBytes() bytes. The error is located at the first value that does
/// not and names its type, the dim values and the limit. Values with a dim
/// that has no value (-1) are skipped.
Status checkValueSizes(const Graph &g, const std::vector<int64_t> &dims);

} // namespace nnc
