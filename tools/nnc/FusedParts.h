/// What a fused op (`fused_*`) stands for, for `nnc dot`: the operations it
/// fused, in evaluation order, and which of its inputs and of each other
/// they read. Only a picture: codegen and the interpreter never look here.
#pragma once

#include "ir/Graph.h"

#include <string>
#include <vector>

namespace nnc::cli {

/// One constituent operation of a fused op.
struct FusedPart {
  std::string label;       ///< the op, with its role or numbers: "add (bias)"
  std::vector<int> inputs; ///< indices of the fused node's operands it reads
  std::vector<int> parts;  ///< earlier parts whose results it reads
};

/// The constituents of the fused node `n`; the last one computes its result.
/// Never empty: a fused op this file does not know, or a program it cannot
/// decode, is one part that reads every input.
std::vector<FusedPart> fusedParts(const Graph &g, const Node &n);

/// The parts of a `fused_elementwise` program, one per instruction
/// (`[op, operand indices..., attribute numbers...]`; an index below the
/// node's input count names an input, a larger one an earlier result); empty
/// when the program is malformed.
std::vector<FusedPart> programParts(const Graph &g, const Node &n, const AttrValue &program);

} // namespace nnc::cli
