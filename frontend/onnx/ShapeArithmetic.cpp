/// The ONNX importer's shape arithmetic: what PyTorch exports to compute
/// shapes at run time (Shape -> Gather -> Unsqueeze -> Concat -> Reshape,
/// ConstantOfShape, Expand, Range, Cast, integer Add/Sub/Mul/Div) is folded
/// here at import time. A small integer tensor whose values the importer
/// knows carries them as entries: numbers, or the names of nnc dims (a
/// dynamic batch axis); a Reshape reading such a tensor writes the dim names
/// into nnc's `reshape(x, shape=[B, -1])`. A product with a dim name (B * 4,
/// B * T) is a product dim, held by nnc as its factors' axes (Importer.h);
/// other arithmetic on a dim name (B + 1) is an error that says so.
#include "frontend/onnx/Importer.h"
#include "frontend/onnx/TensorProto.h"
#include "ir/Printer.h"

#include <fmt/format.h>

#include <cmath>

namespace nnc::onnximport {

namespace {

/// The symbolic factors of a dim, in order, and the product of its static ones.
std::pair<Dims, int64_t> splitFactors(const std::string &d) {
  Dims symbolic;
  int64_t number = 1;
  for (const std::string &f : factorsOf(d)) {
    if (std::optional<int64_t> v = staticDim(f))
      number *= *v;
    else
      symbolic.push_back(f);
  }
  return {symbolic, number};
}

/// A dim from symbolic factors and a static one (left out when 1).
std::string joinFactors(const Dims &symbolic, int64_t number) {
  std::string d;
  for (const std::string &s : symbolic)
    d += (d.empty() ? "" : "*") + s;
  if (number != 1 || d.empty())
    d += (d.empty() ? "" : "*") + std::to_string(number);
  return d;
}

} // namespace

std::optional<Dims> Importer::entriesOf(const Known &k) {
  if (k.entries)
    return k.entries;
  if (!k.ints)
    return std::nullopt;
  Dims d;
  for (int64_t v : *k.ints)
    d.push_back(std::to_string(v));
  return d;
}

void Importer::defineEntries(const onnx::NodeProto &n, Dims entries, Dims shape) {
  Known k = Known::of(fresh(n.output(0)), std::move(shape), true);
  std::vector<int64_t> ints;
  for (const std::string &e : entries)
    if (std::optional<int64_t> v = staticDim(e); v)
      ints.push_back(*v);
  if (ints.size() == entries.size())
    k.ints = std::move(ints);
  else
    k.entries = std::move(entries);
  known_[n.output(0)] = k;
}

void Importer::defineFolded(const onnx::NodeProto &n, const Known &values, Dims shape) {
  Known k = values;
  k.name = fresh(n.output(0)); // its own const, if it is ever read as a tensor
  k.shape = std::move(shape);
  known_[n.output(0)] = k;
}

std::optional<Dims> Importer::staticReshape(const Dims &values, const Dims &shape) {
  Dims out = shape;
  int64_t product = 1, unknown = -1;
  for (size_t i = 0; i < out.size(); ++i) {
    std::optional<int64_t> d = staticDim(out[i]);
    if (!d || *d < -1 || *d > kMaxExtent || (*d == -1 && unknown >= 0))
      return std::nullopt;
    if (*d == -1)
      unknown = static_cast<int64_t>(i);
    else if (product > kMaxExtent / std::max<int64_t>(*d, 1))
      return std::nullopt;
    else
      product *= *d;
  }
  auto count = static_cast<int64_t>(values.size());
  if (unknown >= 0) {
    if (product == 0 || count % product != 0)
      return std::nullopt;
    out[static_cast<size_t>(unknown)] = std::to_string(count / product);
    product = count;
  }
  if (product != count)
    return std::nullopt;
  return out;
}

/// Shape(x, start=, end=): x's dims, as entries.
void Importer::shapeOf(const onnx::NodeProto &n) {
  std::vector<Known> in;
  if (!operands(n, in, 1))
    return;
  auto rank = static_cast<int64_t>(in[0].shape.size());
  auto clampAxis = [&](int64_t a) { return std::clamp<int64_t>(a < 0 ? a + rank : a, 0, rank); };
  int64_t start = clampAxis(intAttr(n, "start", 0)), end = clampAxis(intAttr(n, "end", rank));
  Dims entries;
  for (int64_t i = start; i < end; ++i)
    entries.push_back(in[0].shape[static_cast<size_t>(i)]);
  defineEntries(n, entries, {std::to_string(entries.size())});
}

/// Size(x): the element count, when x's dims are static.
void Importer::sizeOf(const onnx::NodeProto &n) {
  std::vector<Known> in;
  if (!operands(n, in, 1))
    return;
  std::optional<int64_t> count = product(in[0].shape, 0, in[0].shape.size());
  if (!count)
    return fail(n, "the size of symbolic dims " + dimsText(in[0].shape) +
                       " cannot be expressed in nnc's types");
  defineEntries(n, {std::to_string(*count)}, {});
}

/// The static shape a shape operand (input k) gives, or nullopt (and an error).
std::optional<std::vector<int64_t>> Importer::staticShapeOperand(const onnx::NodeProto &n,
                                                                 const Known &k) {
  if (!k.ints) {
    fail(n, k.entries ? "the shape has symbolic dims (" + dimsText(*k.entries) +
                            "): nnc's consts are static"
                      : "the shape is not a constant");
    return std::nullopt;
  }
  if (!elementCount(*k.ints)) {
    fail(n, "the shape has negative or too large dims");
    return std::nullopt;
  }
  return k.ints;
}

/// ConstantOfShape(shape, value=): a const filled with the value (f32 or
/// integer), of a static shape.
void Importer::constantOfShape(const onnx::NodeProto &n) {
  std::vector<Known> in;
  if (!operands(n, in, 1))
    return;
  std::optional<std::vector<int64_t>> shape = staticShapeOperand(n, in[0]);
  if (!shape)
    return;
  std::vector<float> floats = {0.0f};
  std::vector<int64_t> ints;
  bool integer = false;
  if (const onnx::AttributeProto *value = attribute(n, "value"); value && value->has_t()) {
    std::string why;
    floats.clear();
    if (!decodeTensorProto(value->t(), floats, ints, why))
      return fail(n, "value: " + why);
    integer = value->t().data_type() != onnx::TensorProto::FLOAT;
    if ((integer ? ints.size() : floats.size()) != 1)
      return fail(n, "value must hold one element");
  }
  Dims dims;
  for (int64_t d : *shape)
    dims.push_back(std::to_string(d));
  if (integer) { // kept as entries for shape ops (a const when read as a tensor)
    int64_t count = *elementCount(*shape);
    if (count > 4096)
      return fail(n, "integer constants of more than 4096 elements are not supported");
    Known k = Known::of(fresh(n.output(0)), dims, true);
    k.ints = std::vector<int64_t>(static_cast<size_t>(count), ints[0]);
    known_[n.output(0)] = k;
    return;
  }
  Known k = Known::of(fresh(n.output(0)), dims, false);
  decls_ += "  const " + k.name + ": f32" + dimsText(dims) + " = fill(" + number(floats[0]) + ")\n";
  known_[n.output(0)] = k;
}

/// Expand(x, shape): x broadcast with the shape (both ways, as NumPy):
/// x itself when that changes nothing, else x added to zeros of the result.
void Importer::expand(const onnx::NodeProto &n) {
  std::vector<Known> in;
  if (!operands(n, in, 2))
    return;
  std::optional<Dims> target = entriesOf(in[1]);
  if (!target)
    return fail(n, "the shape is not a constant");
  std::optional<Dims> out = broadcast(in[0].shape, *target);
  if (!out)
    return fail(n, "the shape " + dimsText(*target) + " does not broadcast with the input's " +
                       dimsText(in[0].shape));
  if (*out == in[0].shape) {
    known_[n.output(0)] = in[0];
    return;
  }
  if (!product(*out, 0, out->size()))
    return fail(n, "expanding to symbolic dims (" + dimsText(*out) + ") is not supported");
  std::string zeros = fresh(n.output(0) + "_zeros");
  decls_ +=
      "  const " + zeros + ": " + (in[0].integer ? "i32" : "f32") + dimsText(*out) + " = zeros()\n";
  define(n, "add(" + tensorName(in[0]) + ", " + zeros + ")", *out, in[0].integer);
}

/// Range(start, limit, delta) of constants: integers as entries, floats as
/// a const literal.
void Importer::range(const onnx::NodeProto &n) {
  std::vector<Known> in;
  if (!operands(n, in, 3))
    return;
  bool integer = in[0].integer;
  std::vector<double> v;
  for (const Known &k : in) {
    if (k.ints && k.ints->size() == 1)
      v.push_back(static_cast<double>((*k.ints)[0]));
    else if (k.immediate)
      v.push_back(std::stod(k.name));
    else
      return fail(n, "start, limit and delta must be constant scalars");
  }
  if (v[2] == 0)
    return fail(n, "delta is 0");
  for (double x : v)
    if (!(std::fabs(x) <= static_cast<double>(kMaxExtent)))
      return fail(n, "start, limit and delta must lie within +-2^40");
  double count = std::max(0.0, std::ceil((v[1] - v[0]) / v[2]));
  if (count > 4096)
    return fail(n, "ranges of more than 4096 elements are not supported");
  Dims entries;
  std::vector<std::string> items;
  for (int64_t i = 0; i < static_cast<int64_t>(count); ++i) {
    double x = v[0] + static_cast<double>(i) * v[2];
    entries.push_back(std::to_string(static_cast<int64_t>(x)));
    items.push_back(number(static_cast<float>(x)));
  }
  Dims shape = {std::to_string(entries.size())};
  if (integer)
    return defineEntries(n, entries, shape);
  Known k = Known::of(fresh(n.output(0)), shape, false);
  decls_ += "  const " + k.name + ": f32" + dimsText(shape) + " = " +
            nestedLiteral(items, {static_cast<int64_t>(items.size())}) + "\n";
  known_[n.output(0)] = k;
}

/// Cast(x, to=): to FLOAT or an integer type (i32; INT64's values must fit,
/// as the importer's other integers), or to BOOL as 1.0 / 0.0 (the form of
/// the importer's booleans). Known integers stay known.
void Importer::cast(const onnx::NodeProto &n) {
  std::vector<Known> in;
  if (!operands(n, in, 1))
    return;
  int64_t to = intAttr(n, "to", 0);
  bool toFloat = to == onnx::TensorProto::FLOAT;
  bool toInt = to == onnx::TensorProto::INT32 || to == onnx::TensorProto::INT64;
  if (to == onnx::TensorProto::BOOL && in[0].ints) {
    std::vector<int64_t> truth;
    for (int64_t v : *in[0].ints)
      truth.push_back(v != 0);
    Known k = in[0];
    k.name = fresh(n.output(0));
    k.ints = truth;
    known_[n.output(0)] = k;
    return;
  }
  if (to == onnx::TensorProto::BOOL) // 1.0 where non-zero (Equal's booleans)
    return define(n, "sub(1, eq(" + tensorName(in[0]) + ", 0))", in[0].shape);
  if (!toFloat && !toInt)
    return fail(n, fmt::format("to={} is not supported (FLOAT, INT32, INT64 and BOOL are)", to));
  if (toInt == in[0].integer) { // the same nnc dtype
    known_[n.output(0)] = in[0];
    return;
  }
  if (toInt && in[0].immediate) {
    double v = std::stod(in[0].name);
    if (!(std::fabs(v) <= static_cast<double>(kMaxExtent)))
      return fail(n, "the constant " + in[0].name + " is out of the range of the folded integers");
    defineEntries(n, {std::to_string(static_cast<int64_t>(v))}, {});
    return;
  }
  if (toFloat && in[0].ints && in[0].shape.empty()) { // a scalar: an immediate
    Known k = Known::of(number(static_cast<float>((*in[0].ints)[0])), {}, false);
    k.immediate = true;
    known_[n.output(0)] = k;
    return;
  }
  define(n, "cast(" + tensorName(in[0]) + ", to=" + (toFloat ? "f32" : "i32") + ")", in[0].shape,
         toInt);
}

/// Add, Sub, Mul and Div of integers whose values are known: folded (with
/// ONNX's integer division, toward zero); a dim name takes part only where
/// the result is that name again (B * 1, B + 0, B / 1).
bool Importer::foldIntegerArithmetic(const onnx::NodeProto &n, const std::vector<Known> &in) {
  std::optional<Dims> a = entriesOf(in[0]), b = entriesOf(in[1]);
  if (!a || !b || !in[0].integer || !in[1].integer || in[0].shape.size() > 1 ||
      in[1].shape.size() > 1)
    return false;
  size_t count = std::max(a->size(), b->size());
  if ((a->size() != count && a->size() != 1) || (b->size() != count && b->size() != 1)) {
    fail(n, "the operands' shapes do not broadcast");
    return true;
  }
  const std::string &op = n.op_type();
  Dims out;
  for (size_t i = 0; i < count; ++i) {
    const std::string &x = (*a)[a->size() == 1 ? 0 : i], &y = (*b)[b->size() == 1 ? 0 : i];
    std::optional<int64_t> u = staticDim(x), v = staticDim(y);
    if (u && v) {
      if (op == "Div" && *v == 0) {
        fail(n, "integer division by zero");
        return true;
      }
      __int128 r = op == "Add"   ? __int128{*u} + *v
                   : op == "Sub" ? __int128{*u} - *v
                   : op == "Mul" ? __int128{*u} * *v
                                 : __int128{*u} / *v;
      if (r > kMaxExtent || r < -kMaxExtent) {
        fail(n, "the folded shape arithmetic overflows");
        return true;
      }
      out.push_back(std::to_string(static_cast<int64_t>(r)));
    } else if (v && (op == "Add" || op == "Sub") && *v == 0) {
      out.push_back(x);
    } else if (u && op == "Add" && *u == 0) {
      out.push_back(y);
    } else if (op == "Mul") {
      // A product of a symbolic dim: nnc holds it as its factors' axes.
      auto [sa, na] = splitFactors(x);
      auto [sb, nb] = splitFactors(y);
      sa.insert(sa.end(), sb.begin(), sb.end());
      if (na < 1 || nb < 1 || na > kMaxExtent / nb) {
        fail(n, na < 1 || nb < 1
                    ? fmt::format("a symbolic dim times {} is not a dim", std::min(na, nb))
                    : "the folded shape arithmetic overflows");
        return true;
      }
      out.push_back(joinFactors(sa, na * nb));
    } else if (op == "Div" && v && *v > 0 && splitFactors(x).second % *v == 0) {
      auto [symbolic, number] = splitFactors(x);
      out.push_back(joinFactors(symbolic, number / *v));
    } else {
      fail(n, fmt::format("shape arithmetic on symbolic dims ({} {} {}) cannot be expressed in "
                          "nnc's types",
                          x, op, y));
      return true;
    }
  }
  defineEntries(n, out,
                in[0].shape.empty() && in[1].shape.empty() ? Dims{} : Dims{std::to_string(count)});
  return true;
}

} // namespace nnc::onnximport
