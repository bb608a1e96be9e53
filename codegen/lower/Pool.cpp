/// Lowering of max and average pooling and their gradients (NCHW, static
/// windows, no padding).
///
/// Windows that tile the plane (stride = kernel, the common 2x2 pool) run as
/// explicit vectors over blocks of an output row's windows (WindowBlock):
/// one masked load per input row under the block, shuffles to the taps, and
/// for the gradients one masked store per input row, so every input
/// position is written once: the max pool's dy at the window's first
/// maximum, 0 elsewhere (no scatter, and no zeroing pass where the windows
/// cover the plane).
/// Overlapping windows take the general nests, which visit the taps in
/// turn over a whole output row and scatter the gradient.
///
/// Both give the same bits: taps in the same order, the same comparisons,
/// and the gradient's 0 + dy as the scatter adds it into zeros. Each task
/// owns whole input planes (n, c).
#include "codegen/lower/ConvKernels.h"
#include "codegen/Loop.h"
#include "ir/NodeAttrs.h"

#include <llvm/Analysis/VectorUtils.h>

#include <limits>

namespace nnc::conv {

namespace {

/// The window of a pool (or its gradient); an absent stride is the kernel.
Geometry poolGeometry(const Lowering &l, const Node &n, ValueId x, ValueId y) {
  const Shape &xs = l.type(x).shape, &ys = l.type(y).shape;
  std::vector<int64_t> kernel = attr::kernel(n).asInts();
  std::vector<int64_t> stride = attr::stride(n).isNone() ? kernel : attr::stride(n).asInts();
  return Geometry{xs[2].size, xs[3].size, ys[2].size, ys[3].size, kernel[0],
                  kernel[1],  stride[0],  stride[1],  0,          0};
}

/// The number of (n, c) planes of an NCHW value.
V planes(Lowering &l, ValueId v) {
  const Shape &s = l.type(v).shape;
  return l.b.CreateMul(l.dim(s[0]), l.dim(s[1]));
}

/// True when the windows tile the plane without overlap and are small
/// enough to keep a block's taps in registers.
bool windowsTile(const Geometry &g) {
  return g.sh == g.kh && g.sw == g.kw && g.kh * g.kw <= 16 && g.kw <= 4;
}

/// A block of up to `lanes` consecutive windows of one output row, as
/// explicit vectors: each input row under the block is one masked load of
/// lanes * kw floats, and the taps of window column c are its lanes c, c +
/// kw, c + 2 kw, ... (a shuffle); writes interleave them back.
struct WindowBlock {
  unsigned lanes;
  V firstWindow; ///< the block's first output column
  V windowMask;  ///< lanes holding a window of the row
  V inputMask;   ///< the input floats under those windows
};

/// `n` lanes, true below `count`.
V lanesBelow(Lowering &l, unsigned n, V count) {
  auto &b = l.b;
  llvm::SmallVector<llvm::Constant *, 64> index;
  for (unsigned i = 0; i < n; ++i)
    index.push_back(llvm::ConstantInt::get(l.i64, i));
  return b.CreateICmpULT(llvm::ConstantVector::get(index), b.CreateVectorSplat(n, count));
}

/// The vector of `lanes` copies of a scalar constant.
V splat(Lowering &l, unsigned lanes, V scalar) { return l.b.CreateVectorSplat(lanes, scalar); }

/// for each block of windows of an output row: body(block).
void forWindowBlocks(Lowering &l, const Geometry &g, const std::function<void(WindowBlock)> &body) {
  auto &b = l.b;
  unsigned lanes = lanesFor(*l.fn, g.ow);
  int64_t blocks = (g.ow + lanes - 1) / lanes;
  forOuter(l, l.constI64(blocks), [&](V blk) {
    V first = b.CreateMul(blk, l.constI64(lanes));
    V count = b.CreateBinaryIntrinsic(llvm::Intrinsic::umin, l.constI64(lanes),
                                      b.CreateSub(l.constI64(g.ow), first));
    body(WindowBlock{
        lanes, first, lanesBelow(l, lanes, count),
        lanesBelow(l, lanes * static_cast<unsigned>(g.kw), b.CreateMul(count, l.constI64(g.kw)))});
  });
}

/// The input row under output row `oh` at window row r, from the block's
/// first window: a pointer into plane `p`.
V blockRow(Lowering &l, const Geometry &g, V p, V oh, int64_t r, const WindowBlock &blk) {
  auto &b = l.b;
  V row = b.CreateAdd(b.CreateMul(oh, l.constI64(g.kh)), l.constI64(r));
  V at = b.CreateAdd(b.CreateMul(row, l.constI64(g.w)),
                     b.CreateMul(blk.firstWindow, l.constI64(g.kw)));
  return l.at(p, at, l.f32);
}

/// The block's taps, row-major: vectors of one tap of every window.
std::vector<V> readTaps(Lowering &l, const Geometry &g, V xp, V oh, const WindowBlock &blk) {
  auto &b = l.b;
  auto *wide = llvm::FixedVectorType::get(l.f32, blk.lanes * static_cast<unsigned>(g.kw));
  std::vector<V> taps;
  for (int64_t r = 0; r < g.kh; ++r) {
    V row = b.CreateMaskedLoad(wide, blockRow(l, g, xp, oh, r, blk), llvm::Align(4), blk.inputMask,
                               llvm::Constant::getNullValue(wide));
    for (int64_t c = 0; c < g.kw; ++c) {
      llvm::SmallVector<int, 16> picked;
      for (unsigned i = 0; i < blk.lanes; ++i)
        picked.push_back(static_cast<int>(i * g.kw + c));
      taps.push_back(g.kw == 1 ? row : b.CreateShuffleVector(row, picked));
    }
  }
  return taps;
}

/// Writes one vector per tap (row-major) to the block's input positions.
void writeTaps(Lowering &l, const Geometry &g, V dxp, V oh, const WindowBlock &blk,
               const std::vector<V> &taps) {
  auto &b = l.b;
  for (int64_t r = 0; r < g.kh; ++r) {
    std::vector<V> columns(taps.begin() + r * g.kw, taps.begin() + (r + 1) * g.kw);
    V row = columns[0];
    if (g.kw > 1) {
      V all = llvm::concatenateVectors(b, columns); // column c's lanes at c * lanes
      llvm::SmallVector<int, 64> order;
      for (unsigned i = 0; i < blk.lanes; ++i)
        for (int64_t c = 0; c < g.kw; ++c)
          order.push_back(static_cast<int>(c * blk.lanes + i));
      row = b.CreateShuffleVector(all, order);
    }
    b.CreateMaskedStore(row, blockRow(l, g, dxp, oh, r, blk), llvm::Align(4), blk.inputMask);
  }
}

/// The block's windows in output (or dy) row `row` of plane `p`.
V readWindows(Lowering &l, V p, const WindowBlock &blk) {
  auto *vec = llvm::FixedVectorType::get(l.f32, blk.lanes);
  return l.b.CreateMaskedLoad(vec, l.at(p, blk.firstWindow, l.f32), llvm::Align(4), blk.windowMask,
                              llvm::Constant::getNullValue(vec));
}
void writeWindows(Lowering &l, V p, const WindowBlock &blk, V value) {
  l.b.CreateMaskedStore(value, l.at(p, blk.firstWindow, l.f32), llvm::Align(4), blk.windowMask);
}

/// Zeroes the gradient plane `dxp` when some positions lie in no window
/// (the rows and columns past the last one); the windows write the rest.
void zeroUncovered(Lowering &l, const Geometry &g, V dxp) {
  if (g.oh * g.kh != g.h || g.ow * g.kw != g.w)
    l.zero(dxp, l.constI64(g.h * g.w));
}

/// The max pool's choice: a NaN tap wins over the running maximum.
V maxOf(Lowering &l, V acc, V v) {
  auto &b = l.b;
  return b.CreateSelect(b.CreateOr(b.CreateFCmpUNO(v, v), b.CreateFCmpOGT(v, acc)), v, acc);
}

/// The pointer to output row `oh` of a plane of rows of `width`.
V rowOf(Lowering &l, V p, V oh, int64_t width) {
  return l.at(p, l.b.CreateMul(oh, l.constI64(width)), l.f32);
}

/// max or mean pooling over windows that tile the plane.
void lowerPoolTiled(Lowering &l, const Node &node, const Geometry &g) {
  auto &b = l.b;
  ValueId x = node.operands[0], out = node.result;
  bool isMax = node.op == OpKind::MaxPool2d;
  V xData = l.data(x), outData = l.data(out);
  forPlanes(l, planes(l, x), l.constI64(g.oh * g.ow * g.kh * g.kw), [&](V p) {
    V xp = plane(l, xData, p, g.h * g.w);
    V y = plane(l, outData, p, g.oh * g.ow);
    forOuter(l, l.constI64(g.oh), [&](V oh) {
      forWindowBlocks(l, g, [&](const WindowBlock &blk) {
        double start = isMax ? -std::numeric_limits<double>::infinity() : 0.0;
        V acc = splat(l, blk.lanes, l.constF32(start));
        for (V v : readTaps(l, g, xp, oh, blk))
          acc = isMax ? maxOf(l, acc, v) : b.CreateFAdd(acc, v);
        if (!isMax)
          acc = b.CreateFDiv(acc, splat(l, blk.lanes, l.constF32(double(g.kh * g.kw))));
        writeWindows(l, rowOf(l, y, oh, g.ow), blk, acc);
      });
    });
  });
}

/// avgpool2d_grad over windows that tile the plane: every tap of a window
/// gets 0 + dy / area.
void lowerAvgPoolGradTiled(Lowering &l, const Node &node, const Geometry &g) {
  auto &b = l.b;
  ValueId x = node.operands[0], dy = node.operands[1], dx = node.result;
  V dyData = l.data(dy), dxData = l.data(dx);
  forPlanes(l, planes(l, x), l.constI64(g.oh * g.ow * g.kh * g.kw), [&](V p) {
    V dxp = plane(l, dxData, p, g.h * g.w);
    V dyp = plane(l, dyData, p, g.oh * g.ow);
    zeroUncovered(l, g, dxp);
    forOuter(l, l.constI64(g.oh), [&](V oh) {
      forWindowBlocks(l, g, [&](const WindowBlock &blk) {
        V area = splat(l, blk.lanes, l.constF32(double(g.kh * g.kw)));
        V share = b.CreateFAdd(splat(l, blk.lanes, l.constF32(0.0)),
                               b.CreateFDiv(readWindows(l, rowOf(l, dyp, oh, g.ow), blk), area));
        writeTaps(l, g, dxp, oh, blk, std::vector<V>(size_t(g.kh * g.kw), share));
      });
    });
  });
}

/// maxpool2d_grad over windows that tile the plane: each window finds its
/// first maximum (a NaN is the maximum, the first NaN stays) and writes all
/// its taps, 0 + dy at the maximum and 0 elsewhere.
void lowerMaxPoolGradTiled(Lowering &l, const Node &node, const Geometry &g) {
  auto &b = l.b;
  ValueId x = node.operands[0], dy = node.operands[1], dx = node.result;
  V xData = l.data(x), dyData = l.data(dy), dxData = l.data(dx);
  forPlanes(l, planes(l, x), l.constI64(g.oh * g.ow * g.kh * g.kw), [&](V p) {
    V xp = plane(l, xData, p, g.h * g.w);
    V dxp = plane(l, dxData, p, g.h * g.w);
    V dyp = plane(l, dyData, p, g.oh * g.ow);
    zeroUncovered(l, g, dxp);
    forOuter(l, l.constI64(g.oh), [&](V oh) {
      forWindowBlocks(l, g, [&](const WindowBlock &blk) {
        auto tapNumber = [&](size_t t) {
          return splat(l, blk.lanes, llvm::ConstantInt::get(l.i32, t));
        };
        std::vector<V> taps = readTaps(l, g, xp, oh, blk);
        V best = taps[0], bestTap = tapNumber(0);
        for (size_t t = 1; t < taps.size(); ++t) {
          V v = taps[t];
          V take = b.CreateAnd(b.CreateFCmpORD(best, best),
                               b.CreateOr(b.CreateFCmpUNO(v, v), b.CreateFCmpOGT(v, best)));
          best = b.CreateSelect(take, v, best);
          bestTap = b.CreateSelect(take, tapNumber(t), bestTap);
        }
        V zero = splat(l, blk.lanes, l.constF32(0.0));
        V grad = b.CreateFAdd(zero, readWindows(l, rowOf(l, dyp, oh, g.ow), blk));
        for (size_t t = 0; t < taps.size(); ++t)
          taps[t] = b.CreateSelect(b.CreateICmpEQ(bestTap, tapNumber(t)), grad, zero);
        writeTaps(l, g, dxp, oh, blk, taps);
      });
    });
  });
}

/// max (NaN-propagating: a NaN tap wins, as in PyTorch) or the mean of each
/// window: per output row, the row starts at -inf (0) and takes every tap
/// in turn over the whole row.
void lowerPoolNest(Lowering &l, const Node &node, const Geometry &g) {
  auto &b = l.b;
  ValueId x = node.operands[0], out = node.result;
  bool isMax = node.op == OpKind::MaxPool2d;
  V xData = l.data(x), outData = l.data(out);
  V start = l.constF32(isMax ? -std::numeric_limits<double>::infinity() : 0.0);
  forPlanes(l, planes(l, x), l.constI64(g.oh * g.ow * g.kh * g.kw), [&](V p) {
    V xp = plane(l, xData, p, g.h * g.w);
    V y = plane(l, outData, p, g.oh * g.ow);
    forOuter(l, l.constI64(g.oh), [&](V oh) {
      V yRow = l.at(y, b.CreateMul(oh, l.constI64(g.ow)), l.f32);
      forColumns(l, l.constI64(g.ow), [&](V ow) { l.storeF32(yRow, ow, start); });
      forOuter(l, l.constI64(g.kh), [&](V kh) {
        V xRow = b.CreateMul(b.CreateAdd(b.CreateMul(oh, l.constI64(g.sh)), kh), l.constI64(g.w));
        forOuter(l, l.constI64(g.kw), [&](V kw) {
          forColumns(l, l.constI64(g.ow), [&](V ow) {
            V v = l.loadF32(xp, b.CreateAdd(xRow, tapColumn(l, ow, g.sw, kw)));
            V acc = l.loadF32(yRow, ow);
            V next = isMax ? b.CreateSelect(
                                 b.CreateOr(b.CreateFCmpUNO(v, v), b.CreateFCmpOGT(v, acc)), v, acc)
                           : b.CreateFAdd(acc, v);
            l.storeF32(yRow, ow, next);
          });
        });
      });
      if (!isMax) {
        V area = l.constF32(static_cast<double>(g.kh * g.kw));
        forColumns(l, l.constI64(g.ow),
                   [&](V ow) { l.storeF32(yRow, ow, b.CreateFDiv(l.loadF32(yRow, ow), area)); });
      }
    });
  });
}

/// maxpool2d_grad (x, dy): each window's dy goes to its first maximum in
/// row-major order (a NaN is the maximum, and the first NaN stays), and
/// overlapping windows accumulate. Per output row, the best value and its
/// offset are tracked for the whole row, tap by tap (vectorized); then the
/// row scatters its dy (scalar: windows may share an input).
void lowerMaxPoolGradNest(Lowering &l, const Node &node, const Geometry &g) {
  auto &b = l.b;
  ValueId x = node.operands[0], dy = node.operands[1], dx = node.result;
  V xData = l.data(x), dyData = l.data(dy), dxData = l.data(dx);
  forPlanes(l, planes(l, x), l.constI64(g.oh * g.ow * g.kh * g.kw), [&](V p) {
    V bestValue = stackArray(l, l.f32, g.ow), bestIndex = stackArray(l, l.i64, g.ow);
    V xp = plane(l, xData, p, g.h * g.w);
    V dxp = plane(l, dxData, p, g.h * g.w);
    V dyp = plane(l, dyData, p, g.oh * g.ow);
    l.zero(dxp, l.constI64(g.h * g.w));
    forOuter(l, l.constI64(g.oh), [&](V oh) {
      V top = b.CreateMul(b.CreateMul(oh, l.constI64(g.sh)), l.constI64(g.w));
      // The first tap of each window.
      forColumns(l, l.constI64(g.ow), [&](V ow) {
        V i = b.CreateAdd(top, b.CreateMul(ow, l.constI64(g.sw)));
        l.storeF32(bestValue, ow, l.loadF32(xp, i));
        b.CreateStore(i, l.at(bestIndex, ow, l.i64));
      });
      // Every tap (the first again: it never replaces itself).
      forOuter(l, l.constI64(g.kh), [&](V kh) {
        V xRow = b.CreateAdd(top, b.CreateMul(kh, l.constI64(g.w)));
        forOuter(l, l.constI64(g.kw), [&](V kw) {
          forColumns(l, l.constI64(g.ow), [&](V ow) {
            V i = b.CreateAdd(xRow, tapColumn(l, ow, g.sw, kw));
            V v = l.loadF32(xp, i);
            V best = l.loadF32(bestValue, ow);
            V take = b.CreateAnd(b.CreateFCmpORD(best, best),
                                 b.CreateOr(b.CreateFCmpUNO(v, v), b.CreateFCmpOGT(v, best)));
            l.storeF32(bestValue, ow, b.CreateSelect(take, v, best));
            V slot = l.at(bestIndex, ow, l.i64);
            b.CreateStore(b.CreateSelect(take, i, b.CreateLoad(l.i64, slot)), slot);
          });
        });
      });
      V dyRow = b.CreateMul(oh, l.constI64(g.ow));
      forOuter(l, l.constI64(g.ow), [&](V ow) {
        V i = b.CreateLoad(l.i64, l.at(bestIndex, ow, l.i64));
        V gv = l.loadF32(dyp, b.CreateAdd(dyRow, ow));
        l.storeF32(dxp, i, b.CreateFAdd(l.loadF32(dxp, i), gv));
      });
    });
  });
}

/// avgpool2d_grad (x, dy): each window spreads dy / area evenly over its
/// taps; overlapping windows accumulate.
void lowerAvgPoolGradNest(Lowering &l, const Node &node, const Geometry &g) {
  auto &b = l.b;
  ValueId x = node.operands[0], dy = node.operands[1], dx = node.result;
  V dyData = l.data(dy), dxData = l.data(dx);
  V area = l.constF32(static_cast<double>(g.kh * g.kw));
  forPlanes(l, planes(l, x), l.constI64(g.oh * g.ow * g.kh * g.kw), [&](V p) {
    V dxp = plane(l, dxData, p, g.h * g.w);
    V dyp = plane(l, dyData, p, g.oh * g.ow);
    l.zero(dxp, l.constI64(g.h * g.w));
    forOuter(l, l.constI64(g.oh), [&](V oh) {
      V dyRow = b.CreateMul(oh, l.constI64(g.ow));
      forOuter(l, l.constI64(g.kh), [&](V kh) {
        V xRow = b.CreateMul(b.CreateAdd(b.CreateMul(oh, l.constI64(g.sh)), kh), l.constI64(g.w));
        forOuter(l, l.constI64(g.kw), [&](V kw) {
          forColumns(l, l.constI64(g.ow), [&](V ow) {
            V share = b.CreateFDiv(l.loadF32(dyp, b.CreateAdd(dyRow, ow)), area);
            V i = b.CreateAdd(xRow, tapColumn(l, ow, g.sw, kw));
            l.storeF32(dxp, i, b.CreateFAdd(l.loadF32(dxp, i), share));
          });
        });
      });
    });
  });
}

} // namespace

void lowerPool(Lowering &l, const Node &node) {
  Geometry g = poolGeometry(l, node, node.operands[0], node.result);
  if (windowsTile(g))
    return lowerPoolTiled(l, node, g);
  lowerPoolNest(l, node, g);
}

void lowerMaxPoolGrad(Lowering &l, const Node &node) {
  Geometry g = poolGeometry(l, node, node.operands[0], node.operands[1]);
  if (windowsTile(g))
    return lowerMaxPoolGradTiled(l, node, g);
  lowerMaxPoolGradNest(l, node, g);
}

void lowerAvgPoolGrad(Lowering &l, const Node &node) {
  Geometry g = poolGeometry(l, node, node.operands[0], node.operands[1]);
  if (windowsTile(g))
    return lowerAvgPoolGradTiled(l, node, g);
  lowerAvgPoolGradNest(l, node, g);
}

} // namespace nnc::conv
