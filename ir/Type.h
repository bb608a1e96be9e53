/// Tensor types with symbolic dimensions: `f32[B, 784]`, `i32[B]`, `f32[]`.
#pragma once

#include "nnc/Types.h"

#include <cstdint>
#include <string>
#include <vector>

namespace nnc {

const char *dtypeName(DType t);
/// Bytes per element.
inline int64_t dtypeSize(DType) { return 4; }

/// One dimension: a static extent, or a symbolic `dim` of the graph (an index
/// into Graph::dims). A symbolic dim is equal only to itself.
struct Dim {
  int64_t size = 0;    ///< the extent when static
  int32_t symbol = -1; ///< index of the graph's `dim`, or -1 when static

  static Dim fixed(int64_t n) { return Dim{n, -1}; }
  static Dim sym(int32_t index) { return Dim{0, index}; }
  bool isStatic() const { return symbol < 0; }
  bool isSymbolic() const { return symbol >= 0; }
  bool isOne() const { return isStatic() && size == 1; }
  friend bool operator==(const Dim &a, const Dim &b) {
    return a.symbol == b.symbol && (a.symbol >= 0 || a.size == b.size);
  }
  friend bool operator!=(const Dim &a, const Dim &b) { return !(a == b); }
};

using Shape = std::vector<Dim>;

/// A dtype and a shape. Rank 0 is a scalar.
struct Type {
  DType dtype = DType::F32;
  Shape shape;

  size_t rank() const { return shape.size(); }
  bool isScalar() const { return shape.empty(); }
  bool isStatic() const;
  /// Element count when every dim is static; INT64_MAX when the product
  /// overflows (the verifier reports such a type).
  int64_t staticElements() const;
  friend bool operator==(const Type &a, const Type &b) {
    return a.dtype == b.dtype && a.shape == b.shape;
  }
  friend bool operator!=(const Type &a, const Type &b) { return !(a == b); }
};

/// Resolves symbolic dim indices to names for printing.
using DimNames = std::vector<std::string>;

std::string dimToString(const Dim &d, const DimNames &names);
/// `f32[B, 2]`.
std::string typeToString(const Type &t, const DimNames &names);
/// `[B, 2]`.
std::string shapeToString(const Shape &s, const DimNames &names);

/// Whether a nested-list literal of shape `literal` fills type `t`: the same
/// static shape, or (a zero-size dim has no elements to nest) a prefix of it
/// that ends in a 0: `[]` fills `f32[0, 3]`, `[[], []]` fills `f32[2, 0, 5]`.
bool literalFills(const std::vector<int64_t> &literal, const Type &t);

/// NumPy broadcasting of two shapes (aligned from the right; equal dims or a
/// static 1 match). Returns false when they do not broadcast.
bool broadcastShapes(const Shape &a, const Shape &b, Shape &out);

} // namespace nnc
