/// Reference kernels of conv2d (NCHW, [F, C, KH, KW] filters, cross-
/// correlation with stride and zero padding) and of max and average pooling,
/// and of their gradient ops.
#include "ir/Activation.h"
#include "ir/NodeAttrs.h"
#include "runtime/Bf16.h"
#include "runtime/Interpreter.h"
#include "ir/InternalError.h"
#include "runtime/interp/Common.h"

#include <cmath>
#include <limits>

namespace nnc {

namespace {

/// The index of element (n, c, h, w) of an NCHW tensor.
int64_t nchwIndex(const Tensor &t, int64_t n, int64_t c, int64_t h, int64_t w) {
  return ((n * t.dim(1) + c) * t.dim(2) + h) * t.dim(3) + w;
}

/// Element (n, c, h, w) of an NCHW tensor.
float nchw(const Tensor &t, int64_t n, int64_t c, int64_t h, int64_t w) {
  return t.f32()[nchwIndex(t, n, c, h, w)];
}

/// A window's geometry: extent, stride and padding, each as [h, w].
struct Window {
  std::vector<int64_t> kernel, stride, pad;
};

/// The sum over channels and the window at output position (oh, ow) of
/// batch n and filter f, plus the bias; taps in the padding read zero.
double convolveAt(const KernelCall &call, const Window &win, int64_t n, int64_t f, int64_t oh,
                  int64_t ow) {
  const Tensor &x = *call.inputs[0];
  const Tensor &w = *call.inputs[1];
  double acc = call.inputs.size() == 3 ? call.inputs[2]->f32()[f] : 0.0;
  for (int64_t c = 0; c < x.dim(1); ++c)
    for (int64_t kh = 0; kh < win.kernel[0]; ++kh)
      for (int64_t kw = 0; kw < win.kernel[1]; ++kw) {
        int64_t h = oh * win.stride[0] - win.pad[0] + kh;
        int64_t wi = ow * win.stride[1] - win.pad[1] + kw;
        if (h < 0 || h >= x.dim(2) || wi < 0 || wi >= x.dim(3))
          continue;
        acc += static_cast<double>(nchw(x, n, c, h, wi)) * nchw(w, f, c, kh, kw);
      }
  return acc;
}

/// The max (NaN-propagating, as PyTorch's) or the mean of one pooling window.
double poolAt(const KernelCall &call, const Window &win, int64_t n, int64_t c, int64_t oh,
              int64_t ow) {
  const Tensor &x = *call.inputs[0];
  bool isMax = call.node.op == OpKind::MaxPool2d;
  double acc = isMax ? -std::numeric_limits<double>::infinity() : 0.0;
  for (int64_t kh = 0; kh < win.kernel[0]; ++kh)
    for (int64_t kw = 0; kw < win.kernel[1]; ++kw) {
      double v = nchw(x, n, c, oh * win.stride[0] + kh, ow * win.stride[1] + kw);
      if (!isMax)
        acc += v;
      else if (std::isnan(v) || v > acc)
        acc = v;
    }
  return isMax ? acc : acc / static_cast<double>(win.kernel[0] * win.kernel[1]);
}

/// The window of a conv2d or its gradients (from the filter) or a pool or
/// its gradient (stride absent: the kernel).
Window windowOf(const KernelCall &call) {
  OpKind op = call.node.op;
  if (op == OpKind::Conv2d || op == OpKind::FusedConv2d || op == OpKind::Conv2dGradInput ||
      op == OpKind::Conv2dGradFilter) {
    const Tensor &w = *call.inputs[op == OpKind::Conv2dGradFilter ? 2 : 1];
    return Window{
        {w.dim(2), w.dim(3)}, call.attr("stride").asInts(), call.attr("padding").asInts()};
  }
  std::vector<int64_t> kernel = call.attr("kernel").asInts();
  const AttrValue &stride = call.attr("stride");
  return Window{kernel, stride.isNone() ? kernel : stride.asInts(), {0, 0}};
}

/// Writes a double accumulator into an f32 output.
void store(Tensor &out, const std::vector<double> &acc) {
  for (int64_t i = 0; i < out.numel(); ++i)
    out.f32()[i] = static_cast<float>(acc[static_cast<size_t>(i)]);
}

/// conv2d_grad_input (dy, w, x for its shape): each dy element scatters
/// dy * w back onto the input taps it read; taps in the padding drop out.
void convGradInput(KernelCall &call, const Window &win) {
  const Tensor &dy = *call.inputs[0];
  const Tensor &w = *call.inputs[1];
  Tensor &dx = call.output;
  std::vector<double> acc(static_cast<size_t>(dx.numel()), 0.0);
  for (int64_t n = 0; n < dy.dim(0); ++n)
    for (int64_t f = 0; f < dy.dim(1); ++f)
      for (int64_t oh = 0; oh < dy.dim(2); ++oh)
        for (int64_t ow = 0; ow < dy.dim(3); ++ow) {
          double g = nchw(dy, n, f, oh, ow);
          for (int64_t c = 0; c < dx.dim(1); ++c)
            for (int64_t kh = 0; kh < win.kernel[0]; ++kh)
              for (int64_t kw = 0; kw < win.kernel[1]; ++kw) {
                int64_t h = oh * win.stride[0] - win.pad[0] + kh;
                int64_t wi = ow * win.stride[1] - win.pad[1] + kw;
                if (h < 0 || h >= dx.dim(2) || wi < 0 || wi >= dx.dim(3))
                  continue;
                acc[static_cast<size_t>(nchwIndex(dx, n, c, h, wi))] += g * nchw(w, f, c, kh, kw);
              }
        }
  store(dx, acc);
}

/// conv2d_grad_filter (x, dy, w for its shape): x correlated with dy,
/// dw[f, c, kh, kw] = sum over n, oh, ow of x[n, c, tap] * dy[n, f, oh, ow].
void convGradFilter(KernelCall &call, const Window &win) {
  const Tensor &x = *call.inputs[0];
  const Tensor &dy = *call.inputs[1];
  Tensor &dw = call.output;
  for (int64_t f = 0; f < dw.dim(0); ++f)
    for (int64_t c = 0; c < dw.dim(1); ++c)
      for (int64_t kh = 0; kh < dw.dim(2); ++kh)
        for (int64_t kw = 0; kw < dw.dim(3); ++kw) {
          double acc = 0;
          for (int64_t n = 0; n < x.dim(0); ++n)
            for (int64_t oh = 0; oh < dy.dim(2); ++oh)
              for (int64_t ow = 0; ow < dy.dim(3); ++ow) {
                int64_t h = oh * win.stride[0] - win.pad[0] + kh;
                int64_t wi = ow * win.stride[1] - win.pad[1] + kw;
                if (h < 0 || h >= x.dim(2) || wi < 0 || wi >= x.dim(3))
                  continue;
                acc += static_cast<double>(nchw(x, n, c, h, wi)) * nchw(dy, n, f, oh, ow);
              }
          dw.f32()[nchwIndex(dw, f, c, kh, kw)] = static_cast<float>(acc);
        }
}

/// maxpool2d_grad and avgpool2d_grad (x, dy): each window's gradient goes to
/// its first maximum in row-major order (max; NaN counts as the maximum, as
/// in the forward), or is spread evenly over the window (avg); overlapping
/// windows accumulate.
void poolGrad(KernelCall &call, const Window &win) {
  const Tensor &x = *call.inputs[0];
  const Tensor &dy = *call.inputs[1];
  Tensor &dx = call.output;
  bool isMax = call.node.op == OpKind::MaxPool2dGrad;
  double area = static_cast<double>(win.kernel[0] * win.kernel[1]);
  std::vector<double> acc(static_cast<size_t>(dx.numel()), 0.0);
  for (int64_t n = 0; n < dy.dim(0); ++n)
    for (int64_t c = 0; c < dy.dim(1); ++c)
      for (int64_t oh = 0; oh < dy.dim(2); ++oh)
        for (int64_t ow = 0; ow < dy.dim(3); ++ow) {
          double g = nchw(dy, n, c, oh, ow);
          double best = -std::numeric_limits<double>::infinity();
          int64_t bestIndex = -1;
          for (int64_t kh = 0; kh < win.kernel[0]; ++kh)
            for (int64_t kw = 0; kw < win.kernel[1]; ++kw) {
              int64_t i = nchwIndex(x, n, c, oh * win.stride[0] + kh, ow * win.stride[1] + kw);
              if (!isMax) {
                acc[static_cast<size_t>(i)] += g / area;
                continue;
              }
              double v = x.f32()[i];
              if (std::isnan(best))
                continue;
              if (bestIndex < 0 || std::isnan(v) || v > best) {
                best = v;
                bestIndex = i;
              }
            }
          if (isMax && bestIndex >= 0)
            acc[static_cast<size_t>(bestIndex)] += g;
        }
  store(dx, acc);
}

/// fused_conv2d's activation on the finished convolution, in place.
void applyActivation(KernelCall &call) {
  Activation act = activationNamed(call.attr("activation").ident);
  if (act.none)
    return;
  double alpha = call.attr("alpha").number;
  float *out = call.output.f32();
  for (int64_t i = 0; i < call.output.numel(); ++i)
    out[i] = unaryScalar(act.forward, out[i], alpha);
}

/// The kernel of the node's op, on the operands as they are.
Status evalConvOf(KernelCall &call) {
  OpKind op = call.node.op;
  switch (op) {
  case OpKind::Conv2dGradInput:
    convGradInput(call, windowOf(call));
    return Ok{};
  case OpKind::Conv2dGradFilter:
    convGradFilter(call, windowOf(call));
    return Ok{};
  case OpKind::MaxPool2dGrad:
  case OpKind::AvgPool2dGrad:
    poolGrad(call, windowOf(call));
    return Ok{};
  default:
    break;
  }
  if (op != OpKind::Conv2d && op != OpKind::FusedConv2d && op != OpKind::MaxPool2d &&
      op != OpKind::AvgPool2d)
    NNC_UNHANDLED_OP(call.node, "interpreter kernel");
  Window win = windowOf(call);
  bool isConv = op == OpKind::Conv2d || op == OpKind::FusedConv2d;
  Tensor &out = call.output;
  for (int64_t n = 0; n < out.dim(0); ++n)
    for (int64_t c = 0; c < out.dim(1); ++c)
      for (int64_t oh = 0; oh < out.dim(2); ++oh)
        for (int64_t ow = 0; ow < out.dim(3); ++ow) {
          double v = isConv ? convolveAt(call, win, n, c, oh, ow) : poolAt(call, win, n, c, oh, ow);
          out.f32()[nchwIndex(out, n, c, oh, ow)] = static_cast<float>(v);
        }
  if (op == OpKind::FusedConv2d)
    applyActivation(call);
  return Ok{};
}

/// precision=bf16: the two operands the convolution multiplies (x and w,
/// dy and w, x and dy), rounded to bf16, for the kernels above; the bias
/// and the operand that gives only a shape stay as they are.
Status evalBf16Conv(KernelCall &call) {
  std::vector<Tensor> rounded;
  KernelCall withRounded = call;
  for (size_t i = 0; i < 2; ++i) {
    rounded.push_back(call.inputs[i]->clone());
    for (int64_t e = 0; e < rounded[i].numel(); ++e)
      rounded[i].f32()[e] = roundToBf16(rounded[i].f32()[e]);
  }
  for (size_t i = 0; i < 2; ++i)
    withRounded.inputs[i] = &rounded[i];
  return evalConvOf(withRounded);
}

} // namespace

Status evalConv(KernelCall &call) {
  if (attr::bf16Operands(call.node))
    return evalBf16Conv(call);
  return evalConvOf(call);
}

} // namespace nnc
