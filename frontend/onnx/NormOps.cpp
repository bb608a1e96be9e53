/// The ONNX importer's normalizations: BatchNormalization (inference,
/// given statistics, training mode) and LayerNormalization.
#include "frontend/onnx/Importer.h"
#include "frontend/onnx/TensorProto.h"
#include "ir/Printer.h"

#include <fmt/format.h>

namespace nnc::onnximport {

void Importer::batchNorm(const onnx::NodeProto &n) {
  std::vector<Known> in;
  if (!operands(n, in, 5))
    return;
  if (intAttr(n, "training_mode", 0) != 0)
    return batchNormTraining(n, in);
  for (int k = 1; k < n.output_size(); ++k)
    if (!n.output(k).empty())
      return fail(n, "the extra outputs are for training_mode=1");
  bool statesOk = true;
  for (size_t k = 1; k < 5; ++k)
    statesOk = statesOk && initializers_.count(n.input(static_cast<int>(k))) && !in[k].integer &&
               in[k].shape.size() == 1;
  if (!statesOk) // computed or given statistics: inference's formula, element-wise
    return batchNormFormula(n, in);
  // ONNX's momentum weighs the old statistic, torch's (and nnc's) the new.
  define(n,
         fmt::format("batchnorm({}, {}, {}, {}, {}, momentum={}, eps={})", tensorName(in[0]),
                     tensorName(in[1]), tensorName(in[2]), tensorName(in[3]), tensorName(in[4]),
                     number(1 - floatAttr(n, "momentum", 0.9f)),
                     number(floatAttr(n, "epsilon", 1e-5f))),
         in[0].shape);
}

/// Inference batch norm as element-wise ops, for statistics, scale or bias
/// that are not initializers: (x - mean) / sqrt(var + eps) * scale + bias,
/// each [C] operand reshaped to [C, 1, ...] to broadcast along axis 1.
void Importer::batchNormFormula(const onnx::NodeProto &n, std::vector<Known> &in) {
  const Dims &shape = in[0].shape;
  if (shape.size() < 2)
    return fail(n, "needs an input of rank 2 or more");
  Dims perChannel(shape.size() - 1, "1");
  perChannel[0] = shape[1];
  std::string v[5];
  for (size_t k = 1; k < 5; ++k) {
    if (in[k].integer || in[k].shape.size() != 1 || in[k].shape[0] != shape[1])
      return fail(n, "scale, bias, mean and var must be f32 vectors of the channel count");
    v[k] = "reshape(" + tensorName(in[k]) + ", shape=" + dimsText(perChannel) + ")";
  }
  define(n,
         fmt::format("add(mul(div(sub({}, {}), sqrt(add({}, {}))), {}), {})", tensorName(in[0]),
                     v[3], v[4], number(floatAttr(n, "epsilon", 1e-5f)), v[1], v[2]),
         shape);
}

/// BatchNormalization in training mode: Y with the batch's statistics
/// (nnc's batchnorm_train); the new running statistics, if asked for, by
/// ONNX's rule: old * momentum + batch * (1 - momentum), the batch's
/// variance biased (torch's, and nnc's batchnorm_running_var, unbiased).
void Importer::batchNormTraining(const onnx::NodeProto &n, std::vector<Known> &in) {
  const Dims &shape = in[0].shape;
  if (shape.size() < 2)
    return fail(n, "needs an input of rank 2 or more");
  float eps = floatAttr(n, "epsilon", 1e-5f), momentum = floatAttr(n, "momentum", 0.9f);
  std::string x = tensorName(in[0]);
  define(n,
         fmt::format("batchnorm_train({}, {}, {}, eps={})", x, tensorName(in[1]), tensorName(in[2]),
                     number(eps)),
         shape);
  std::string axes;
  for (size_t a = 0; a < shape.size(); ++a)
    if (a != 1)
      axes += (axes.empty() ? "" : ", ") + std::to_string(a);
  Dims perChannel(shape.size() - 1, "1");
  perChannel[0] = shape[1];
  auto blend = [&](const std::string &old, const std::string &batch) {
    return fmt::format("add(mul({}, {}), mul({}, {}))", old, number(momentum), batch,
                       number(1 - momentum));
  };
  std::string mean = fmt::format("mean({}, axes=[{}])", x, axes);
  if (n.output_size() > 1 && !n.output(1).empty())
    defineOutput(n, 1, blend(tensorName(in[3]), mean), {shape[1]}, false);
  if (n.output_size() > 2 && !n.output(2).empty()) {
    std::string centered = fresh(n.output(2) + "_centered");
    body_ += "  " + centered + " = sub(" + x + ", reshape(" + mean +
             ", shape=" + dimsText(perChannel) + "))\n";
    defineOutput(
        n, 2,
        blend(tensorName(in[4]), fmt::format("mean(mul({0}, {0}), axes=[{1}])", centered, axes)),
        {shape[1]}, false);
  }
}

/// LayerNormalization(x, scale, bias, axis=-1): nnc's layernorm over the
/// dims from `axis` on, flattened into one when there are several (they must
/// be static); no bias is zeros. The optional Mean and InvStdDev outputs
/// (the statistics per normalized row, keeping x's rank) are computed
/// beside it with mean, sub, mul and sqrt.
void Importer::layerNorm(const onnx::NodeProto &n) {
  std::vector<Known> in;
  if (!operands(n, in, 2))
    return;
  const Dims &shape = in[0].shape;
  std::optional<int64_t> axis = axisIn(n, intAttr(n, "axis", -1), shape.size());
  if (!axis)
    return;
  auto first = static_cast<size_t>(*axis);
  std::optional<int64_t> width = product(shape, first, shape.size());
  if (!width)
    return fail(n, "the normalized dims " + dimsText(Dims(shape.begin() + *axis, shape.end())) +
                       " must be static");
  bool flatten = first + 1 != shape.size();
  Dims rows(shape.begin(), shape.begin() + *axis), flat = rows, statistics = rows;
  flat.push_back(std::to_string(*width));
  statistics.insert(statistics.end(), shape.size() - first, "1");
  std::string widthText = "[" + std::to_string(*width) + "]";
  auto temp = [&](const std::string &suffix, const std::string &expr) {
    std::string name = fresh(n.output(0) + suffix);
    body_ += "  " + name + " = " + expr + "\n";
    return name;
  };
  std::string x = tensorName(in[0]), gamma = tensorName(in[1]), beta;
  if (flatten) {
    x = temp("_rows", "reshape(" + x + ", shape=" + dimsText(flat) + ")");
    gamma = "reshape(" + gamma + ", shape=" + widthText + ")";
  }
  if (in.size() > 2 && !in[2].name.empty()) {
    beta = tensorName(in[2]);
    if (flatten)
      beta = "reshape(" + beta + ", shape=" + widthText + ")";
  } else {
    beta = fresh(n.output(0) + "_no_bias");
    decls_ += "  const " + beta + ": f32" + widthText + " = zeros()\n";
  }
  float eps = floatAttr(n, "epsilon", 1e-5f);
  std::string y = fmt::format("layernorm({}, {}, {}, eps={})", x, gamma, beta, number(eps));
  if (flatten)
    y = "reshape(" + y + ", shape=" + dimsText(shape) + ")";
  define(n, y, shape);
  bool wantMean = n.output_size() > 1 && !n.output(1).empty();
  bool wantInvStd = n.output_size() > 2 && !n.output(2).empty();
  if (!wantMean && !wantInvStd)
    return;
  std::string mean = temp("_mean", "mean(" + x + ", axes=[-1], keepdims=true)");
  if (wantMean)
    defineOutput(n, 1, "reshape(" + mean + ", shape=" + dimsText(statistics) + ")", statistics,
                 false);
  if (wantInvStd) {
    std::string centered = temp("_centered", "sub(" + x + ", " + mean + ")");
    defineOutput(n, 2,
                 fmt::format("reshape(div(1, sqrt(add(mean(mul({0}, {0}), axes=[-1], "
                             "keepdims=true), {1}))), shape={2})",
                             centered, number(eps), dimsText(statistics)),
                 statistics, false);
  }
}

} // namespace nnc::onnximport
