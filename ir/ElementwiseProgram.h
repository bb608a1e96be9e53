/// The program of a `fused_elementwise` op: the element-wise ops a fusion
/// absorbed, in order, as one loop body.
///
/// Written as the op's `program` attribute, a list of instructions
/// `[op, operand, ..., attribute, ...]`: an operand k < (number of inputs)
/// is the fused op's input k, a larger one the result of instruction
/// k - inputs; the op's own attributes (leaky_relu's `alpha`) follow its
/// operands. The last instruction gives the result:
///
///   fused_elementwise(p, g, 0.1, program=[[mul, 1, 2], [sub, 0, 3]])
///     = sub(p, mul(g, 0.1))
///
/// Every engine evaluates it per element of the result, each operand read
/// through NumPy broadcasting, each instruction rounded to f32 as the
/// unfused op would be, so fusing never changes a bit.
#pragma once

#include "ir/OpInfo.h"

#include <optional>
#include <string>
#include <vector>

namespace nnc {

struct ElementwiseInstruction {
  OpKind op;
  std::vector<int> operands; ///< input index, or inputs + earlier instruction
  Attrs attrs;               ///< the op's attributes, all of them, in table order
};

using ElementwiseProgram = std::vector<ElementwiseInstruction>;

/// An optional attribute left out (clip's `min` or `max`), as a program
/// writes it where its place must be held: `[clip, 0, none, 6]`.
inline constexpr const char *kAbsentAttr = "none";

/// Whether `op` may appear in a program: an element-wise op (or gradient
/// op) of the table other than fused_elementwise itself.
bool isProgramOp(OpKind op);

/// Decodes and checks a program over `inputs` operands; on failure sets
/// `why` (a message without the op's name) and returns nullopt.
std::optional<ElementwiseProgram> decodeProgram(const AttrValue &attr, size_t inputs,
                                                std::string &why);

/// The attribute form of a program (the canonical one: every attribute of
/// every instruction written out).
AttrValue encodeProgram(const ElementwiseProgram &program);

} // namespace nnc
