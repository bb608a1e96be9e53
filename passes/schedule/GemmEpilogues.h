/// GEMM epilogues: an element-wise node that reads the result of a GEMM
/// (matmul, fused_matmul and their gradient ops), its only reader, runs in
/// the GEMM's kernel on each finished tile while the tile is still in the
/// cache, instead of as a pass of its own over the whole result. The case
/// it is for is the optimizer's update of a weight:
///
///   grad.w = fused_matmul_grad_weight(x, dy, z, ...)
///   t = fused_elementwise(grad.w, sgd.lr, w, program=[[mul, 0, 1], [sub, 2, 3]])
///   w <- t
///
/// so the update of w is written (straight into w: the memory plan) as the
/// gradient's tiles are finished, and the gradient is never read back.
/// The node is applied to the tile's registers, and the GEMM's own result
/// is not stored in the last depth block (with one depth block, never).
/// Conditions: the GEMM's result is rank 2 and read by the element-wise
/// node only (not an output, update or loss); the node is a fused_elementwise
/// of arithmetic (add, sub, mul, div, neg: sgd's update and momentum); its
/// result has the GEMM result's shape; every other operand is a scalar or
/// has that shape, and is computed before the GEMM. Each GEMM hosts at most
/// one.
#pragma once

#include "passes/schedule/KernelSchedule.h"

namespace nnc {

/// Adds the GEMM epilogue guests of `g` to `s`.
void scheduleGemmEpilogues(const Graph &g, KernelSchedule &s);

} // namespace nnc
