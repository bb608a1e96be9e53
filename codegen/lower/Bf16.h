/// bfloat16 in the kernels (precision=bf16, passes/MixedPrecision.h): the
/// conversions and the dot-product instruction of AVX512_BF16, and the same
/// rounding on any target for the kernels that multiply in f32.
///
/// vdpbf16ps multiplies pairs: acc[j] += a[2j] b[2j] + a[2j+1] b[2j+1] for
/// each f32 lane j, the products exact, the sums in f32. The GEMM feeds it
/// a broadcast pair of A (A(i, k), A(i, k+1)) and a row of "pairs" of B
/// (lane j: B(k, j), B(k+1, j)), so a step covers two depths.
#pragma once

#include "codegen/Lowering.h"

namespace nnc {

/// <32 x bfloat> (vdpbf16ps' operand).
llvm::Type *bf16Pairs(Lowering &l);

/// x (f32, scalar or vector) rounded to the nearest bf16 (ties to even),
/// as an f32: the high 16 bits, NaN kept a NaN, a denormal flushed to a
/// zero of its sign (as vcvtne2ps2bf16 does; runtime/Bf16.h is the same
/// rule). For kernels that multiply in f32: the product of two such values
/// is exact, as in vdpbf16ps.
llvm::Value *roundToBf16(Lowering &l, llvm::Value *x);

/// Two <n x float> (n = 16, 8 or 4) as 2n bf16 in lane order: lo's then
/// hi's (vcvtne2ps2bf16, round to nearest even).
llvm::Value *bf16Consecutive(Lowering &l, llvm::Value *lo, llvm::Value *hi);

/// Two <n x float> rows k and k+1 (n = 16, 8 or 4) as pairs: element 2j =
/// row0[j], 2j+1 = row1[j].
llvm::Value *bf16Interleaved(Lowering &l, llvm::Value *row0, llvm::Value *row1);

/// acc (<n x float>, n = 16, 8 or 4) + the pairwise products of a and b
/// (<2n x bfloat>, or <n x i32> pairs).
llvm::Value *dotBf16Pairs(Lowering &l, llvm::Value *acc, llvm::Value *a, llvm::Value *b);

/// A pair of bf16 (an i32 at `p`) broadcast to 16 lanes, as <32 x bfloat>
/// (the GEMM's micro-kernel).
llvm::Value *broadcastBf16Pair(Lowering &l, llvm::Value *p);

/// The pair (x0, x1) of f32 scalars (or vectors of them) rounded to bf16,
/// as an i32 (x0 in the low half, the first of the pair).
llvm::Value *bf16PairBits(Lowering &l, llvm::Value *x0, llvm::Value *x1);

} // namespace nnc
