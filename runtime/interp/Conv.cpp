/// Reference kernels of conv2d (NCHW, [F, C, KH, KW] filters, cross-
/// correlation with stride and zero padding) and of max and average pooling.
#include "runtime/Interpreter.h"
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

/// The window of a conv2d (from its filter) or a pool (stride absent: the
/// kernel).
Window windowOf(const KernelCall &call) {
  if (call.node.op == OpKind::Conv2d) {
    const Tensor &w = *call.inputs[1];
    return Window{
        {w.dim(2), w.dim(3)}, call.attr("stride").asInts(), call.attr("padding").asInts()};
  }
  std::vector<int64_t> kernel = call.attr("kernel").asInts();
  const AttrValue &stride = call.attr("stride");
  return Window{kernel, stride.isNone() ? kernel : stride.asInts(), {0, 0}};
}

} // namespace

Status evalConv(KernelCall &call) {
  OpKind op = call.node.op;
  if (op != OpKind::Conv2d && op != OpKind::MaxPool2d && op != OpKind::AvgPool2d)
    return noKernel(call);
  Window win = windowOf(call);
  bool isConv = op == OpKind::Conv2d;
  Tensor &out = call.output;
  for (int64_t n = 0; n < out.dim(0); ++n)
    for (int64_t c = 0; c < out.dim(1); ++c)
      for (int64_t oh = 0; oh < out.dim(2); ++oh)
        for (int64_t ow = 0; ow < out.dim(3); ++ow) {
          double v = isConv ? convolveAt(call, win, n, c, oh, ow) : poolAt(call, win, n, c, oh, ow);
          out.f32()[nchwIndex(out, n, c, oh, ow)] = static_cast<float>(v);
        }
  return Ok{};
}

} // namespace nnc
