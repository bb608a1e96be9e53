/// Helpers shared by the interpreter kernels: C-order unravelling, NumPy
/// broadcasting of an operand to an output shape, and the error for an op
/// that has no kernel.
#pragma once

#include "runtime/Interpreter.h"
#include "ir/InternalError.h"

#include <cstdint>
#include <vector>

namespace nnc {

/// The product of a shape's extents (1 for a scalar).
inline int64_t elementCount(const std::vector<int64_t> &shape) {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

/// The coordinates of C-order element `linear` of `shape`.
inline std::vector<int64_t> unravelIndex(int64_t linear, const std::vector<int64_t> &shape) {
  std::vector<int64_t> coords(shape.size(), 0);
  for (size_t i = shape.size(); i-- > 0;) {
    coords[i] = linear % shape[i];
    linear /= shape[i];
  }
  return coords;
}

/// Maps each element of a broadcast output to the element of one operand
/// that it reads. Shapes align from the right; an operand axis of extent 1
/// (or a missing leading axis) repeats along the output.
class BroadcastIndex {
public:
  BroadcastIndex(const std::vector<int64_t> &operandShape, const std::vector<int64_t> &outShape)
      : outShape_(outShape), strides_(outShape.size(), 0) {
    NNC_CHECK(operandShape.size() <= outShape.size(), "");
    size_t lead = outShape.size() - operandShape.size();
    int64_t stride = 1;
    for (size_t i = operandShape.size(); i-- > 0;) {
      NNC_CHECK(operandShape[i] == outShape[lead + i] || operandShape[i] == 1, "");
      strides_[lead + i] = operandShape[i] == 1 ? 0 : stride;
      stride *= operandShape[i];
    }
  }

  /// The operand's C-order index of output element `outIndex`.
  int64_t operator()(int64_t outIndex) const {
    int64_t offset = 0;
    for (size_t i = outShape_.size(); i-- > 0;) {
      offset += (outIndex % outShape_[i]) * strides_[i];
      outIndex /= outShape_[i];
    }
    return offset;
  }

private:
  std::vector<int64_t> outShape_;
  std::vector<int64_t> strides_; ///< per output axis; 0 where broadcast
};

/// One unary element-wise op (relu, sigmoid, ...) on one f32, as its kernel
/// computes it; `alpha` is leaky_relu's slope.
float unaryScalar(OpKind op, float x, double alpha);
/// One (forward value, dy) gradient op (relu_grad, ...) on one element.
float unaryGradScalar(OpKind op, float v, float dy, double alpha);

} // namespace nnc
