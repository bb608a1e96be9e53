/// The ONNX importer's Conv, MaxPool and AveragePool (2-D). nnc's conv2d
/// pads symmetrically and its pools do not pad, so what ONNX adds (uneven
/// pads, auto_pad SAME_UPPER/LOWER, ceil_mode, count_include_pad) is built
/// from nnc ops: the input padded explicitly (a gather of clamped row and
/// column indices, and the fill value where a const mask says padding), and
/// for AveragePool a const per output position that turns the mean over the
/// whole window into ONNX's mean over the counted part of it.
#include "frontend/onnx/Importer.h"
#include "ir/Printer.h"

#include <fmt/format.h>

#include <limits>

namespace nnc::onnximport {

namespace {

/// The largest padded axis (its indices and mask are consts).
constexpr int64_t kMaxPadded = int64_t{1} << 20;

/// Before and after padding of auto_pad SAME_UPPER (the odd one after) or
/// SAME_LOWER (before): the output is ceil(extent / stride).
std::pair<int64_t, int64_t> samePadding(int64_t extent, int64_t kernel, int64_t stride,
                                        bool upper) {
  int64_t out = (extent + stride - 1) / stride;
  int64_t total = std::max<int64_t>(0, (out - 1) * stride + kernel - extent);
  int64_t small = total / 2;
  return upper ? std::pair{small, total - small} : std::pair{total - small, small};
}

} // namespace

std::optional<Window> Importer::window(const onnx::NodeProto &n, const Dims &x,
                                       const std::vector<int64_t> &kernel) {
  Window w;
  w.kernel = kernel;
  w.stride = intsAttr(n, "strides");
  if (w.stride.empty())
    w.stride = {1, 1};
  std::vector<int64_t> pads = intsAttr(n, "pads");
  if (pads.empty())
    pads = {0, 0, 0, 0};
  std::optional<int64_t> h = staticDim(x[2]), wd = staticDim(x[3]);
  std::string why;
  for (int64_t d : intsAttr(n, "dilations"))
    if (d != 1)
      why = "dilations other than 1 are not supported";
  if (!h || !wd)
    why = "symbolic image sizes are not supported";
  else if (pads.size() != 4 || w.stride.size() != 2 || kernel.size() != 2)
    why = "pads, strides and the kernel must be those of a 2-D window";
  for (int64_t v : w.stride)
    if (v < 1 || v > kMaxExtent)
      why = "strides must be positive";
  for (int64_t v : pads)
    if (v < 0 || v > kMaxExtent)
      why = "pads must not be negative";
  for (int64_t v : kernel)
    if (v < 1 || v > kMaxExtent)
      why = "the kernel must be positive";
  if (!why.empty()) {
    fail(n, why);
    return std::nullopt;
  }
  w.extent = {*h, *wd};
  w.before = {pads[0], pads[1]};
  w.after = {pads[2], pads[3]};
  const onnx::AttributeProto *autoPad = attribute(n, "auto_pad");
  std::string mode = autoPad ? autoPad->s() : "NOTSET";
  if (mode == "VALID") {
    w.before = w.after = {0, 0};
  } else if (mode == "SAME_UPPER" || mode == "SAME_LOWER") {
    for (size_t a = 0; a < 2; ++a)
      std::tie(w.before[a], w.after[a]) =
          samePadding(w.extent[a], kernel[a], w.stride[a], mode == "SAME_UPPER");
  } else if (mode != "NOTSET") {
    fail(n, "auto_pad=" + mode + " is not supported");
    return std::nullopt;
  }
  bool ceil = intAttr(n, "ceil_mode", 0) != 0;
  for (size_t a = 0; a < 2; ++a) {
    int64_t span = w.extent[a] + w.before[a] + w.after[a];
    if (kernel[a] > span) {
      fail(n, "the window does not fit the padded image");
      return std::nullopt;
    }
    int64_t out = (span - kernel[a]) / w.stride[a] + 1;
    if (ceil && (span - kernel[a]) % w.stride[a] != 0) {
      // One more window, unless it would start in the padding after the image.
      if (out * w.stride[a] < w.extent[a] + w.before[a]) {
        w.ceilExtra[a] = out * w.stride[a] + kernel[a] - span;
        w.after[a] += w.ceilExtra[a];
        ++out;
      }
    }
    w.output[a] = out;
  }
  return w;
}

std::string Importer::padded(const onnx::NodeProto &n, const std::string &x, const Window &w,
                             const std::string &fill, const std::string &mode) {
  std::string expr = x;
  for (size_t a = 0; a < 2; ++a) {
    if (w.before[a] == 0 && w.after[a] == 0)
      continue;
    int64_t extent = w.extent[a], total = extent + w.before[a] + w.after[a];
    if (total > kMaxPadded) {
      fail(n,
           fmt::format("padding an axis of {} is not supported (at most {})", total, kMaxPadded));
      return x;
    }
    std::vector<std::string> indices, mask;
    for (int64_t i = 0; i < total; ++i) {
      int64_t from = i - w.before[a], source = std::clamp<int64_t>(from, 0, extent - 1);
      if (mode == "reflect" && extent > 1) { // ... 2 1 | 0 1 2 ... n-1 | n-2 ...
        int64_t period = 2 * (extent - 1), r = ((from % period) + period) % period;
        source = r < extent ? r : period - r;
      }
      indices.push_back(std::to_string(source));
      mask.push_back(from >= 0 && from < extent ? "1" : "0");
    }
    std::string base = n.output(0) + (a == 0 ? "_rows" : "_columns");
    std::string idx = fresh(base), keep = mode == "constant" ? fresh(base + "_kept") : "";
    std::vector<int64_t> maskShape =
        a == 0 ? std::vector<int64_t>{total, 1} : std::vector<int64_t>{total};
    decls_ += "  const " + idx + ": i32[" + std::to_string(total) +
              "] = " + nestedLiteral(indices, {total}) + "\n";
    if (!keep.empty())
      decls_ +=
          "  const " + keep + ": f32" +
          (a == 0 ? "[" + std::to_string(total) + ", 1]" : "[" + std::to_string(total) + "]") +
          " = " + nestedLiteral(mask, maskShape) + "\n";
    expr = fmt::format("gather({}, {}, axis={})", expr, idx, a + 2);
    if (mode == "constant")
      expr = fmt::format("where({}, {}, {})", keep, expr, fill);
  }
  return expr;
}

/// Pad(x, pads[, constant_value], mode=constant|edge|reflect) of a rank-4
/// x, padding the last two axes only (the padding of images).
void Importer::pad(const onnx::NodeProto &n) {
  std::vector<Known> in;
  if (!operands(n, in, 1))
    return;
  std::optional<std::vector<int64_t>> pads = constantInts(n, in, 1, "pads");
  if (!pads)
    return;
  const onnx::AttributeProto *modeAttr = attribute(n, "mode");
  std::string mode = modeAttr ? modeAttr->s() : "constant";
  if (in[0].shape.size() != 4 || pads->size() != 8 || (*pads)[0] || (*pads)[1] || (*pads)[4] ||
      (*pads)[5])
    return fail(n, "only the last two axes of a rank-4 input may be padded");
  if (mode != "constant" && mode != "edge" && mode != "reflect")
    return fail(n, "mode=" + mode + " is not supported");
  std::string fill = number(floatAttr(n, "value", 0));
  if (in.size() > 2 && !in[2].name.empty()) {
    std::optional<std::string> v = scalarOf(in[2]);
    if (!v)
      return fail(n, "constant_value must be a constant scalar");
    fill = *v;
  }
  std::optional<int64_t> h = staticDim(in[0].shape[2]), w = staticDim(in[0].shape[3]);
  if (!h || !w)
    return fail(n, "symbolic image sizes are not supported");
  Window win;
  win.extent = {*h, *w};
  win.before = {(*pads)[2], (*pads)[3]};
  win.after = {(*pads)[6], (*pads)[7]};
  for (size_t a = 0; a < 2; ++a) {
    if (win.before[a] < 0 || win.after[a] < 0 || win.before[a] > kMaxExtent ||
        win.after[a] > kMaxExtent)
      return fail(n, "negative pads (cropping) are not supported");
    if (mode == "reflect" && (win.before[a] >= win.extent[a] || win.after[a] >= win.extent[a]))
      return fail(n, "reflect pads must be smaller than the axis");
  }
  define(n, padded(n, tensorName(in[0]), win, fill, mode),
         {in[0].shape[0], in[0].shape[1], std::to_string(*h + win.before[0] + win.after[0]),
          std::to_string(*w + win.before[1] + win.after[1])});
}

void Importer::conv(const onnx::NodeProto &n) {
  std::vector<Known> in;
  if (!operands(n, in, 2))
    return;
  if (in[0].shape.size() != 4 || in[1].shape.size() != 4)
    return fail(n, "only 2-D convolutions (rank-4 input and weight) are supported");
  if (intAttr(n, "group", 1) != 1)
    return fail(n, "group=" + std::to_string(intAttr(n, "group", 1)) + " is not supported");
  std::optional<int64_t> kh = staticDim(in[1].shape[2]), kw = staticDim(in[1].shape[3]);
  if (!kh || !kw)
    return fail(n, "the kernel's size must be static");
  std::optional<Window> w = window(n, in[0].shape, {*kh, *kw});
  if (!w)
    return;
  std::string x = tensorName(in[0]);
  std::vector<int64_t> padding = w->before;
  if (!w->symmetric()) { // uneven: padded explicitly, conv2d unpadded
    x = padded(n, x, *w, "0");
    padding = {0, 0};
  }
  std::string bias = in.size() > 2 && !in[2].name.empty() ? ", " + tensorName(in[2]) : "";
  define(
      n,
      fmt::format("conv2d({}, {}{}, stride=[{}, {}], padding=[{}, {}])", x, tensorName(in[1]), bias,
                  w->stride[0], w->stride[1], padding[0], padding[1]),
      {in[0].shape[0], in[1].shape[0], std::to_string(w->output[0]), std::to_string(w->output[1])});
}

void Importer::pool(const onnx::NodeProto &n) {
  std::vector<Known> in;
  if (!operands(n, in, 1))
    return;
  if (in[0].shape.size() != 4)
    return fail(n, "only 2-D pooling (a rank-4 input) is supported");
  if (n.output_size() > 1 && !n.output(1).empty())
    return fail(n, "the Indices output is not supported");
  std::optional<Window> w = window(n, in[0].shape, intsAttr(n, "kernel_shape"));
  if (!w)
    return;
  bool max = n.op_type() == "MaxPool";
  std::string x = tensorName(in[0]);
  // Max: padding never wins (every window holds an image element).
  if (w->padded())
    x = padded(n, x, *w, max ? number(std::numeric_limits<float>::lowest()) : "0");
  Dims out = {in[0].shape[0], in[0].shape[1], std::to_string(w->output[0]),
              std::to_string(w->output[1])};
  std::string expr =
      fmt::format("{}({}, kernel=[{}, {}], stride=[{}, {}])", max ? "maxpool2d" : "avgpool2d", x,
                  w->kernel[0], w->kernel[1], w->stride[0], w->stride[1]);
  if (max || !w->padded())
    return define(n, expr, out);
  // Average: nnc divides by the whole window; ONNX by the counted part (the
  // image, or with count_include_pad the image and its pads, never
  // ceil_mode's extra).
  if (w->output[0] * w->output[1] > kMaxPadded)
    return fail(n, "the averaged output is too large for its divisor const");
  bool countPads = intAttr(n, "count_include_pad", 0) != 0;
  std::vector<std::string> scale;
  auto counted = [&](size_t a, int64_t i) {
    int64_t start = i * w->stride[a] - w->before[a];
    int64_t lo = countPads ? -w->before[a] : 0;
    int64_t hi = w->extent[a] + (countPads ? w->after[a] - w->ceilExtra[a] : 0);
    return std::max<int64_t>(0, std::min(start + w->kernel[a], hi) - std::max(start, lo));
  };
  for (int64_t i = 0; i < w->output[0]; ++i)
    for (int64_t j = 0; j < w->output[1]; ++j) {
      double count = static_cast<double>(counted(0, i)) * static_cast<double>(counted(1, j));
      scale.push_back(number(count ? static_cast<float>(static_cast<double>(w->kernel[0]) *
                                                        static_cast<double>(w->kernel[1]) / count)
                                   : 0.0f));
    }
  std::string factors = fresh(n.output(0) + "_counted");
  decls_ += "  const " + factors + ": f32[" + std::to_string(w->output[0]) + ", " +
            std::to_string(w->output[1]) +
            "] = " + nestedLiteral(scale, {w->output[0], w->output[1]}) + "\n";
  define(n, "mul(" + expr + ", " + factors + ")", out);
}

} // namespace nnc::onnximport
