/// Activations in generated code, for the kernels that apply one to a
/// finished tile (fused_matmul, fused_conv2d) or its gradient as operands
/// are read (the fused matmul gradients): the element-wise kernels' results,
/// bit for bit.
#pragma once

#include "codegen/Lowering.h"
#include "ir/Activation.h"

#include <functional>

namespace nnc {

/// f(lanes of x (and of z)) lane by lane, for a vector x; f(x, z) for a scalar.
llvm::Value *perLane(Lowering &l, llvm::Value *x, llvm::Value *z,
                     const std::function<llvm::Value *(llvm::Value *, llvm::Value *)> &f);

/// The activation on a scalar or a vector, as its element-wise kernel
/// computes it: relu and leaky_relu as vector selects, sigmoid on the
/// vector, the others lane by lane.
llvm::Value *applyActivation(Lowering &l, const Activation &act, double alpha, llvm::Value *x);

} // namespace nnc
