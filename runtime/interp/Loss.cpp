/// Reference kernels of the losses (sse, mse, bce, softmax_cross_entropy):
/// f32[] scalars accumulated in double; and their gradient ops.
#include "runtime/Interpreter.h"
#include "ir/InternalError.h"
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
    NNC_UNREACHABLE("{} is not an element-wise loss", opInfo(op).name);
  }
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
  int64_t classes = logits.dim(logits.rank() - 1), rows = labels.numel();
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

/// PyTorch's BCELoss backward divides by max(p (1 - p), this).
constexpr double kBceGradEps = 1e-12;

/// sse_grad, mse_grad, bce_grad (pred, target, dloss) -> d/dpred.
void elementwiseLossGrad(KernelCall &call) {
  const Tensor &pred = *call.inputs[0];
  const Tensor &target = *call.inputs[1];
  double dl = call.inputs[2]->f32()[0];
  double n = static_cast<double>(pred.numel());
  for (int64_t i = 0; i < pred.numel(); ++i) {
    double p = pred.f32()[i], t = target.f32()[i], r = 0;
    switch (call.node.op) {
    case OpKind::SseGrad:
      r = dl * (p - t);
      break;
    case OpKind::MseGrad:
      r = dl * 2.0 * (p - t) / n;
      break;
    default: // BceGrad
      r = dl * (p - t) / std::max(p * (1.0 - p), kBceGradEps) / n;
      break;
    }
    call.output.f32()[i] = static_cast<float>(r);
  }
}

/// softmax_cross_entropy_grad (logits, labels, dloss):
/// dloss (softmax(logits) - onehot(label)) / N, with the forward's label
/// check.
Status softmaxCrossEntropyGrad(KernelCall &call) {
  const Tensor &logits = *call.inputs[0];
  const Tensor &labels = *call.inputs[1];
  double dl = call.inputs[2]->f32()[0];
  int64_t classes = logits.dim(logits.rank() - 1), rows = labels.numel();
  for (int64_t r = 0; r < rows; ++r) {
    int32_t label = labels.i32()[r];
    if (label < 0 || label >= classes)
      return Status::failAt(call.node.loc,
                            "softmax_cross_entropy_grad: label {} in row {} is outside [0, {})",
                            label, r, classes);
    const float *row = logits.f32() + r * classes;
    double mx = -std::numeric_limits<double>::infinity();
    for (int64_t k = 0; k < classes; ++k)
      mx = std::isnan(row[k]) || row[k] > mx ? row[k] : mx;
    double sum = 0;
    for (int64_t k = 0; k < classes; ++k)
      sum += std::exp(row[k] - mx);
    for (int64_t k = 0; k < classes; ++k) {
      double p = std::exp(row[k] - mx) / sum - (k == label ? 1.0 : 0.0);
      call.output.f32()[r * classes + k] = static_cast<float>(dl * p / static_cast<double>(rows));
    }
  }
  return Ok{};
}

} // namespace

Status evalLoss(KernelCall &call) {
  switch (call.node.op) {
  case OpKind::SseGrad:
  case OpKind::MseGrad:
  case OpKind::BceGrad:
    elementwiseLossGrad(call);
    return Ok{};
  case OpKind::SoftmaxCrossEntropyGrad:
    return softmaxCrossEntropyGrad(call);
  case OpKind::Sse:
  case OpKind::Mse:
  case OpKind::Bce:
    call.output.f32()[0] = static_cast<float>(elementwiseLoss(call));
    return Ok{};
  case OpKind::SoftmaxCrossEntropy:
    return softmaxCrossEntropy(call);
  default:
    NNC_UNHANDLED_OP(call.node, "interpreter kernel");
  }
}

} // namespace nnc
