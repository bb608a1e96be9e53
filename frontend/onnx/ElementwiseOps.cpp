/// The ONNX importer's element-wise converters that take attributes or
/// several operands: Identity and Dropout (inference), LeakyRelu, Max and
/// Min, Where, Clip.
#include "frontend/onnx/Importer.h"
#include "frontend/onnx/TensorProto.h"
#include "ir/Printer.h"

#include <fmt/format.h>

namespace nnc::onnximport {

/// Identity, and Dropout in inference: the operand itself.
void Importer::identity(const onnx::NodeProto &n) {
  std::vector<Known> in;
  if (operands(n, in, 1))
    known_[n.output(0)] = in[0];
}

void Importer::dropout(const onnx::NodeProto &n) {
  std::vector<Known> in;
  if (!operands(n, in, 1))
    return;
  bool training = opset_ < 7 && intAttr(n, "is_test", 0) == 0;
  if (in.size() > 2 && !in[2].name.empty())
    training = !in[2].ints || in[2].ints->empty() || (*in[2].ints)[0] != 0;
  if (training)
    return fail(n, "training_mode is not supported (nnc's dropout draws its own masks)");
  if (n.output_size() > 1 && !n.output(1).empty())
    return fail(n, "the mask output is not supported");
  known_[n.output(0)] = in[0];
}

void Importer::leakyRelu(const onnx::NodeProto &n) {
  std::vector<Known> in;
  if (operands(n, in, 1))
    define(n,
           fmt::format("leaky_relu({}, alpha={})", tensorName(in[0]),
                       number(floatAttr(n, "alpha", 0.01f))),
           in[0].shape);
}

/// Max and Min of any number of operands: a chain of maximum (minimum).
void Importer::extremum(const onnx::NodeProto &n) {
  std::vector<Known> in;
  if (!operands(n, in, 1))
    return;
  if (in.size() == 1) {
    known_[n.output(0)] = in[0];
    return;
  }
  for (const Known &k : in)
    if (k.integer)
      return fail(n, "integer operands are not supported (nnc's maximum and minimum take f32)");
  auto folded = chain(n, in, n.op_type() == "Max" ? "maximum" : "minimum");
  if (!folded)
    return;
  auto [expr, shape] = *folded;
  define(n, expr, shape);
}

void Importer::where(const onnx::NodeProto &n) {
  std::vector<Known> in;
  if (!operands(n, in, 3))
    return;
  std::optional<Dims> ab = broadcast(in[1].shape, in[2].shape);
  std::optional<Dims> shape = ab ? broadcast(in[0].shape, *ab) : std::nullopt;
  if (!shape)
    return fail(n, "the operands' shapes do not broadcast");
  if (!productsAlign(in[1].shape, in[2].shape) || !productsAlign(in[0].shape, *shape))
    return fail(n, "a dim that is a product of a symbolic dim meets another dim");
  define(n,
         "where(" + tensorName(in[0]) + ", " + tensorName(in[1]) + ", " + tensorName(in[2]) + ")",
         *shape, in[1].integer);
}

void Importer::clip(const onnx::NodeProto &n) {
  std::vector<Known> in;
  if (!operands(n, in, 1))
    return;
  std::string bounds;
  if (opset_ < 11) {
    if (attribute(n, "min"))
      bounds += ", min=" + number(floatAttr(n, "min", 0));
    if (attribute(n, "max"))
      bounds += ", max=" + number(floatAttr(n, "max", 0));
  } else {
    const char *names[] = {"min", "max"};
    for (size_t k = 1; k < 3 && k < in.size(); ++k) {
      if (in[k].name.empty())
        continue;
      std::optional<std::string> v = scalarOf(in[k]);
      if (!v)
        return fail(n, std::string(names[k - 1]) + " must be a constant scalar");
      bounds += std::string(", ") + names[k - 1] + "=" + *v;
    }
  }
  define(n, "clip(" + tensorName(in[0]) + bounds + ")", in[0].shape);
}

} // namespace nnc::onnximport
