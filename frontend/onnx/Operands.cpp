/// The ONNX importer's operand helpers (constants, axes, constant operands
/// read as attributes) and the Constant node.
#include "frontend/onnx/Importer.h"
#include "frontend/onnx/TensorProto.h"
#include "ir/Printer.h"

#include <fmt/format.h>

namespace nnc::onnximport {

/// Constant: integers are kept for shape ops (and declared as an i32 const
/// if read as a tensor), a float scalar becomes an immediate number, other
/// floats a const with a literal.
void Importer::constant(const onnx::NodeProto &n) {
  onnx::TensorProto t;
  if (const onnx::AttributeProto *value = attribute(n, "value"); value && value->has_t()) {
    t = value->t();
  } else if (const onnx::AttributeProto *a = attribute(n, "value_float")) {
    t.set_data_type(onnx::TensorProto::FLOAT);
    t.add_float_data(a->f());
  } else if (const onnx::AttributeProto *a = attribute(n, "value_floats")) {
    t.set_data_type(onnx::TensorProto::FLOAT);
    t.add_dims(a->floats_size());
    *t.mutable_float_data() = a->floats();
  } else if (const onnx::AttributeProto *a = attribute(n, "value_int")) {
    t.set_data_type(onnx::TensorProto::INT64);
    t.add_int64_data(a->i());
  } else if (const onnx::AttributeProto *a = attribute(n, "value_ints")) {
    t.set_data_type(onnx::TensorProto::INT64);
    t.add_dims(a->ints_size());
    *t.mutable_int64_data() = a->ints();
  } else {
    return fail(n, "only value, value_float(s) and value_int(s) are supported (not "
                   "sparse_value or strings)");
  }
  std::vector<float> f;
  std::vector<int64_t> ints;
  std::string why;
  if (!decodeTensorProto(t, f, ints, why))
    return fail(n, why);
  Dims d;
  for (int64_t s : t.dims())
    d.push_back(std::to_string(s));
  Known k = Known::of(fresh(n.output(0)), d, t.data_type() != onnx::TensorProto::FLOAT);
  if (k.integer) {
    k.ints = ints;
  } else if (f.size() == 1 && d.empty()) {
    k.name = number(f[0]); // an immediate: mul(x, 0.5)
    k.immediate = true;
  } else {
    if (!literalFits({t.dims().begin(), t.dims().end()}))
      return fail(n, "the constant is too large to write as a literal");
    std::vector<std::string> items;
    for (float v : f)
      items.push_back(number(v));
    decls_ += "  const " + k.name + ": f32" + dimsText(d) + " = " +
              nestedLiteral(items, {t.dims().begin(), t.dims().end()}) + "\n";
  }
  known_[n.output(0)] = k;
}

/// An axis attribute (or constant) in [0, rank), or nullopt (and an error).
std::optional<int64_t> Importer::axisIn(const onnx::NodeProto &n, int64_t axis, size_t rank) {
  auto r = static_cast<int64_t>(rank);
  if (axis < -r || axis >= r) {
    fail(n, fmt::format("axis {} is outside a rank-{} input", axis, rank));
    return std::nullopt;
  }
  return axis < 0 ? axis + r : axis;
}

/// A constant operand's integers (input k), or an attribute's before the
/// opset where it became an input.
std::optional<std::vector<int64_t>> Importer::constantInts(const onnx::NodeProto &n,
                                                           const std::vector<Known> &in, size_t k,
                                                           const char *attr) {
  if (in.size() > k && !in[k].name.empty()) {
    if (!in[k].ints) {
      fail(n, std::string("input ") + std::to_string(k) + " must be a constant");
      return std::nullopt;
    }
    return in[k].ints;
  }
  if (attribute(n, attr))
    return intsAttr(n, attr);
  return std::vector<int64_t>{};
}

/// The single float of a constant operand, if it is one.
std::optional<std::string> Importer::scalarOf(const Known &k) {
  if (k.immediate)
    return k.name;
  if (k.ints && k.ints->size() == 1)
    return std::to_string((*k.ints)[0]);
  return std::nullopt;
}

/// The product of dims [from, to) when all are static.
std::optional<int64_t> Importer::product(const Dims &d, size_t from, size_t to) {
  std::vector<int64_t> sizes;
  for (size_t i = from; i < to && i < d.size(); ++i) {
    std::optional<int64_t> s = staticDim(d[i]);
    if (!s)
      return std::nullopt;
    sizes.push_back(*s);
  }
  return elementCount(sizes);
}

} // namespace nnc::onnximport
