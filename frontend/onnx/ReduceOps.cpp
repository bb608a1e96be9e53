/// The ONNX importer's reductions: ReduceSum, ReduceMean, ReduceMax,
/// Softmax and LogSoftmax, GlobalAveragePool.
#include "frontend/onnx/Importer.h"
#include "frontend/onnx/TensorProto.h"
#include "ir/Printer.h"

#include <fmt/format.h>

namespace nnc::onnximport {

void Importer::reduce(const onnx::NodeProto &n) {
  std::vector<Known> in;
  if (!operands(n, in, 1))
    return;
  std::optional<std::vector<int64_t>> axes = constantInts(n, in, 1, "axes");
  if (!axes)
    return;
  if (axes->empty() && intAttr(n, "noop_with_empty_axes", 0) != 0) {
    known_[n.output(0)] = in[0];
    return;
  }
  bool keep = intAttr(n, "keepdims", 1) != 0;
  size_t rank = in[0].shape.size();
  std::vector<bool> reduced(rank, axes->empty());
  for (int64_t a : *axes) {
    std::optional<int64_t> axis = axisIn(n, a, rank);
    if (!axis)
      return;
    reduced[static_cast<size_t>(*axis)] = true;
  }
  Dims out;
  std::string list;
  for (size_t i = 0; i < rank; ++i) {
    if (reduced[i]) {
      list += (list.empty() ? "" : ", ") + std::to_string(i);
      if (keep)
        out.push_back("1");
    } else {
      out.push_back(in[0].shape[i]);
    }
  }
  static const std::map<std::string, std::string> names = {
      {"ReduceMean", "mean"}, {"ReduceSum", "sum"}, {"ReduceMax", "max"}};
  define(n,
         fmt::format("{}({}, axes=[{}], keepdims={})", names.at(n.op_type()), tensorName(in[0]),
                     list, keep),
         out);
}

/// Softmax and LogSoftmax along `axis` (from opset 13); before, the input
/// flattened at `axis` into rows: a reshape to [rows..., width] around
/// nnc's softmax when the dims from `axis` on are several (and static).
void Importer::softmax(const onnx::NodeProto &n) {
  std::vector<Known> in;
  if (!operands(n, in, 1))
    return;
  const Dims &shape = in[0].shape;
  std::optional<int64_t> axis = axisIn(n, intAttr(n, "axis", opset_ >= 13 ? -1 : 1), shape.size());
  if (!axis)
    return;
  const char *op = n.op_type() == "Softmax" ? "softmax" : "log_softmax";
  auto first = static_cast<size_t>(*axis);
  if (opset_ < 13 && first + 1 < shape.size()) {
    std::optional<int64_t> width = product(shape, first, shape.size());
    if (!width)
      return fail(n, "the flattened dims " + dimsText(Dims(shape.begin() + *axis, shape.end())) +
                         " must be static (opset < 13)");
    Dims rows(shape.begin(), shape.begin() + *axis);
    rows.push_back(std::to_string(*width));
    return define(n,
                  fmt::format("reshape({}(reshape({}, shape={}), axis=-1), shape={})", op,
                              tensorName(in[0]), dimsText(rows), dimsText(shape)),
                  shape);
  }
  if (isProduct(shape[first]))
    return fail(n, "the axis is a product of a symbolic dim");
  define(n, fmt::format("{}({}, axis={})", op, tensorName(in[0]), nncAxis(shape, first)), shape);
}

void Importer::globalAveragePool(const onnx::NodeProto &n) {
  std::vector<Known> in;
  if (!operands(n, in, 1))
    return;
  if (in[0].shape.size() != 4)
    return fail(n, "needs an input of rank 4");
  define(n, "mean(" + tensorName(in[0]) + ", axes=[2, 3], keepdims=true)",
         {in[0].shape[0], in[0].shape[1], "1", "1"});
}

} // namespace nnc::onnximport
