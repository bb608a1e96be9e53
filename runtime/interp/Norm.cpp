/// Reference kernels of layernorm over the last axis (biased variance, eps
/// inside the square root, then gamma and beta) and of its gradient ops.
#include "runtime/Interpreter.h"
#include "ir/InternalError.h"
#include "runtime/interp/Common.h"

#include <cmath>
#include <vector>

namespace nnc {

namespace {

/// One row's mean and 1 / sqrt(var + eps), in double.
struct RowStats {
  double mean = 0, rstd = 0;
};

RowStats rowStats(const float *in, int64_t width, double eps) {
  double mean = 0;
  for (int64_t i = 0; i < width; ++i)
    mean += in[i];
  mean /= static_cast<double>(width);
  double var = 0;
  for (int64_t i = 0; i < width; ++i)
    var += (in[i] - mean) * (in[i] - mean);
  var /= static_cast<double>(width);
  return RowStats{mean, 1.0 / std::sqrt(var + eps)};
}

Status evalLayerNorm(KernelCall &call) {
  const Tensor &x = *call.inputs[0];
  const float *gamma = call.inputs[1]->f32();
  const float *beta = call.inputs[2]->f32();
  double eps = call.attr("eps").number;
  int64_t width = x.dim(x.rank() - 1);
  if (width == 0)
    return Ok{};
  for (int64_t row = 0; row < x.numel() / width; ++row) {
    const float *in = x.f32() + row * width;
    float *out = call.output.f32() + row * width;
    RowStats s = rowStats(in, width, eps);
    for (int64_t i = 0; i < width; ++i)
      out[i] = static_cast<float>((in[i] - s.mean) * s.rstd * gamma[i] + beta[i]);
  }
  return Ok{};
}

/// layernorm_grad (x, gamma, dy) -> dx. Per row, with xhat = (x - mean) rstd
/// and g = dy gamma: dx = rstd (g - mean(g) - xhat mean(g xhat)).
Status evalLayerNormGrad(KernelCall &call) {
  const Tensor &x = *call.inputs[0];
  const float *gamma = call.inputs[1]->f32();
  const float *dy = call.inputs[2]->f32();
  double eps = call.attr("eps").number;
  int64_t width = x.dim(x.rank() - 1);
  if (width == 0)
    return Ok{};
  std::vector<double> xhat(static_cast<size_t>(width)), g(static_cast<size_t>(width));
  for (int64_t row = 0; row < x.numel() / width; ++row) {
    const float *in = x.f32() + row * width;
    const float *d = dy + row * width;
    float *out = call.output.f32() + row * width;
    RowStats s = rowStats(in, width, eps);
    double meanG = 0, meanGXhat = 0;
    for (int64_t i = 0; i < width; ++i) {
      size_t k = static_cast<size_t>(i);
      xhat[k] = (in[i] - s.mean) * s.rstd;
      g[k] = static_cast<double>(d[i]) * gamma[i];
      meanG += g[k];
      meanGXhat += g[k] * xhat[k];
    }
    meanG /= static_cast<double>(width);
    meanGXhat /= static_cast<double>(width);
    for (int64_t i = 0; i < width; ++i) {
      size_t k = static_cast<size_t>(i);
      out[i] = static_cast<float>(s.rstd * (g[k] - meanG - xhat[k] * meanGXhat));
    }
  }
  return Ok{};
}

/// layernorm_gamma_grad (x, dy) -> dgamma [D]: the sum over rows of dy xhat.
Status evalLayerNormGammaGrad(KernelCall &call) {
  const Tensor &x = *call.inputs[0];
  const float *dy = call.inputs[1]->f32();
  double eps = call.attr("eps").number;
  int64_t width = x.dim(x.rank() - 1);
  std::vector<double> acc(static_cast<size_t>(width), 0.0);
  if (width > 0)
    for (int64_t row = 0; row < x.numel() / width; ++row) {
      const float *in = x.f32() + row * width;
      RowStats s = rowStats(in, width, eps);
      for (int64_t i = 0; i < width; ++i)
        acc[static_cast<size_t>(i)] +=
            static_cast<double>(dy[row * width + i]) * ((in[i] - s.mean) * s.rstd);
    }
  for (int64_t i = 0; i < width; ++i)
    call.output.f32()[i] = static_cast<float>(acc[static_cast<size_t>(i)]);
  return Ok{};
}

/// A fused op on x + r: the kernel of the op it stands for, with the sum
/// (rounded to f32, as add gives it) in place of x + r.
Status evalOnSum(KernelCall &call, Status (*kernel)(KernelCall &)) {
  const Tensor &x = *call.inputs[0];
  const Tensor &r = *call.inputs[1];
  Tensor sum(DType::F32, x.shape());
  for (int64_t i = 0; i < x.numel(); ++i)
    sum.f32()[i] = x.f32()[i] + r.f32()[i];
  std::vector<const Tensor *> inputs(call.inputs.begin() + 1, call.inputs.end());
  inputs[0] = &sum;
  KernelCall inner{call.graph, call.node, std::move(inputs), call.output};
  return kernel(inner);
}

} // namespace

Status evalNorm(KernelCall &call) {
  switch (call.node.op) {
  case OpKind::FusedAddLayerNorm:
    return evalOnSum(call, evalLayerNorm);
  case OpKind::FusedAddLayerNormGrad:
    return evalOnSum(call, evalLayerNormGrad);
  case OpKind::FusedAddLayerNormGammaGrad:
    return evalOnSum(call, evalLayerNormGammaGrad);
  case OpKind::LayerNorm:
    return evalLayerNorm(call);
  case OpKind::LayerNormGrad:
    return evalLayerNormGrad(call);
  case OpKind::LayerNormGammaGrad:
    return evalLayerNormGammaGrad(call);
  default:
    NNC_UNHANDLED_OP(call.node, "interpreter kernel");
  }
}

} // namespace nnc
