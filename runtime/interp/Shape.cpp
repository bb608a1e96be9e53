/// Reference kernels of reshape (a C-order copy) and transpose (a permuted
/// copy); both move 4-byte elements of either dtype.
#include "runtime/Interpreter.h"
#include "ir/InternalError.h"
#include "runtime/interp/Common.h"

#include <cstring>

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

} // namespace

Status evalShapeOp(KernelCall &call) {
  switch (call.node.op) {
  case OpKind::Reshape:
    evalReshape(call);
    return Ok{};
  case OpKind::Transpose:
    evalTranspose(call);
    return Ok{};
  default:
    NNC_UNHANDLED_OP(call.node, "interpreter kernel");
  }
}

} // namespace nnc
