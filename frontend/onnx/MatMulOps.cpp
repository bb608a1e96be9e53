/// The ONNX importer's MatMul and Gemm.
#include "frontend/onnx/Importer.h"
#include "frontend/onnx/TensorProto.h"
#include "ir/Printer.h"

#include <fmt/format.h>

namespace nnc::onnximport {

void Importer::matMul(const onnx::NodeProto &n) {
  std::vector<Known> in;
  if (!operands(n, in, 2))
    return;
  const Dims &a = in[0].shape, &b = in[1].shape;
  if (a.size() < 2 || b.size() < 2)
    return fail(n, "1-D operands are not supported");
  if (hasProduct({a.end() - 2, a.end()}) || hasProduct({b.end() - 2, b.end()}))
    return fail(n, "a matrix dim is a product of a symbolic dim");
  Dims lead(a.begin(), a.end() - 2), leadB(b.begin(), b.end() - 2);
  if (!productsAlign(lead, leadB))
    return fail(n, "a batch dim that is a product of a symbolic dim meets another dim");
  std::optional<Dims> batch = broadcast(lead, leadB);
  if (!batch)
    return fail(n, "the batch dims do not broadcast");
  Dims out = *batch;
  out.push_back(a[a.size() - 2]);
  out.push_back(b.back());
  define(n, "matmul(" + tensorName(in[0]) + ", " + tensorName(in[1]) + ")", out);
}

void Importer::gemm(const onnx::NodeProto &n) {
  std::vector<Known> in;
  if (!operands(n, in, 2))
    return;
  bool ta = intAttr(n, "transA", 0) != 0, tb = intAttr(n, "transB", 0) != 0;
  float alpha = floatAttr(n, "alpha", 1), beta = floatAttr(n, "beta", 1);
  const Dims &a = in[0].shape, &b = in[1].shape;
  if (a.size() != 2 || b.size() != 2)
    return fail(n, "A and B must have rank 2");
  if ((ta && hasProduct(a)) || hasProduct(b))
    return fail(n, "a transposed or B operand with a dim that is a product of a symbolic dim");
  Dims out = {ta ? a[1] : a[0], tb ? b[0] : b[1]};
  std::string expr = fmt::format("matmul({}, {}, transpose_a={}, transpose_b={})",
                                 tensorName(in[0]), tensorName(in[1]), ta, tb);
  if (alpha != 1)
    expr = fmt::format("mul({}, {})", expr, number(alpha));
  if (in.size() > 2 && !in[2].name.empty()) {
    std::string c =
        beta == 1 ? tensorName(in[2]) : fmt::format("mul({}, {})", tensorName(in[2]), number(beta));
    expr = fmt::format("add({}, {})", expr, c);
  }
  define(n, expr, out);
}

} // namespace nnc::onnximport
