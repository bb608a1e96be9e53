/// Reference kernels of the data-movement ops: reshape (a C-order copy),
/// transpose (a permuted copy), concat, slice, tril/triu and gather, which
/// move 4-byte elements of either dtype; slice_grad and gather_grad (f32).
///
/// The ops that work along one axis view a tensor as [outer, extent, inner]:
/// outer the product of the axes before it, inner of those after it.
#include "runtime/Interpreter.h"
#include "ir/InternalError.h"
#include "ir/NodeAttrs.h"
#include "ir/SliceRange.h"
#include "runtime/interp/Common.h"

#include <cmath>
#include <cstring>
#include <limits>

namespace nnc {

namespace {

/// Copies element `from` of `src` to element `to` of `dst` (any dtype).
void copyElement(const Tensor &src, int64_t from, Tensor &dst, int64_t to) {
  std::memcpy(static_cast<char *>(dst.data()) + to * 4,
              static_cast<const char *>(src.data()) + from * 4, 4);
}

/// The permutation of transpose: the `perm` attribute, or reversed axes.
std::vector<int64_t> permutation(const KernelCall &call, size_t rank) {
  const AttrValue &attr = call.attr("perm");
  if (!attr.isNone())
    return attr.asInts();
  std::vector<int64_t> perm;
  for (size_t i = rank; i-- > 0;)
    perm.push_back(static_cast<int64_t>(i));
  return perm;
}

void evalReshape(KernelCall &call) {
  const Tensor &x = *call.inputs[0];
  NNC_CHECK(x.numel() == call.output.numel(), "");
  for (int64_t i = 0; i < x.numel(); ++i)
    copyElement(x, i, call.output, i);
}

void evalTranspose(KernelCall &call) {
  const Tensor &x = *call.inputs[0];
  Tensor &out = call.output;
  std::vector<int64_t> perm = permutation(call, x.rank());
  std::vector<int64_t> inStrides = stridesOf(x.shape());
  for (int64_t i = 0; i < out.numel(); ++i) {
    std::vector<int64_t> coords = unravelIndex(i, out.shape());
    int64_t from = 0;
    for (size_t axis = 0; axis < coords.size(); ++axis)
      from += coords[axis] * inStrides[static_cast<size_t>(perm[axis])];
    copyElement(x, from, out, i);
  }
}

/// A tensor of `shape` seen as [outer, extent, inner] around `axis`.
struct AxisView {
  int64_t outer = 1, extent = 1, inner = 1;
  AxisView(const std::vector<int64_t> &shape, size_t axis) {
    for (size_t a = 0; a < shape.size(); ++a)
      (a < axis ? outer : a == axis ? extent : inner) *= shape[a];
  }
};

/// `axis` resolved against `rank`.
size_t axisAttr(const Node &n, size_t rank) {
  int64_t axis = attr::axis(n);
  return static_cast<size_t>(axis < 0 ? axis + static_cast<int64_t>(rank) : axis);
}

void evalConcat(KernelCall &call) {
  Tensor &out = call.output;
  size_t axis = axisAttr(call.node, out.rank());
  AxisView o(out.shape(), axis);
  int64_t offset = 0; // along the axis, where the current operand starts
  for (const Tensor *in : call.inputs) {
    AxisView v(in->shape(), axis);
    for (int64_t i = 0; i < v.outer; ++i)
      for (int64_t j = 0; j < v.extent * v.inner; ++j)
        copyElement(*in, i * v.extent * v.inner + j, out, (i * o.extent + offset) * o.inner + j);
    offset += v.extent;
  }
}

SliceRange sliceOf(const Node &n, int64_t extent) {
  return sliceRange(extent, attr::sliceStart(n), attr::sliceEnd(n), attr::sliceStep(n));
}

/// slice: out[i, j, k] = x[i, start + j step, k].
void evalSlice(KernelCall &call) {
  const Tensor &x = *call.inputs[0];
  size_t axis = axisAttr(call.node, x.rank());
  AxisView v(x.shape(), axis);
  SliceRange r = sliceOf(call.node, v.extent);
  for (int64_t i = 0; i < v.outer; ++i)
    for (int64_t j = 0; j < r.count; ++j)
      for (int64_t k = 0; k < v.inner; ++k)
        copyElement(x, (i * v.extent + r.start + j * r.step) * v.inner + k, call.output,
                    (i * r.count + j) * v.inner + k);
}

/// slice_grad (x, dy): zeros of x's shape with dy where slice took.
void evalSliceGrad(KernelCall &call) {
  const Tensor &dy = *call.inputs[1];
  Tensor &out = call.output;
  size_t axis = axisAttr(call.node, out.rank());
  AxisView v(out.shape(), axis);
  SliceRange r = sliceOf(call.node, v.extent);
  std::fill(out.f32(), out.f32() + out.numel(), 0.0f);
  for (int64_t i = 0; i < v.outer; ++i)
    for (int64_t j = 0; j < r.count; ++j)
      for (int64_t k = 0; k < v.inner; ++k)
        out.f32()[(i * v.extent + r.start + j * r.step) * v.inner + k] =
            dy.f32()[(i * r.count + j) * v.inner + k];
}

/// tril/triu: x where (column - row) <= k (tril) or >= k (triu), else 0.
void evalTriangle(KernelCall &call) {
  const Tensor &x = *call.inputs[0];
  Tensor &out = call.output;
  int64_t rows = x.shape()[x.rank() - 2], cols = x.shape()[x.rank() - 1];
  int64_t k = attr::diagonal(call.node);
  bool lower = call.node.op == OpKind::Tril;
  for (int64_t i = 0; i < x.numel(); ++i) {
    int64_t col = i % cols, row = (i / cols) % rows;
    bool kept = lower ? col - row <= k : col - row >= k;
    if (kept)
      copyElement(x, i, out, i);
    else
      out.set(i, 0.0);
  }
}

/// f32 -> i32 as codegen's llvm.fptosi.sat: toward zero, saturating, NaN 0.
int32_t saturatingInt(float v) {
  if (std::isnan(v))
    return 0;
  if (v <= -2147483648.0f)
    return std::numeric_limits<int32_t>::min();
  if (v >= 2147483648.0f)
    return std::numeric_limits<int32_t>::max();
  return static_cast<int32_t>(v);
}

/// cast: each element converted (a copy when the dtype stays).
void evalCast(KernelCall &call) {
  const Tensor &x = *call.inputs[0];
  Tensor &out = call.output;
  for (int64_t i = 0; i < x.numel(); ++i) {
    if (x.dtype() == out.dtype())
      copyElement(x, i, out, i);
    else if (out.dtype() == DType::I32)
      out.i32()[i] = saturatingInt(x.f32()[i]);
    else
      out.f32()[i] = static_cast<float>(x.i32()[i]);
  }
}

/// gather: out[i, j, k] = x[i, indices[j], k] over x viewed around the axis
/// and the indices flattened; an index outside [0, extent) is an error.
Status evalGather(KernelCall &call) {
  const Tensor &x = *call.inputs[0];
  const Tensor &indices = *call.inputs[1];
  size_t axis = axisAttr(call.node, x.rank());
  AxisView v(x.shape(), axis);
  int64_t n = indices.numel();
  for (int64_t j = 0; j < n; ++j)
    if (int32_t at = indices.i32()[j]; at < 0 || at >= v.extent)
      return Status::failAt(call.node.loc,
                            "gather: index {} (element {} of the indices) is "
                            "outside [0, {})",
                            at, j, v.extent);
  for (int64_t i = 0; i < v.outer; ++i)
    for (int64_t j = 0; j < n; ++j)
      for (int64_t k = 0; k < v.inner; ++k)
        copyElement(x, (i * v.extent + indices.i32()[j]) * v.inner + k, call.output,
                    (i * n + j) * v.inner + k);
  return Ok{};
}

/// gather_grad (x, indices, dy): zeros of x's shape, dy added at the indices
/// in their order (repeated indices accumulate).
Status evalGatherGrad(KernelCall &call) {
  const Tensor &indices = *call.inputs[1];
  const Tensor &dy = *call.inputs[2];
  Tensor &out = call.output;
  size_t axis = axisAttr(call.node, out.rank());
  AxisView v(out.shape(), axis);
  int64_t n = indices.numel();
  std::fill(out.f32(), out.f32() + out.numel(), 0.0f);
  for (int64_t j = 0; j < n; ++j)
    if (int32_t at = indices.i32()[j]; at < 0 || at >= v.extent)
      return Status::failAt(call.node.loc,
                            "gather_grad: index {} (element {} of the indices) "
                            "is outside [0, {})",
                            at, j, v.extent);
  for (int64_t i = 0; i < v.outer; ++i)
    for (int64_t j = 0; j < n; ++j)
      for (int64_t k = 0; k < v.inner; ++k)
        out.f32()[(i * v.extent + indices.i32()[j]) * v.inner + k] +=
            dy.f32()[(i * n + j) * v.inner + k];
  return Ok{};
}

} // namespace

Status evalShapeOp(KernelCall &call) {
  switch (call.node.op) {
  case OpKind::Reshape:
    evalReshape(call);
    return Ok{};
  case OpKind::Transpose:
    evalTranspose(call);
    return Ok{};
  case OpKind::Concat:
    evalConcat(call);
    return Ok{};
  case OpKind::Slice:
    evalSlice(call);
    return Ok{};
  case OpKind::SliceGrad:
    evalSliceGrad(call);
    return Ok{};
  case OpKind::Tril:
  case OpKind::Triu:
    evalTriangle(call);
    return Ok{};
  case OpKind::Gather:
    return evalGather(call);
  case OpKind::Cast:
    evalCast(call);
    return Ok{};
  case OpKind::GatherGrad:
    return evalGatherGrad(call);
  default:
    NNC_UNHANDLED_OP(call.node, "interpreter kernel");
  }
}

} // namespace nnc
