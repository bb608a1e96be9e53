/// The correlation kernel of the Conv family (declared in
/// codegen/lower/ConvKernels.h, used by codegen/lower/Conv.cpp): conv2d and
/// its input gradient as one register-tiled correlation (Correlation, in
/// codegen/lower/ConvCorrelation.h; its tiles in codegen/lower/ConvTiles.cpp);
/// the filter gradient has a kernel of its own (codegen/lower/ConvFilterGrad.cpp).
/// Each applies to the geometries it lists and otherwise returns false,
/// leaving the node to the plain nests.
#include "codegen/lower/ConvKernels.h"
#include "codegen/lower/ConvCorrelation.h"
#include "codegen/lower/ActivationCode.h"
#include "codegen/lower/Bf16.h"
#include "codegen/lower/GemmIr.h"
#include "ir/NodeAttrs.h"

#include <llvm/IR/Intrinsics.h>

#include <algorithm>

namespace nnc::conv {

unsigned lanesFor(const llvm::Function &fn, int64_t width) {
  unsigned vw = vectorLanes(fn);
  while (vw > 4 && width <= vw / 2)
    vw /= 2;
  return vw;
}

void ifLastBlock(Lowering &l, V blk, int64_t blocks, bool differs,
                 const std::function<void()> &whole, const std::function<void()> &last) {
  if (!differs) {
    whole();
    return;
  }
  auto &b = l.b;
  llvm::BasicBlock *wholeBlock = llvm::BasicBlock::Create(l.ctx, "block.whole", l.fn);
  llvm::BasicBlock *lastBlock = llvm::BasicBlock::Create(l.ctx, "block.last", l.fn);
  llvm::BasicBlock *done = llvm::BasicBlock::Create(l.ctx, "block.done", l.fn);
  b.CreateCondBr(b.CreateICmpULT(blk, l.constI64(blocks - 1)), wholeBlock, lastBlock);
  b.SetInsertPoint(wholeBlock);
  whole();
  b.CreateBr(done);
  b.SetInsertPoint(lastBlock);
  last();
  b.CreateBr(done);
  b.SetInsertPoint(done);
}

using namespace correlation;

namespace correlation {

ColumnPhases columnPhases(const Correlation &k) {
  ColumnPhases cp{k.spreadW, k.pw, 0, k.w};
  if (!cp.on())
    return cp;
  int64_t columns = (k.ow + cp.s - 1) / cp.s; // phase 0's, the most
  for (int64_t q = 0; q < std::min(cp.s, k.ow); ++q)
    for (int64_t kw = 0; kw < k.kw; ++kw)
      if (cp.meets(q, kw)) {
        int64_t d = (q + kw - cp.pw) / cp.s; // exact
        cp.left = std::max(cp.left, -d);
        cp.reach = std::max(cp.reach, columns + d);
      }
  return cp;
}

PaddedPlane paddedPlane(const Correlation &k, unsigned vw) {
  ColumnPhases cp = columnPhases(k);
  int64_t width = cp.on() ? cp.left + cp.reach : std::max(2 * k.pw + k.w, (k.ow - 1) * k.sw + k.kw);
  int64_t height = std::max(2 * k.ph + (k.h - 1) * k.spreadH + 1, (k.oh - 1) * k.sh + k.kh);
  PhasedRow row = PhasedRow::of(width, k.sw);
  // At least vw: the reads past the row's end above.
  return PaddedPlane{row, row.elements(), height, static_cast<int64_t>(vw) * k.sw};
}

} // namespace correlation

namespace {

/// The padded column of the input's column 0.
int64_t firstColumn(const Correlation &k) {
  ColumnPhases cp = columnPhases(k);
  return cp.on() ? cp.left : k.pw;
}

/// The correlation kernel applies when a padded plane fits the buffer.
bool fitsBuffer(const Correlation &k, unsigned vw) {
  return k.sw <= kMaxTiledStride && paddedPlane(k, vw).floats() <= kPaddedFloats;
}

/// Input channels whose padded planes share the buffer: a tile keeps its
/// sums in registers over all of them (storing and reloading partial sums
/// between channels costs loads, and the loads stall on those stores).
int64_t channelGroup(const Correlation &k, unsigned vw) {
  PaddedPlane pp = paddedPlane(k, vw);
  return std::clamp<int64_t>((kPaddedFloats - pp.slack) / pp.plane(), 1, k.ins);
}

/// Half the vector registers hold accumulators: 16 with AVX-512's 32
/// registers (2 rows x 2 vectors (or phases) x 4 channels for a wide row, 4 rows x 1
/// vector x 4 channels for a narrow one), 8 with 16 registers (AVX2, SSE).
/// Fewer output channels take more rows, to keep as many independent sums
/// (FMA latency) and reuse each input row for several output rows.
Tiling tilingFor(const llvm::Function &fn, const Correlation &k) {
  ColumnPhases cp = columnPhases(k);
  unsigned vw = lanesFor(fn, (k.ow + cp.s - 1) / cp.s);
  int64_t accumulators = vectorLanes(fn) == 16 ? 16 : 8;
  // Under ColumnPhases a tile's row is a vector of each phase (s of them,
  // at most kMaxTiledStride): fewer channels keep the sums in registers.
  int64_t vectorsPerRow = cp.on() ? cp.s : std::min<int64_t>(2, (k.ow + vw - 1) / vw);
  int64_t channels =
      std::clamp<int64_t>(accumulators / vectorsPerRow, 1, std::min<int64_t>(k.outs, 4));
  int64_t rows = std::clamp<int64_t>(accumulators / (channels * vectorsPerRow), 1, k.oh);
  return Tiling{vw, rows, channels};
}

/// bf16: the weights as pairs of input channels (a plane of the padded
/// buffer each), [output channel][plane][kh][kw], `planes` planes per output
/// channel. `whole`: every weight of the layer, converted once per call of
/// the kernel (the buffer is the graph function's); otherwise a task's
/// buffer for one block of output channels and one group of planes at a
/// time (planes = the group), converted as each block is visited.
struct WeightPairs {
  V buffer = nullptr;
  int64_t planes = 0;
  bool whole = false;
};

/// Pairs of a layer's weights that the graph function's buffer holds (256
/// KiB: 64 x 64 3x3 filters take 18432; converting per task instead, once
/// per image, made such a layer slower in bf16 than in f32).
constexpr int64_t kWholeWeightPairs = 65536;

/// The weights of output channels o0 .. o0 + count - 1 for planes g0 ..
/// g0 + gCount - 1 (input channels 2 g0 ..) as bf16 pairs (a zero second
/// half past the last channel): once per block and group of planes, not
/// in each tile's taps.
void convertWeightPairs(Lowering &l, const Correlation &k, V o0, int64_t count, V g0, V gCount,
                        const WeightPairs &pairs) {
  auto &b = l.b;
  int64_t taps = k.kh * k.kw;
  forOuter(l, gCount, [&](V il) {
    V c0 = b.CreateMul(b.CreateAdd(g0, il), l.constI64(2)), c1 = b.CreateAdd(c0, l.constI64(1));
    V second = b.CreateICmpSLT(c1, l.constI64(k.ins));
    V w0 = k.weightBase(o0, c0), w1 = k.weightBase(o0, b.CreateSelect(second, c1, c0));
    for (int64_t j = 0; j < count; ++j)
      for (int64_t kh = 0; kh < k.kh; ++kh)
        for (int64_t kw = 0; kw < k.kw; ++kw) {
          V offset = l.constI64(k.weightOffset(j, kh, kw));
          V x1 = b.CreateSelect(second, l.loadF32(w1, offset), l.constF32(0));
          V at = b.CreateAdd(
              b.CreateMul(b.CreateAdd(l.constI64(j * pairs.planes), il), l.constI64(taps)),
              l.constI64(kh * k.kw + kw));
          b.CreateStore(bf16PairBits(l, l.loadF32(w0, offset), x1), l.at(pairs.buffer, at, l.i32));
        }
  });
}

/// The rows of one block of output channels o0 .. o0 + count - 1 of image
/// n, for the input channels g0 .. g0 + gCount - 1 (in the padded buffer):
/// the rows of each phase (one phase of step 1 but for a spread input under
/// stride 1), t.rows at a time.
void blockRows(Lowering &l, const Correlation &k, Tiling t, V n, V o0, int64_t count, V pad, V g0,
               V gCount, GroupEnds ends, const WeightPairs &pairs) {
  auto &b = l.b;
  std::vector<llvm::Constant *> lanes;
  for (unsigned v = 0; v < t.vw; ++v)
    lanes.push_back(b.getInt1(static_cast<int64_t>(v) < k.ow % t.vw));
  ColumnPhases cp = columnPhases(k);
  std::vector<V> phaseTailMasks;
  for (int64_t vi = 0; cp.on() && vi < cp.s; ++vi) {
    std::vector<llvm::Constant *> valid;
    for (unsigned v = 0; v < t.vw; ++v)
      valid.push_back(b.getInt1(vi * t.vw + v < k.ow % (cp.s * t.vw)));
    phaseTailMasks.push_back(llvm::ConstantVector::get(valid));
  }
  Block blk{k,
            t,
            o0,
            pad,
            llvm::ConstantVector::get(lanes),
            phaseTailMasks,
            count,
            {},
            llvm::FixedVectorType::get(l.f32, t.vw)};
  if (k.bf16 && pairs.whole) {
    V first = b.CreateMul(b.CreateAdd(b.CreateMul(o0, l.constI64(pairs.planes)), g0),
                          l.constI64(k.kh * k.kw));
    blk.weightPairs = l.at(pairs.buffer, first, l.i32);
    blk.groupPlanes = l.constI64(pairs.planes);
  } else if (k.bf16) {
    convertWeightPairs(l, k, o0, count, g0, gCount, pairs);
    blk.weightPairs = pairs.buffer;
    blk.groupPlanes = l.constI64(pairs.planes);
  }
  for (int64_t j = 0; j < count; ++j) {
    V o = b.CreateAdd(b.CreateMul(n, l.constI64(k.outs)), b.CreateAdd(o0, l.constI64(j)));
    blk.outs.push_back(plane(l, k.out, o, k.oh * k.ow));
  }
  int64_t step = k.spreadH > 1 && k.sh == 1 ? k.spreadH : 1;
  for (int64_t phase = 0; phase < std::min(step, k.oh); ++phase) {
    RowSet rs{step, phase};
    int64_t rows = (k.oh - phase + step - 1) / step;
    if (rows >= t.rows)
      forOuter(l, l.constI64(rows / t.rows), [&](V i) {
        V r0 = b.CreateAdd(l.constI64(phase), b.CreateMul(i, l.constI64(t.rows * step)));
        rowTiles(l, blk, g0, gCount, ends, r0, rs, t.rows);
      });
    if (rows % t.rows)
      rowTiles(l, blk, g0, gCount, ends, l.constI64(phase + rows / t.rows * t.rows * step), rs,
               rows % t.rows);
  }
}

/// bf16: padded plane i holds input channels 2 (g0 + i) and 2 (g0 + i) + 1
/// of image n as bf16 pairs (the second zero past the last channel),
/// spread out when the correlation spreads them.
void copyPlanePairs(Lowering &l, const Correlation &k, Tiling t, V n, V pad, V g0, V gCount) {
  PaddedPlane pp = paddedPlane(k, t.vw);
  auto &b = l.b;
  forOuter(l, gCount, [&](V il) {
    V c0 = b.CreateMul(b.CreateAdd(g0, il), l.constI64(2)), c1 = b.CreateAdd(c0, l.constI64(1));
    V second = b.CreateICmpSLT(c1, l.constI64(k.ins));
    V image = b.CreateMul(n, l.constI64(k.ins));
    V src0 = plane(l, k.in, b.CreateAdd(image, c0), k.h * k.w);
    V src1 = plane(l, k.in, b.CreateAdd(image, b.CreateSelect(second, c1, c0)), k.h * k.w);
    V dst = l.at(pad, b.CreateMul(il, l.constI64(pp.plane())), l.i32);
    forRowsRead(l, k.h, k.kh, k.sh, k.ph, [&](V r) {
      V row = b.CreateAdd(b.CreateMul(r, l.constI64(k.spreadH)), l.constI64(k.ph));
      V to = l.at(dst, b.CreateMul(row, l.constI64(pp.stride)), l.i32);
      V from = b.CreateMul(r, l.constI64(k.w));
      V row0 = l.at(src0, from, l.f32), row1 = l.at(src1, from, l.f32);
      copyRow(l, pp.row, k.kw, to, l.i32, firstColumn(k), k.w, t.vw, [&](int64_t c, int64_t step) {
        V x1 =
            b.CreateSelect(second, rowColumns(l, row1, c, step, t.vw, k.w),
                           llvm::Constant::getNullValue(llvm::FixedVectorType::get(l.f32, t.vw)));
        return b.CreateBitCast(bf16Interleaved(l, rowColumns(l, row0, c, step, t.vw, k.w), x1),
                               llvm::FixedVectorType::get(l.i32, t.vw));
      });
    });
  });
}

/// Copies the planes of input channels g0 .. g0 + gCount - 1 of image n
/// into the padded buffer (spread out when the correlation spreads them).
void copyPlanes(Lowering &l, const Correlation &k, Tiling t, V n, V pad, V g0, V gCount) {
  auto &b = l.b;
  PaddedPlane pp = paddedPlane(k, t.vw);
  if (k.bf16)
    return copyPlanePairs(l, k, t, n, pad, g0, gCount);
  int64_t left = firstColumn(k);
  forOuter(l, gCount, [&](V il) {
    V src = plane(l, k.in, b.CreateAdd(b.CreateMul(n, l.constI64(k.ins)), b.CreateAdd(g0, il)),
                  k.h * k.w);
    V dst = l.at(pad, b.CreateMul(il, l.constI64(pp.plane())), l.f32);
    forRowsRead(l, k.h, k.kh, k.sh, k.ph, [&](V r) {
      V row = b.CreateAdd(b.CreateMul(r, l.constI64(k.spreadH)), l.constI64(k.ph));
      V to = l.at(dst, b.CreateMul(row, l.constI64(pp.stride)), l.f32);
      V from = l.at(src, b.CreateMul(r, l.constI64(k.w)), l.f32);
      if (k.sw == 1)
        b.CreateMemCpy(l.at(to, l.constI64(left), l.f32), llvm::MaybeAlign(4), from,
                       llvm::MaybeAlign(4), k.w * 4);
      else
        copyRow(l, pp.row, k.kw, to, l.f32, left, k.w, t.vw,
                [&](int64_t c, int64_t step) { return rowColumns(l, from, c, step, t.vw, k.w); });
    });
  });
}

/// The whole correlation: parallel tasks over an image and a range of its
/// blocks of output channels (all of them when the batch alone makes 8
/// tasks or more; a split of the sizes alone), the last block of a channel
/// count that the block size does not divide being smaller. Per group of
/// input channels, a task copies their planes once for all its blocks. Per
/// output element the sum runs bias, then (i, kh, kw) in order, as in the
/// plain nest.
void lowerCorrelation(Lowering &l, const Correlation &k, V batch) {
  auto &b = l.b;
  Tiling t = tilingFor(*l.fn, k);
  PaddedPlane pp = paddedPlane(k, t.vw);
  int64_t blocks = (k.outs + t.channels - 1) / t.channels;
  int64_t last = k.outs - (blocks - 1) * t.channels;
  // bf16: a plane of the buffer holds a pair of input channels.
  int64_t planes = k.bf16 ? (k.ins + 1) / 2 : k.ins;
  int64_t group = std::min(channelGroup(k, t.vw), planes), groups = (planes + group - 1) / group;
  auto ceilDiv = [&](V a, V d) {
    return b.CreateUDiv(b.CreateAdd(a, b.CreateSub(d, l.constI64(1))), d);
  };
  V parts = b.CreateBinaryIntrinsic(
      llvm::Intrinsic::umin, l.constI64(blocks),
      ceilDiv(l.constI64(8), b.CreateBinaryIntrinsic(llvm::Intrinsic::umax, batch, l.constI64(1))));
  V perTask = ceilDiv(l.constI64(blocks), parts);
  // As many parts as the blocks fill: 33 blocks in 8 parts of 5 are 7 parts
  // (an eighth would start at block 35 and compute blocks past the last).
  parts = ceilDiv(l.constI64(blocks), perTask);
  V work = b.CreateMul(perTask, l.constI64(t.channels * k.ins * k.oh * k.ow * k.kh * k.kw));
  WeightPairs whole;
  if (k.bf16 && k.outs * planes * k.kh * k.kw <= kWholeWeightPairs) {
    whole = {gemm::packingArea(l, "nnc.conv.weight.pairs", kWholeWeightPairs), planes, true};
    forOuter(l, l.constI64(k.outs), [&](V o) {
      V first = b.CreateMul(o, l.constI64(planes * k.kh * k.kw));
      convertWeightPairs(l, k, o, 1, l.constI64(0), l.constI64(planes),
                         {l.at(whole.buffer, first, l.i32), planes, false});
    });
  }
  forPlanes(l, b.CreateMul(batch, parts), work, [&](V p) {
    V pad = stackArray(l, l.f32, group * pp.plane() + pp.slack);
    WeightPairs pairs = whole;
    if (k.bf16 && !whole.whole)
      pairs = {stackArray(l, l.i32, t.channels * group * k.kh * k.kw), group, false};
    V n = b.CreateUDiv(p, parts), q0 = b.CreateMul(b.CreateURem(p, parts), perTask);
    V count = b.CreateBinaryIntrinsic(llvm::Intrinsic::umin, perTask,
                                      b.CreateSub(l.constI64(blocks), q0));
    auto channels = [&](V g0, GroupEnds ends) {
      V gCount = b.CreateBinaryIntrinsic(llvm::Intrinsic::umin, l.constI64(group),
                                         b.CreateSub(l.constI64(planes), g0));
      copyPlanes(l, k, t, n, pad, g0, gCount);
      forOuter(l, count, [&](V qi) {
        V q = b.CreateAdd(q0, qi), o0 = b.CreateMul(q, l.constI64(t.channels));
        ifLastBlock(
            l, q, blocks, last != t.channels,
            [&] { blockRows(l, k, t, n, o0, t.channels, pad, g0, gCount, ends, pairs); },
            [&] { blockRows(l, k, t, n, o0, last, pad, g0, gCount, ends, pairs); });
      });
    };
    // The borders stay zero: every group writes the same interiors.
    b.CreateMemSet(pad, b.getInt8(0), l.constI64((group * pp.plane() + pp.slack) * 4),
                   llvm::MaybeAlign(64));
    // An activation needs the last group apart (emitted twice: only then).
    bool lastApart = k.finish && groups > 1;
    channels(l.constI64(0), {true, groups == 1});
    auto middleGroup = [&](V g) { channels(b.CreateMul(g, l.constI64(group)), {false, false}); };
    if (groups > 1)
      forBetween(l, {l.constI64(1), l.constI64(lastApart ? groups - 1 : groups)}, middleGroup);
    if (lastApart)
      channels(l.constI64((groups - 1) * group), {false, true});
  });
}

} // namespace

/// conv2d through the correlation kernel, when a padded plane fits and the
/// width stride is at most kMaxTiledStride; false otherwise.
bool lowerConv2dTiled(Lowering &l, const Node &node) {
  ValueId x = node.operands[0], w = node.operands[1], out = node.result;
  Geometry g = convGeometry(l, node, x, w, out);
  const Shape &ws = l.type(w).shape;
  int64_t filters = ws[0].size, channels = ws[1].size, taps = g.kh * g.kw;
  Correlation k{l.data(x), l.data(out), channels, filters, g.h, g.w, g.oh, g.ow, g.kh, g.kw,
                g.sh,      g.sw,        g.ph,     g.pw,    1,   1,   {},   {},   {}};
  k.bf16 = g.bf16;
  if (!fitsBuffer(k, lanesFor(*l.fn, k.ow)))
    return false;
  // w[f, c, kh, kw]: filter f0 + j is j * channels * taps further on.
  V wData = l.data(w);
  k.weightBase = [&, wData](V f0, V c) {
    auto &b = l.b;
    return plane(l, wData, b.CreateAdd(b.CreateMul(f0, l.constI64(channels)), c), taps);
  };
  k.weightOffset = [&](int64_t j, int64_t kh, int64_t kw) {
    return j * channels * taps + kh * g.kw + kw;
  };
  if (node.operands.size() == 3)
    k.bias = [&](V f) { return l.load(node.operands[2], f); };
  Activation act = activationOfNode(node);
  if (!act.none)
    k.finish = [&l, act, alpha = attr::alpha(node)](V sums) {
      return applyActivation(l, act, alpha, sums);
    };
  lowerCorrelation(l, k, l.dim(l.type(x).shape[0]));
  return true;
}

/// conv2d_grad_input through the correlation kernel, when the padding is
/// below the kernel: dx is dy spread out by the strides (zeros between its
/// elements) correlated with stride 1 with the flipped filters, channels
/// swapped, under padding k - 1 - p,
///   dx[n, c, h, w] = sum over f, kh, kw of
///                    w[f, c, KH-1-kh, KW-1-kw] * spread(dy[n, f])[h + kh, w + kw]
/// (each dx element a gather, in place of the plain nest's scatter). With
/// stride s, all but 1 in s^2 of those products would be with the zeros:
/// the rows of one phase at a time (RowSet) and the columns of one phase at
/// a time (ColumnPhases) leave out the taps that meet only zeros.
bool lowerConv2dGradInputTiled(Lowering &l, const Node &node) {
  ValueId dy = node.operands[0], w = node.operands[1], x = node.operands[2], dx = node.result;
  Geometry g = convGeometry(l, node, x, w, dy);
  const Shape &ws = l.type(w).shape;
  int64_t filters = ws[0].size, channels = ws[1].size, taps = g.kh * g.kw;
  if (g.ph >= g.kh || g.pw >= g.kw || g.sw > kMaxTiledStride)
    return false;
  Correlation k{
      l.data(dy), l.data(dx), filters,         channels,        g.oh, g.ow, g.h, g.w, g.kh, g.kw,
      1,          1,          g.kh - 1 - g.ph, g.kw - 1 - g.pw, g.sh, g.sw, {},  {},  {}};
  k.bf16 = g.bf16;
  if (!fitsBuffer(k, lanesFor(*l.fn, k.ow)))
    return false;
  // w[f, c, kh, kw]: channel c0 + j is j * taps further on.
  V wData = l.data(w);
  k.weightBase = [&, wData](V c0, V f) {
    return plane(l, wData, l.b.CreateAdd(l.b.CreateMul(f, l.constI64(channels)), c0), taps);
  };
  k.weightOffset = [&](int64_t j, int64_t kh, int64_t kw) {
    return j * taps + (g.kh - 1 - kh) * g.kw + (g.kw - 1 - kw);
  };
  lowerCorrelation(l, k, l.dim(l.type(x).shape[0]));
  return true;
}

} // namespace nnc::conv
