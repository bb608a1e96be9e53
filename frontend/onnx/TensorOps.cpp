/// The ONNX importer's converters for Trilu, ArgMax, Split and Equal: each
/// one nnc op (or one per output) with ONNX's attributes mapped onto it.
#include "frontend/onnx/Importer.h"

#include <fmt/format.h>

namespace nnc::onnximport {

/// Trilu(x, k=0, upper=1): triu or tril from diagonal k (a constant).
void Importer::trilu(const onnx::NodeProto &n) {
  std::vector<Known> in;
  if (!operands(n, in, 1))
    return;
  int64_t k = 0;
  if (in.size() > 1 && !in[1].name.empty()) {
    if (!in[1].ints || in[1].ints->size() != 1)
      return fail(n, "k must be a constant scalar");
    k = (*in[1].ints)[0];
  }
  if (in[0].shape.size() < 2)
    return fail(n, "needs an input of rank 2 or more");
  define(n,
         fmt::format("{}({}, k={})", intAttr(n, "upper", 1) ? "triu" : "tril", tensorName(in[0]),
                     std::clamp<int64_t>(k, -kMaxExtent, kMaxExtent)),
         in[0].shape, in[0].integer);
}

/// ArgMax(x, axis=0, keepdims=1): nnc's argmax (the first largest), the
/// axis put back as 1 for keepdims. select_last_index=1 takes the first
/// largest of x reversed along a static axis (a gather of reversed
/// indices), counted back from the end.
void Importer::argMax(const onnx::NodeProto &n) {
  std::vector<Known> in;
  if (!operands(n, in, 1))
    return;
  std::optional<int64_t> axis = axisIn(n, intAttr(n, "axis", 0), in[0].shape.size());
  if (!axis)
    return;
  Dims reduced = in[0].shape, kept = in[0].shape;
  reduced.erase(reduced.begin() + *axis);
  kept[static_cast<size_t>(*axis)] = "1";
  std::string expr = fmt::format("argmax({}, axis={})", tensorName(in[0]), *axis);
  if (intAttr(n, "select_last_index", 0) != 0) {
    std::optional<int64_t> extent = staticDim(in[0].shape[static_cast<size_t>(*axis)]);
    if (!extent || *extent > kMaxLiteralParts)
      return fail(n, "select_last_index=1 needs a static axis");
    std::vector<std::string> reversed;
    for (int64_t i = *extent; i-- > 0;)
      reversed.push_back(std::to_string(i));
    std::string table = fresh(n.output(0) + "_reversed");
    decls_ += "  const " + table + ": i32[" + std::to_string(*extent) +
              "] = " + nestedLiteral(reversed, {*extent}) + "\n";
    expr = fmt::format("sub({}, argmax(gather({}, {}, axis={}), axis={}))", *extent - 1,
                       tensorName(in[0]), table, *axis, *axis);
  }
  if (intAttr(n, "keepdims", 1))
    define(n, "reshape(" + expr + ", shape=" + dimsText(kept) + ")", kept, true);
  else
    define(n, expr, reduced, true);
}

/// Split(x, split=, axis=0): one slice per output along a static axis; the
/// sizes from `split` (an input from opset 13, an attribute before), or
/// equal parts (the last one smaller when the extent does not divide).
void Importer::split(const onnx::NodeProto &n) {
  std::vector<Known> in;
  if (!operands(n, in, 1))
    return;
  std::optional<int64_t> axis = axisIn(n, intAttr(n, "axis", 0), in[0].shape.size());
  if (!axis)
    return;
  std::optional<int64_t> extent = staticDim(in[0].shape[static_cast<size_t>(*axis)]);
  if (!extent)
    return fail(n, "splitting a symbolic axis is not supported");
  std::optional<std::vector<int64_t>> sizes = constantInts(n, in, 1, "split");
  if (!sizes)
    return;
  auto parts = static_cast<int64_t>(n.output_size());
  if (sizes->empty()) {
    int64_t each = (*extent + parts - 1) / parts;
    for (int64_t i = 0; i < parts; ++i)
      sizes->push_back(std::clamp<int64_t>(*extent - i * each, 0, each));
  }
  int64_t total = 0;
  for (int64_t s : *sizes) {
    if (s < 0 || s > kMaxExtent)
      return fail(n, "a split size is negative or too large");
    total += s;
  }
  if (total != *extent || static_cast<int64_t>(sizes->size()) != parts)
    return fail(n, fmt::format("split sizes [{}] do not cut an axis of {} into {} outputs",
                               fmt::join(*sizes, ", "), *extent, parts));
  std::string x = tensorName(in[0]);
  int64_t start = 0;
  for (int k = 0; k < n.output_size(); ++k) {
    int64_t size = (*sizes)[static_cast<size_t>(k)];
    Dims shape = in[0].shape;
    shape[static_cast<size_t>(*axis)] = std::to_string(size);
    if (!n.output(k).empty())
      defineOutput(
          n, k, fmt::format("slice({}, axis={}, start={}, end={})", x, *axis, start, start + size),
          shape, in[0].integer);
    start += size;
  }
}

/// Equal(a, b): nnc's eq, whose 1.0 / 0.0 (f32) every reader of a boolean
/// here takes (Where's condition, Cast).
void Importer::equal(const onnx::NodeProto &n) {
  std::vector<Known> in;
  if (!operands(n, in, 2))
    return;
  if (in[0].integer != in[1].integer)
    return fail(n, "operands of different element types are not supported");
  std::optional<Dims> shape = broadcast(in[0].shape, in[1].shape);
  if (!shape)
    return fail(n, "the operands' shapes do not broadcast");
  if (!productsAlign(in[0].shape, in[1].shape))
    return fail(n, "a dim that is a product of a symbolic dim meets another dim");
  define(n, "eq(" + tensorName(in[0]) + ", " + tensorName(in[1]) + ")", *shape);
}

/// Greater, GreaterOrEqual, Less, LessOrEqual as 1.0 / 0.0 (f32, as Equal):
/// step(a - b) is a >= b, so a > b is 1 - step(b - a).
void Importer::compare(const onnx::NodeProto &n) {
  std::vector<Known> in;
  if (!operands(n, in, 2))
    return;
  if (in[0].integer || in[1].integer)
    return fail(n, "integer operands are not supported (nnc's step takes f32)");
  std::optional<Dims> shape = broadcast(in[0].shape, in[1].shape);
  if (!shape)
    return fail(n, "the operands' shapes do not broadcast");
  const std::string &op = n.op_type();
  bool swapped = op == "Greater" || op == "LessOrEqual"; // compares b - a
  std::string a = tensorName(in[swapped ? 1 : 0]), b = tensorName(in[swapped ? 0 : 1]);
  std::string atLeast = "step(sub(" + a + ", " + b + "))";
  define(n, op == "Greater" || op == "Less" ? "sub(1, " + atLeast + ")" : atLeast, *shape);
}

} // namespace nnc::onnximport
