/// Reference kernels of layernorm over the last axis (biased variance, eps
/// inside the square root, then gamma and beta) and of its gradient ops;
/// of batchnorm per channel (axis 1 of [N, C, ...]) in inference and
/// training mode, the running statistics' updates and the gradients.
#include "runtime/Interpreter.h"
#include "ir/InternalError.h"
#include "ir/NodeAttrs.h"
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

/// x [N, C, ...] seen per channel: element s of sample n of channel c is at
/// (n C + c) S + s, with S the product of the axes after 1.
struct Channels {
  int64_t n, c, s;
  explicit Channels(const Tensor &x) : n(x.dim(0)), c(x.dim(1)), s(1) {
    for (size_t a = 2; a < x.rank(); ++a)
      s *= x.dim(a);
  }
  int64_t at(int64_t sample, int64_t channel, int64_t k) const {
    return (sample * c + channel) * s + k;
  }
  /// f(index) over channel `channel`'s elements, in order.
  template <typename F> void forEach(int64_t channel, F f) const {
    for (int64_t i = 0; i < n; ++i)
      for (int64_t k = 0; k < s; ++k)
        f(at(i, channel, k));
  }
  int64_t count() const { return n * s; }
};

/// One channel's mean and biased variance, in double.
struct ChannelStats {
  double mean = 0, var = 0;
};

ChannelStats channelStats(const Tensor &x, const Channels &ch, int64_t c) {
  ChannelStats st;
  double m = static_cast<double>(ch.count());
  if (m == 0)
    return st;
  ch.forEach(c, [&](int64_t i) { st.mean += x.f32()[i]; });
  st.mean /= m;
  ch.forEach(c, [&](int64_t i) { st.var += (x.f32()[i] - st.mean) * (x.f32()[i] - st.mean); });
  st.var /= m;
  return st;
}

/// batchnorm (x, gamma, beta, running_mean, running_var): inference mode.
Status evalBatchNorm(KernelCall &call) {
  const Tensor &x = *call.inputs[0];
  const float *gamma = call.inputs[1]->f32(), *beta = call.inputs[2]->f32();
  const float *mean = call.inputs[3]->f32(), *var = call.inputs[4]->f32();
  double eps = attr::eps(call.node);
  Channels ch(x);
  for (int64_t c = 0; c < ch.c; ++c) {
    double scale = gamma[c] / std::sqrt(var[c] + eps);
    ch.forEach(c, [&](int64_t i) {
      call.output.f32()[i] = static_cast<float>((x.f32()[i] - mean[c]) * scale + beta[c]);
    });
  }
  return Ok{};
}

/// batchnorm_train (x, gamma, beta): normalized with the batch's statistics.
Status evalBatchNormTrain(KernelCall &call) {
  const Tensor &x = *call.inputs[0];
  const float *gamma = call.inputs[1]->f32(), *beta = call.inputs[2]->f32();
  double eps = attr::eps(call.node);
  Channels ch(x);
  for (int64_t c = 0; c < ch.c; ++c) {
    ChannelStats st = channelStats(x, ch, c);
    double rstd = 1.0 / std::sqrt(st.var + eps);
    ch.forEach(c, [&](int64_t i) {
      call.output.f32()[i] = static_cast<float>((x.f32()[i] - st.mean) * rstd * gamma[c] + beta[c]);
    });
  }
  return Ok{};
}

/// batchnorm_running_mean / _var (x, running): (1 - m) running + m stat,
/// the variance unbiased (as torch.nn.BatchNorm2d updates it).
Status evalBatchNormRunning(KernelCall &call) {
  const Tensor &x = *call.inputs[0];
  const float *running = call.inputs[1]->f32();
  double momentum = attr::momentum(call.node);
  Channels ch(x);
  double m = static_cast<double>(ch.count());
  for (int64_t c = 0; c < ch.c; ++c) {
    ChannelStats st = channelStats(x, ch, c);
    // One element per channel has no unbiased variance (torch refuses to
    // train on it): its biased one, 0, is used.
    double stat = call.node.op == OpKind::BatchNormRunningMean ? st.mean
                  : m > 1                                      ? st.var * m / (m - 1)
                                                               : st.var;
    call.output.f32()[c] = static_cast<float>((1 - momentum) * running[c] + momentum * stat);
  }
  return Ok{};
}

/// batchnorm_grad (x, gamma, dy) -> dx and batchnorm_gamma_grad (x, dy) ->
/// dgamma, with the batch's statistics. Per channel, with xhat = (x - mean)
/// rstd and g = dy gamma: dx = rstd (g - mean(g) - xhat mean(g xhat)) and
/// dgamma = sum(dy xhat).
Status evalBatchNormGrads(KernelCall &call) {
  const Tensor &x = *call.inputs[0];
  bool dx = call.node.op == OpKind::BatchNormGrad;
  const float *gamma = dx ? call.inputs[1]->f32() : nullptr;
  const float *dy = call.inputs.back()->f32();
  double eps = attr::eps(call.node);
  Channels ch(x);
  double m = static_cast<double>(ch.count());
  for (int64_t c = 0; c < ch.c; ++c) {
    ChannelStats st = channelStats(x, ch, c);
    double rstd = 1.0 / std::sqrt(st.var + eps);
    auto xhat = [&](int64_t i) { return (x.f32()[i] - st.mean) * rstd; };
    double sumDy = 0, sumDyXhat = 0;
    ch.forEach(c, [&](int64_t i) {
      sumDy += dy[i];
      sumDyXhat += dy[i] * xhat(i);
    });
    if (!dx) {
      call.output.f32()[c] = static_cast<float>(sumDyXhat);
      continue;
    }
    ch.forEach(c, [&](int64_t i) {
      double g = dy[i] * static_cast<double>(gamma[c]);
      call.output.f32()[i] = static_cast<float>(
          rstd * (g - gamma[c] * sumDy / m - xhat(i) * gamma[c] * sumDyXhat / m));
    });
  }
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
  case OpKind::BatchNorm:
    return evalBatchNorm(call);
  case OpKind::BatchNormTrain:
    return evalBatchNormTrain(call);
  case OpKind::BatchNormRunningMean:
  case OpKind::BatchNormRunningVar:
    return evalBatchNormRunning(call);
  case OpKind::BatchNormGrad:
  case OpKind::BatchNormGammaGrad:
    return evalBatchNormGrads(call);
  default:
    NNC_UNHANDLED_OP(call.node, "interpreter kernel");
  }
}

} // namespace nnc
