/// Binding a call's input tensors to a graph's inputs: every engine checks
/// dtypes and shapes the same way and gives the same located errors, naming
/// where a dim got its value ("B = 4 from input 'x'").
#pragma once

#include "ir/Graph.h"
#include "ir/Result.h"
#include "runtime/Tensor.h"

#include <vector>

namespace nnc {

/// The values of `g`'s symbolic dims that `inputs` (one per input, in
/// declaration order) bind, -1 for a dim no given input has. An input that
/// nothing in `g` uses may be an empty tensor. Errors (a wrong count, dtype,
/// rank or extent, two inputs that disagree on a dim) are located at the
/// input's declaration, all of them at once.
Result<std::vector<int64_t>> bindInputs(const Graph &g, const std::vector<Tensor> &inputs);

} // namespace nnc
