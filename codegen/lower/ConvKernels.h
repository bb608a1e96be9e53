/// Pieces shared by the Conv family's lowering (codegen/lower/Conv.cpp:
/// loops, task splits, window geometry; codegen/lower/Pool.cpp: the pools)
/// and its register-tiled kernels
/// (codegen/lower/ConvKernels.cpp: the correlation of conv2d and its input
/// gradient; codegen/lower/ConvFilterGrad.cpp: the filter gradient).
#pragma once

#include "codegen/Lowering.h"
#include "ir/Activation.h"

#include <functional>
#include <utility>

namespace nnc::conv {

using V = llvm::Value *;

/// A window's geometry over an [N, C, H, W] input and an [N, ., OH, OW]
/// output; spatial dims and the window are static.
struct Geometry {
  int64_t h, w, oh, ow;
  int64_t kh, kw, sh, sw, ph, pw;
  /// precision=bf16: both multiplied operands rounded to bf16 as they are
  /// read (convolutions multiply in f32; the products are exact).
  bool bf16 = false;
};

/// The activation a fused_conv2d applies to its sums (none for conv2d).
Activation activationOfNode(const Node &node);

/// `x` rounded to bf16 when `g.bf16` holds (codegen/lower/Bf16.h).
V operandOf(Lowering &l, const Geometry &g, V x);

/// The window of a conv2d (or one of its gradients) given its input x,
/// filter w and output (or dy) y.
Geometry convGeometry(const Lowering &l, const Node &n, ValueId x, ValueId w, ValueId y);

/// A pointer to the first element of plane `plane` (planes of `size` floats).
V plane(Lowering &l, V base, V planeIndex, int64_t size);

/// Loops kept from being unrolled (Conv.cpp says why): the innermost one,
/// over contiguous columns, marked for the vectorizer; outer ones not.
void forColumns(Lowering &l, V n, const std::function<void(V)> &body);
void forBetween(Lowering &l, std::pair<V, V> range, const std::function<void(V)> &body);
void forOuter(Lowering &l, V n, const std::function<void(V)> &body);

/// body(p) for every p in [0, count), where each p owns its outputs and
/// costs `work`: parallel tasks of consecutive p's (a split of the sizes alone).
void forPlanes(Lowering &l, V count, V work, const std::function<void(V)> &body);

V fmuladd(Lowering &l, V a, V b, V c);

/// The input column of output column `o` at kernel column `k` (as an
/// offset within a row): o * stride + k - pad.
V tapColumn(Lowering &l, V o, int64_t stride, V kMinusPad);

/// The pools and their gradients (Pool.cpp).
void lowerPool(Lowering &l, const Node &node);
void lowerMaxPoolGrad(Lowering &l, const Node &node);
void lowerAvgPoolGrad(Lowering &l, const Node &node);

// ---- shared by the tiled kernels (ConvKernels.cpp, ConvFilterGrad.cpp) ----

/// Widest width stride the kernels take (a wider one loads and shuffles
/// more than it computes; the plain nests take it).
inline constexpr int64_t kMaxTiledStride = 4;

/// Floats of the stack buffer of padded planes (64 KiB).
inline constexpr int64_t kPaddedFloats = 16384;

/// A vector of `lanes` elements of type `elem` from p, p + stride, p +
/// 2 stride, ...: one wide load and a shuffle (vpermt2ps and kin), the
/// lanes under `mask` only when one is given (a mask of lanes * stride).
V stridedLoad(Lowering &l, llvm::Type *elem, unsigned lanes, int64_t stride, V p, V mask = nullptr);

/// Lanes for rows of `width` floats: the host's vector, or a narrower one
/// (not below 4) where a row would leave more than half of it empty (a
/// 7-wide row uses 7 of 16 lanes, 7 of 8): ymm FMAs reach the FLOP rate of
/// zmm ones on Zen 4 and half of it on Intel, so the narrower vector wins
/// or ties.
unsigned lanesFor(const llvm::Function &fn, int64_t width);

/// whole() for every block but the last, last() for the last, when the
/// last block is smaller (`differs`); else whole() alone.
void ifLastBlock(Lowering &l, V blk, int64_t blocks, bool differs,
                 const std::function<void()> &whole, const std::function<void()> &last);

/// The tiled kernels: each lowers the node and returns true when its
/// geometry suits the kernel, else returns false and emits nothing.
bool lowerConv2dTiled(Lowering &l, const Node &node);
bool lowerConv2dGradInputTiled(Lowering &l, const Node &node);
bool lowerConv2dGradFilterTiled(Lowering &l, const Node &node);

} // namespace nnc::conv
