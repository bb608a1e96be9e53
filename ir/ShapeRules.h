/// Shape inference: the rule that gives each op's result type from its
/// operand types and attributes. One function per op family, defined in
/// ir/ops/<Family>.cpp; `inferType` dispatches on the op table.
#pragma once

#include "ir/Diagnostics.h"
#include "ir/Graph.h"

#include <initializer_list>
#include <optional>
#include <vector>

namespace nnc {

using TypeOrNone = std::optional<Type>;

/// What a shape rule sees of the node being typed, and where its errors go.
/// Every error message starts with the op's name.
class ShapeQuery {
public:
  ShapeQuery(const OpInfo &info, std::vector<Type> operands, const Attrs &attrs, DimNames dimNames,
             SourceLoc loc, Diagnostics &diags)
      : info(info), operands(std::move(operands)), attrs(attrs), dimNames(std::move(dimNames)),
        loc(loc), diags_(diags) {}

  const OpInfo &info;
  const std::vector<Type> operands;
  const Attrs &attrs;
  const DimNames dimNames;
  const SourceLoc loc;

  const Type &operand(size_t i) const { return operands[i]; }
  const AttrValue &attr(std::string_view name) const;
  std::string str(const Type &t) const { return typeToString(t, dimNames); }
  std::string str(const Shape &s) const { return shapeToString(s, dimNames); }

  /// Reports `<op>: <message>` at the node and returns "no type".
  template <typename... Args> std::nullopt_t error(fmt::format_string<Args...> f, Args &&...args) {
    diags_.error(loc, "{}: {}", info.name, fmt::format(f, std::forward<Args>(args)...));
    return std::nullopt;
  }

  /// Checks that operand i is f32 (most ops compute in f32 only).
  bool requireF32(size_t i);
  /// The type of operand `like`, after checking that `alsoF32` are f32.
  TypeOrNone sameAsOperand(size_t like, std::initializer_list<size_t> alsoF32);
  /// For gradient ops: operand `dy` must have the type of operand `like`,
  /// which is the result type.
  TypeOrNone gradientLike(size_t like, size_t dy);
  /// The type the forward op `forward` (whose attributes are laid out like
  /// this op's) gives for `forwardOperands`; for gradient ops.
  TypeOrNone forwardType(OpKind forward, std::vector<Type> forwardOperands);
  /// For gradient ops: checks that `dy` has the type the forward op gives.
  bool checkIncomingGradient(OpKind forward, std::vector<Type> forwardOperands, size_t dy);
  /// Resolves a possibly negative axis against `rank`; reports and returns
  /// false when out of range.
  bool normalizeAxis(int64_t &axis, size_t rank, const char *what);

private:
  Diagnostics &diags_;
};

/// The result type of a node, or nullopt after reporting why there is none.
TypeOrNone inferType(ShapeQuery &q);

/// Puts attributes into their one canonical form (so equal meaning gives
/// equal attributes): a pool's `stride` equal to its `kernel` is dropped.
void canonicalizeAttrs(OpKind op, Attrs &attrs);

// One rule per family (ir/ops/<Family>.cpp).
TypeOrNone inferElementwiseType(ShapeQuery &q);
TypeOrNone inferMatMulType(ShapeQuery &q);
TypeOrNone inferShapeOpType(ShapeQuery &q);
TypeOrNone inferReduceType(ShapeQuery &q);
TypeOrNone inferNormType(ShapeQuery &q);
TypeOrNone inferConvType(ShapeQuery &q);
TypeOrNone inferLossType(ShapeQuery &q);

/// Output spatial extent of a window op: floor((in + 2 pad - k) / stride) + 1,
/// or -1 when the window does not fit.
int64_t windowOutputSize(int64_t in, int64_t kernel, int64_t stride, int64_t pad);

} // namespace nnc
