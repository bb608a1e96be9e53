/// Reference kernels of the losses (sse, mse, bce, softmax_cross_entropy):
/// f32[] scalars accumulated in double.
#include "runtime/Interpreter.h"
#include "runtime/interp/Common.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace nnc {

namespace {

/// PyTorch's BCELoss clamps each log term at -100, so p = 0 or 1 stays finite.
constexpr double kLogClamp = -100.0;

/// One element's term of an element-wise loss, before summing.
double lossTerm(OpKind op, double p, double t) {
  switch (op) {
  case OpKind::Sse:
  case OpKind::Mse:
    return (p - t) * (p - t);
  case OpKind::Bce:
    // std::max keeps a NaN log (first operand), as PyTorch does.
    return -(t * std::max(std::log(p), kLogClamp) + (1 - t) * std::max(std::log1p(-p), kLogClamp));
  default:
    break;
  }
  return 0;
}

/// sse = 1/2 sum, mse and bce = mean, of the element terms.
double elementwiseLoss(const KernelCall &call) {
  const Tensor &pred = *call.inputs[0];
  const Tensor &target = *call.inputs[1];
  OpKind op = call.node.op;
  double sum = 0;
  for (int64_t i = 0; i < pred.numel(); ++i)
    sum += lossTerm(op, pred.f32()[i], target.f32()[i]);
  if (op == OpKind::Sse)
    return 0.5 * sum;
  return sum / static_cast<double>(pred.numel()); // 0 / 0 = NaN when empty
}

/// -log softmax(row)[label] of one row of logits.
double crossEntropyRow(const float *row, int64_t classes, int32_t label) {
  double mx = -std::numeric_limits<double>::infinity();
  for (int64_t k = 0; k < classes; ++k)
    mx = std::isnan(row[k]) || row[k] > mx ? row[k] : mx;
  double sum = 0;
  for (int64_t k = 0; k < classes; ++k)
    sum += std::exp(row[k] - mx);
  return -(row[label] - mx - std::log(sum));
}

/// The mean over rows of -log softmax(logits)[label]; a label outside
/// [0, K) is an error at the node.
Status softmaxCrossEntropy(KernelCall &call) {
  const Tensor &logits = *call.inputs[0];
  const Tensor &labels = *call.inputs[1];
  int64_t rows = logits.dim(0), classes = logits.dim(1);
  double sum = 0;
  for (int64_t r = 0; r < rows; ++r) {
    int32_t label = labels.i32()[r];
    if (label < 0 || label >= classes)
      return Status::failAt(call.node.loc,
                            "softmax_cross_entropy: label {} in row {} is outside [0, {})", label,
                            r, classes);
    sum += crossEntropyRow(logits.f32() + r * classes, classes, label);
  }
  call.output.f32()[0] = static_cast<float>(sum / static_cast<double>(rows));
  return Ok{};
}

} // namespace

Status evalLoss(KernelCall &call) {
  switch (call.node.op) {
  case OpKind::Sse:
  case OpKind::Mse:
  case OpKind::Bce:
    call.output.f32()[0] = static_cast<float>(elementwiseLoss(call));
    return Ok{};
  case OpKind::SoftmaxCrossEntropy:
    return softmaxCrossEntropy(call);
  default:
    return noKernel(call);
  }
}

} // namespace nnc
