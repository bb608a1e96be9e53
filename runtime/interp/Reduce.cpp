/// Reference kernels of the reductions (sum, mean, max over axes), argmax,
/// softmax and log_softmax, accumulated in double; and their gradient ops.
#include "runtime/Interpreter.h"
#include "ir/InternalError.h"
#include "runtime/interp/Common.h"

#include <cmath>
#include <limits>

namespace nnc {

namespace {

/// Which axes of a rank-`rank` tensor a reduction reduces (`axes` absent:
/// all of them).
std::vector<bool> reducedAxes(const KernelCall &call, size_t rank) {
  const AttrValue &axes = call.attr("axes");
  if (axes.isNone())
    return std::vector<bool>(rank, true);
  std::vector<bool> reduced(rank, false);
  for (int64_t axis : axes.asInts())
    reduced[static_cast<size_t>(axis < 0 ? axis + static_cast<int64_t>(rank) : axis)] = true;
  return reduced;
}

/// For each input axis, the output stride it contributes (0 when reduced).
std::vector<int64_t> keptStrides(const std::vector<int64_t> &shape,
                                 const std::vector<bool> &reduced) {
  std::vector<int64_t> strides(shape.size(), 0);
  int64_t stride = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    if (reduced[i])
      continue;
    strides[i] = stride;
    stride *= shape[i];
  }
  return strides;
}

/// max as PyTorch computes it: a NaN anywhere gives NaN.
double maxOf(double acc, double x) { return std::isnan(x) || x > acc ? x : acc; }

/// sum, mean or max over the reduced axes.
Status evalReduction(KernelCall &call) {
  const Tensor &x = *call.inputs[0];
  OpKind op = call.node.op;
  std::vector<bool> reduced = reducedAxes(call, x.rank());
  int64_t count = 1;
  for (size_t i = 0; i < x.rank(); ++i)
    if (reduced[i])
      count *= x.dim(i);
  if (op == OpKind::Max && count == 0)
    return Status::failAt(call.node.loc, "max: cannot reduce over an empty axis of {}",
                          x.typeString());
  double init = op == OpKind::Max ? -std::numeric_limits<double>::infinity() : 0.0;
  std::vector<double> acc(static_cast<size_t>(call.output.numel()), init);
  std::vector<int64_t> strides = keptStrides(x.shape(), reduced);
  for (int64_t i = 0; i < x.numel(); ++i) {
    std::vector<int64_t> coords = unravelIndex(i, x.shape());
    size_t to = 0;
    for (size_t axis = 0; axis < coords.size(); ++axis)
      to += static_cast<size_t>(coords[axis] * strides[axis]);
    double v = x.f32()[i];
    acc[to] = op == OpKind::Max ? maxOf(acc[to], v) : acc[to] + v;
  }
  for (size_t i = 0; i < acc.size(); ++i) {
    double r = op == OpKind::Mean ? acc[i] / static_cast<double>(count) : acc[i];
    call.output.f32()[i] = static_cast<float>(r);
  }
  return Ok{};
}

/// A tensor seen as [outer, n, inner] around one axis.
struct AxisView {
  int64_t outer = 1, n = 1, inner = 1;

