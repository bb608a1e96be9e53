/// The ONNX importer's activations that nnc has no op for, each written as
/// the nnc ops it is (IR.md section 7): Elu, Selu, HardSigmoid, HardSwish,
/// Softsign, PRelu, and the variadic Sum and Mean.
#include "frontend/onnx/Importer.h"
#include "ir/Printer.h"

#include <fmt/format.h>

namespace nnc::onnximport {

namespace {

/// elu(x) for alpha > 0: x above 0, alpha (exp(x) - 1) below; the second
/// part is negative exactly where x is, so minimum(..., 0) picks it.
std::string eluOf(const std::string &x, const std::string &alpha) {
  return fmt::format("add(relu({0}), minimum(mul(sub(exp({0}), 1), {1}), 0))", x, alpha);
}

} // namespace

void Importer::activation(const onnx::NodeProto &n) {
  std::vector<Known> in;
  if (!operands(n, in, 1))
    return;
  const std::string &op = n.op_type();
  std::string x = tensorName(in[0]);
  std::string expr;
  if (op == "Elu" || op == "Selu") {
    float alpha = floatAttr(n, "alpha", op == "Elu" ? 1.0f : 1.67326319217681884765625f);
    if (!(alpha > 0))
      return fail(n, "alpha must be positive");
    expr = eluOf(x, number(alpha));
    if (op == "Selu")
      expr = fmt::format("mul({}, {})", expr,
                         number(floatAttr(n, "gamma", 1.05070102214813232421875f)));
  } else if (op == "HardSigmoid") {
    expr = fmt::format("clip(add(mul({}, {}), {}), min=0, max=1)", x,
                       number(floatAttr(n, "alpha", 0.2f)), number(floatAttr(n, "beta", 0.5f)));
  } else if (op == "HardSwish") {
    expr = fmt::format("mul({0}, clip(add(div({0}, 6), 0.5), min=0, max=1))", x);
  } else if (op == "Softsign") {
    expr = fmt::format("div({0}, add(abs({0}), 1))", x);
  }
  define(n, expr, in[0].shape);
}

/// PRelu(x, slope): x above 0, slope * x below (slope broadcasts; a slope
/// of one value per channel, which PyTorch exports at opset 6, applies
/// along axis 1).
void Importer::prelu(const onnx::NodeProto &n) {
  std::vector<Known> in;
  if (!operands(n, in, 2))
    return;
  const Dims &x = in[0].shape, &s = in[1].shape;
  std::string slope = tensorName(in[1]);
  std::optional<Dims> shape = broadcast(x, s);
  if ((!shape || *shape != x) && s.size() == 1 && x.size() > 2 && s[0] == x[1]) {
    Dims perChannel(x.size() - 1, "1");
    perChannel[0] = x[1];
    slope = "reshape(" + slope + ", shape=" + dimsText(perChannel) + ")";
    shape = x;
  }
  if (!shape || *shape != x)
    return fail(n, "the slope does not broadcast to the input");
  define(n, fmt::format("add(relu({0}), mul({1}, minimum({0}, 0)))", tensorName(in[0]), slope), x);
}

/// Sum and Mean of any number of operands (broadcasting): a chain of add,
/// divided by the count for Mean.
void Importer::variadicSum(const onnx::NodeProto &n) {
  std::vector<Known> in;
  if (!operands(n, in, 1))
    return;
  if (in.size() == 1) {
    known_[n.output(0)] = in[0];
    return;
  }
  auto sum = chain(n, in, "add");
  if (!sum)
    return;
  auto [expr, shape] = *sum;
  define(n, n.op_type() == "Mean" ? fmt::format("div({}, {})", expr, in.size()) : expr, shape);
}

std::optional<std::pair<std::string, Dims>>
Importer::chain(const onnx::NodeProto &n, std::vector<Known> &in, const char *op) {
  std::string expr = tensorName(in[0]);
  Dims shape = in[0].shape;
  for (size_t i = 1; i < in.size(); ++i) {
    std::optional<Dims> both = broadcast(shape, in[i].shape);
    if (!both) {
      fail(n, "the operands' shapes do not broadcast");
      return std::nullopt;
    }
    shape = *both;
    expr = std::string(op) + "(" + expr + ", " + tensorName(in[i]) + ")";
  }
  return std::pair{expr, shape};
}

} // namespace nnc::onnximport
