/// The correlation kernel's insides, shared by its two halves and by no one
/// else: codegen/lower/ConvKernels.cpp (the kernel: padded planes, weight
/// pairs, tasks and blocks) and codegen/lower/ConvTiles.cpp (the register
/// tiles that a block's rows are computed in).
#pragma once

#include "codegen/lower/ConvKernels.h"

#include <functional>
#include <vector>

namespace nnc::conv::correlation {

/// A correlation, the shape shared by conv2d and its input gradient:
///   out[n, o, r, col] = bias(o) + sum over i, kh, kw of
///                       weight(o, i, kh, kw) * padded(n, i)[r * sh + kh, col * sw + kw]
/// where padded(n, i) is the plane in[n, i] spread out (input element (y, x)
/// at (ph + y * spreadH, pw + x * spreadW)) with zeros elsewhere: spread 1
/// is conv2d's zero padding; spread s is the zero insertion that makes the
/// input gradient of a stride-s conv2d a stride-1 correlation (XLA's
/// lhs_dilation). That is the plane as the sums see it; the buffer keeps
/// the columns unspread (ColumnPhases) and a width stride's columns as
/// phases (PhasedRow).
struct Correlation {
  V in, out;                    ///< [N, ins, h, w] and [N, outs, oh, ow]
  int64_t ins, outs;            ///< channels of in and out
  int64_t h, w, oh, ow, kh, kw; ///< spatial sizes
  int64_t sh, sw, ph, pw;       ///< strides, padding
  int64_t spreadH, spreadW;     ///< the spacing of input elements in the padded plane
  /// weight(o, i, kh, kw) is weightBase(o0, i)[weightOffset(o - o0, kh, kw)]
  /// within a block of output channels from o0: constant offsets from one
  /// pointer per block and input channel.
  std::function<V(V o0, V i)> weightBase;
  std::function<int64_t(int64_t j, int64_t kh, int64_t kw)> weightOffset;
  std::function<V(V o)> bias; ///< null: start from zero
  bool bf16 = false;          ///< in and the weights rounded to bf16 (Geometry::bf16)
  /// fused_conv2d's activation, applied to each vector of finished sums
  /// before it is stored (null: none).
  std::function<V(V sums)> finish = nullptr;
};

/// Where a group of input channels stands among a task's groups: the first
/// starts its sums from the bias, the last finishes them (the activation).
struct GroupEnds {
  bool first, last;
};

/// The input gradient of a width stride s (spreadW = s) computes the
/// output columns of one phase q at a time (q, q + s, q + 2 s, ...: a
/// vector's lane v is column (m0 + v) s + q): tap kw meets dy's elements,
/// not the zeros between them, only when q + kw - pw is a multiple of s,
/// and then reads consecutive dy columns from (q + kw - pw) / s on. So the
/// padded plane keeps dy's columns as they are (after `left` zeros), the
/// taps that would meet only zeros drop out at compile time (half of them
/// for s = 2), and the phases' sums are interleaved as they are stored.
/// Off (s = 1) for every other correlation.
struct ColumnPhases {
  int64_t s = 1, pw = 0;
  int64_t left = 0;  ///< zero columns before dy's
  int64_t reach = 0; ///< columns after `left` that the taps read (at least dy's)
  bool on() const { return s > 1; }
  bool meets(int64_t q, int64_t kw) const { return ((q + kw - pw) % s + s) % s == 0; }
  /// The padded column that lane 0 of phase q reads at tap kw, for m0 = 0.
  int64_t column(int64_t q, int64_t kw) const { return left + (q + kw - pw) / s; }
};

/// The column phases of k (off unless k spreads its columns).
ColumnPhases columnPhases(const Correlation &k);

/// The padded copy of one input plane: as many rows as the spread input
/// with its padding on both sides, or as the taps reach (the input gradient
/// of a stride that does not divide the input reaches further), as many
/// columns likewise (unspread under ColumnPhases), and slack after: the
/// last tile of a row reads whole vectors past the row's end (under
/// ColumnPhases, a phase with fewer columns than phase 0 up to vw - 2
/// floats past the plane when the output is narrower than the stride);
/// those lanes are never stored. A width stride keeps each padded row as
/// its column phases (PhasedRow).
struct PaddedPlane {
  PhasedRow row;
  int64_t stride, rows, slack;
  int64_t plane() const { return stride * rows; }
  int64_t floats() const { return plane() + slack; }
};

/// The padded plane of k at vw lanes.
PaddedPlane paddedPlane(const Correlation &k, unsigned vw);

/// Register blocking of the correlation kernel: a tile is `rows` output rows by
/// up to two vectors of columns by `channels` output channels, one
/// accumulator each. Per tap, each input vector feeds `channels` FMAs and
/// each broadcast weight `rows` x (column vectors) FMAs, so loads stay
/// well below FMAs.
struct Tiling {
  unsigned vw;      ///< f32 lanes per vector
  int64_t rows;     ///< output rows per tile
  int64_t channels; ///< output channels per block (and task)
};

/// The output rows of a tile: r0, r0 + step, r0 + 2 step, ..., all
/// congruent to `phase` modulo step. Step 1 in general; the input
/// gradient of a stride takes the rows of one phase at a time, so that the
/// kernel rows that meet only the zeros between dy's rows drop out at
/// compile time (half of them for stride 2).
struct RowSet {
  int64_t step = 1, phase = 0;
};

/// What the tiles of one block share: its output planes, the padded input
/// plane and the tail mask.
struct Block {
  const Correlation &k;
  Tiling t;
  V o0, pad, tailMask;
  /// Under ColumnPhases: the valid lanes of each of the s vectors that the
  /// last block of a row stores.
  std::vector<V> phaseTailMasks;
  int64_t count;       ///< output channels o0 .. o0 + count - 1
  std::vector<V> outs; ///< their planes in image n
  llvm::Type *vec;
  /// bf16: the block's weights for the planes in the buffer, as pairs
  /// [j][plane][kh][kw] (ConvKernels.cpp's WeightPairs), and the planes a group holds.
  V weightPairs = nullptr, groupPlanes = nullptr;
};

/// Output rows r0 .. r0 + rows - 1 for a group of input channels, across
/// the width: pairs of whole vectors in a loop, then the rest (a whole
/// vector and/or the masked tail) as one tile; under ColumnPhases, a tile
/// per block of the phases' columns.
void rowTiles(Lowering &l, const Block &blk, V g0, V gCount, GroupEnds ends, V r0, RowSet rs,
              int64_t rows);

} // namespace nnc::conv::correlation