  AxisView(const Tensor &x, int64_t axis) {
    if (axis < 0)
      axis += static_cast<int64_t>(x.rank());
    for (int64_t i = 0; i < static_cast<int64_t>(x.rank()); ++i) {
      int64_t d = x.dim(static_cast<size_t>(i));
      if (i < axis)
        outer *= d;
      else if (i == axis)
        n = d;
      else
        inner *= d;
    }
  }
  /// The index of element k along the axis of line (o, i).
  int64_t at(int64_t o, int64_t k, int64_t i) const { return (o * n + k) * inner + i; }
};

/// argmax: the first index of the largest element; a NaN counts as largest.
Status evalArgMax(KernelCall &call) {
  const Tensor &x = *call.inputs[0];
  AxisView v(x, call.attr("axis").asInt());
  if (v.n == 0)
    return Status::failAt(call.node.loc, "argmax: cannot reduce over an empty axis of {}",
                          x.typeString());
  for (int64_t o = 0; o < v.outer; ++o)
    for (int64_t i = 0; i < v.inner; ++i) {
      int64_t best = 0;
      for (int64_t k = 1; k < v.n; ++k) {
        float b = x.f32()[v.at(o, best, i)], c = x.f32()[v.at(o, k, i)];
        if (!std::isnan(b) && (std::isnan(c) || c > b))
          best = k;
      }
      call.output.i32()[o * v.inner + i] = static_cast<int32_t>(best);
    }
  return Ok{};
}

/// softmax or log_softmax along the axis, shifted by the line's max.
Status evalSoftmax(KernelCall &call) {
  const Tensor &x = *call.inputs[0];
  AxisView v(x, call.attr("axis").asInt());
  bool logForm = call.node.op == OpKind::LogSoftmax;
  for (int64_t o = 0; o < v.outer; ++o)
    for (int64_t i = 0; i < v.inner; ++i) {
      double mx = -std::numeric_limits<double>::infinity();
      for (int64_t k = 0; k < v.n; ++k)
        mx = maxOf(mx, x.f32()[v.at(o, k, i)]);
      double sum = 0;
      for (int64_t k = 0; k < v.n; ++k)
        sum += std::exp(x.f32()[v.at(o, k, i)] - mx);
      for (int64_t k = 0; k < v.n; ++k) {
        double shifted = x.f32()[v.at(o, k, i)] - mx;
        double r = logForm ? shifted - std::log(sum) : std::exp(shifted) / sum;
        call.output.f32()[v.at(o, k, i)] = static_cast<float>(r);
      }
    }
  return Ok{};
}

/// sum_grad, mean_grad, max_grad (x, dy): each element of x gets the
/// gradient of the output it reduces into; sum passes it on, mean divides it
/// by the count, max gives it to the elements equal to the max, split
/// evenly among ties (PyTorch's amax).
Status evalReductionGrad(KernelCall &call) {
  const Tensor &x = *call.inputs[0];
  const Tensor &dy = *call.inputs[1];
  OpKind op = call.node.op;
  std::vector<bool> reduced = reducedAxes(call, x.rank());
  int64_t count = 1;
  for (size_t i = 0; i < x.rank(); ++i)
    if (reduced[i])
      count *= x.dim(i);
  std::vector<int64_t> strides = keptStrides(x.shape(), reduced);
  std::vector<size_t> target(static_cast<size_t>(x.numel()));
  for (int64_t i = 0; i < x.numel(); ++i) {
    std::vector<int64_t> coords = unravelIndex(i, x.shape());
    size_t to = 0;
    for (size_t axis = 0; axis < coords.size(); ++axis)
      to += static_cast<size_t>(coords[axis] * strides[axis]);
    target[static_cast<size_t>(i)] = to;
  }
  size_t outputs = static_cast<size_t>(dy.numel());
  std::vector<double> mx(outputs, -std::numeric_limits<double>::infinity());
  std::vector<double> ties(outputs, 0.0);
  if (op == OpKind::MaxGrad) {
    for (int64_t i = 0; i < x.numel(); ++i)
      mx[target[static_cast<size_t>(i)]] = maxOf(mx[target[static_cast<size_t>(i)]], x.f32()[i]);
    for (int64_t i = 0; i < x.numel(); ++i)
      if (x.f32()[i] == mx[target[static_cast<size_t>(i)]])
        ties[target[static_cast<size_t>(i)]] += 1;
  }
  for (int64_t i = 0; i < x.numel(); ++i) {
    size_t to = target[static_cast<size_t>(i)];
    double g = dy.f32()[to];
    double r = g;
    if (op == OpKind::MeanGrad)
      r = g / static_cast<double>(count);
    else if (op == OpKind::MaxGrad)
      r = x.f32()[i] == mx[to] ? g / ties[to] : 0.0;
    call.output.f32()[i] = static_cast<float>(r);
  }
  return Ok{};
}

/// softmax_grad and log_softmax_grad (y, dy) along the axis, from the
/// forward output y: softmax: dx = y (dy - sum(dy y));
/// log_softmax: dx = dy - exp(y) sum(dy).
Status evalSoftmaxGrad(KernelCall &call) {
  const Tensor &y = *call.inputs[0];
  const Tensor &dy = *call.inputs[1];
  AxisView v(y, call.attr("axis").asInt());
  bool logForm = call.node.op == OpKind::LogSoftmaxGrad;
  for (int64_t o = 0; o < v.outer; ++o)
    for (int64_t i = 0; i < v.inner; ++i) {
      double dot = 0;
      for (int64_t k = 0; k < v.n; ++k) {
        int64_t j = v.at(o, k, i);
        dot += logForm ? static_cast<double>(dy.f32()[j])
                       : static_cast<double>(dy.f32()[j]) * y.f32()[j];
      }
      for (int64_t k = 0; k < v.n; ++k) {
        int64_t j = v.at(o, k, i);
        double yj = y.f32()[j], g = dy.f32()[j];
        double r = logForm ? g - std::exp(yj) * dot : yj * (g - dot);
        call.output.f32()[j] = static_cast<float>(r);
      }
    }
  return Ok{};
}

} // namespace

Status evalReduce(KernelCall &call) {
  switch (call.node.op) {
  case OpKind::SumGrad:
  case OpKind::MeanGrad:
  case OpKind::MaxGrad:
    return evalReductionGrad(call);
  case OpKind::SoftmaxGrad:
  case OpKind::LogSoftmaxGrad:
    return evalSoftmaxGrad(call);
  case OpKind::ArgMax:
    return evalArgMax(call);
  case OpKind::Softmax:
  case OpKind::LogSoftmax:
    return evalSoftmax(call);
  case OpKind::Sum:
  case OpKind::Mean:
  case OpKind::Max:
    return evalReduction(call);
  default:
    NNC_UNHANDLED_OP(call.node, "interpreter kernel");
  }
}

} // namespace nnc
