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

/// Widest width stride the tiled kernels take (a wider one, rare, takes the
/// plain nests); also the widest stride whose input gradient takes them
/// (a tile's row holds a vector per column phase).
inline constexpr int64_t kMaxTiledStride = 4;

/// Floats of the stack buffer of padded planes (64 KiB).
inline constexpr int64_t kPaddedFloats = 16384;

/// A padded row kept as the column phases of a width stride sw, one after
/// another: phase q holds padded columns q, q + sw, q + 2 sw, ... The
/// output columns col .. col + lanes - 1 of tap kw then read consecutive
/// elements (phase kw % sw from col + kw / sw): one plain load, where the
/// row as it is would take sw loads and a shuffle. sw = 1 is the row as it is.
struct PhasedRow {
  int64_t sw, phaseWidth;
  static PhasedRow of(int64_t paddedWidth, int64_t sw) {
    return PhasedRow{sw, (paddedWidth + sw - 1) / sw};
  }
  /// Elements of the row (its stride in a plane).
  int64_t elements() const { return sw * phaseWidth; }
  /// Where padded column pc lives in the row.
  int64_t at(int64_t pc) const { return pc % sw * phaseWidth + pc / sw; }
};

/// Columns c, c + step, ..., c + (lanes - 1) step of the row of `count`
/// floats at `from` as a vector, 0 in the lanes past the row's end: one
/// load of lanes x step floats (masked unless the block is whole and step
/// is 1), and a shuffle when step > 1.
V rowColumns(Lowering &l, V from, int64_t c, int64_t step, unsigned lanes, int64_t count);

/// Copies the columns 0 .. count - 1 of a row to padded columns pad + c of
/// the phased row at `to`, in the phases that a window of `kernelWidth`
/// columns reads (a 1x1 window of stride 2 reads one), `lanes` elements
/// (of type elem) at a time: block(c, step) gives those of columns c, c +
/// step, ... (rowColumns reads them).
void copyRow(Lowering &l, const PhasedRow &row, int64_t kernelWidth, V to, llvm::Type *elem,
             int64_t pad, int64_t count, unsigned lanes,
             const std::function<V(int64_t c, int64_t step)> &block);

/// body(r) for the rows r of an input of `height` rows that a window of
/// `kernel` rows at `stride` under padding `pad` reads: all of them unless
/// the stride skips rows (a 1x1 window of stride 2 reads every other one).
void forRowsRead(Lowering &l, int64_t height, int64_t kernel, int64_t stride, int64_t pad,
                 const std::function<void(V r)> &body);

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
