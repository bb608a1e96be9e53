/// The filter gradient's tiled kernel (codegen/lower/ConvFilterGrad.cpp):
/// conv2d_grad_filter when its geometry suits it. The correlation kernel
/// of conv2d and its input gradient is codegen/lower/ConvKernels.cpp.
#include "codegen/lower/Bf16.h"
#include "codegen/lower/ConvKernels.h"

#include <llvm/IR/Intrinsics.h>

#include <algorithm>
#include <map>

namespace nnc::conv {

namespace {

/// The filter gradient's tiled kernel (conv2d_grad_filter): one task per
/// channel c (or block of cb channels, below) and range of filters. The
/// images go in groups: their x[n, c] planes are copied once into
/// zero-padded planes of a stack buffer; then per block of filters and
/// group of (channel,) taps (a pass), every (filter, channel tap)
/// keeps a vector of partial sums in a register over the group's dy rows
/// and vectors of columns, a few rows at a time (chunk), fed by loads of the
/// padded x that the rows' taps share (the padded rows kept as the width
/// stride's column phases, PhasedRow, so every load is a plain one), and
/// adds it into a vector of double totals in memory once per group. The
/// sums run in f32 over at most about 64 products per lane (a group is
/// that many, or one image), so the error does not grow with the batch;
/// each total's lanes are added in order at the end.
///
/// In bf16 a lane of the sums adds the products of two neighbouring dy
/// rows (vdpbf16ps): dy rows r and r + 1 are paired as a chunk is loaded,
/// and the padded plane holds x's rows already paired, R with R + sh (the
/// rows that dy rows r and r + 1 read at the same tap), so a tap's shift
/// along the row never breaks a pair and no x is converted in the loop.
/// (Pairing neighbouring columns instead converted every x vector per tap,
/// and a 14-wide row filled 7 of 16 lanes of pairs.)
///
/// A window of one or two taps (a 1x1 conv) takes a few channels per task
/// (`cb`): their (channel, tap) pairs share each dy load as the taps of a
/// 3x3 window do; with one channel a task per channel read all of dy for
/// one product per load.
struct FilterGrad {
  Lowering &l;
  Geometry g;
  int64_t filters, channels, taps;
  int64_t cb;            ///< channels per task; a sum is per (filter, channel, tap)
  unsigned vw;           ///< floats per vector
  PhasedRow row;         ///< a padded row's column phases
  int64_t stride, plane; ///< a padded plane's row stride and elements
  int64_t group;         ///< images per group
  V xData, dyData, dwData, batch;
  llvm::Type *vecF, *vecD, *vecI; ///< vw floats, doubles, i32 (bf16 pairs)
  /// The valid lanes of the last chunk of a row (dy's and x's: the phases
  /// line x's columns up with dy's).
  V tailMask;

  /// (channel, tap) pairs of a task: its sums per filter.
  int64_t channelTaps() const { return cb * taps; }

  /// Copies x[n0 + i, c0 + ci] into the interior of padded plane i cb + ci,
  /// i < count, ci < cb; in bf16 as pairs of rows (pairRows).
  void copyPlanes(V pad, V n0, V count, V c0) {
    auto &b = l.b;
    forOuter(l, b.CreateMul(count, l.constI64(cb)), [&](V p) {
      V c = b.CreateAdd(c0, b.CreateURem(p, l.constI64(cb)));
      V n = b.CreateAdd(n0, b.CreateUDiv(p, l.constI64(cb)));
      V xp = conv::plane(l, xData, b.CreateAdd(b.CreateMul(n, l.constI64(channels)), c), g.h * g.w);
      V dst = l.at(pad, b.CreateMul(p, l.constI64(plane)), l.f32);
      if (g.bf16)
        return pairRows(xp, dst);
      forRowsRead(l, g.h, g.kh, g.sh, g.ph, [&](V r) {
        V to = l.at(dst, b.CreateMul(b.CreateAdd(r, l.constI64(g.ph)), l.constI64(stride)), l.f32);
        V from = l.at(xp, b.CreateMul(r, l.constI64(g.w)), l.f32);
        if (g.sw > 1)
          copyRow(l, row, g.kw, to, l.f32, g.pw, g.w, vw,
                  [&](int64_t c, int64_t step) { return rowColumns(l, from, c, step, vw, g.w); });
        else
          b.CreateMemCpy(l.at(to, l.constI64(g.pw), l.f32), llvm::MaybeAlign(4), from,
                         llvm::MaybeAlign(4), g.w * 4);
      });
    });
  }

  /// bf16: padded row R of the plane at `dst` holds the pairs (x(R), x(R +
  /// sh)) of padded rows, as i32 (zero where a row is padding), for every R
  /// that has an input row in either half.
  void pairRows(V xp, V dst) {
    auto &b = l.b;
    int64_t first = std::max<int64_t>(0, g.ph - g.sh), last = g.ph + g.h - 1;
    forBetween(l, {l.constI64(first), l.constI64(last + 1)}, [&](V padded) {
      // The input rows of the pair's halves, and whether each is one.
      auto half = [&](int64_t shift) {
        V r = b.CreateSub(b.CreateAdd(padded, l.constI64(shift)), l.constI64(g.ph));
        V inside = b.CreateICmpULT(r, l.constI64(g.h));
        V clamped = b.CreateSelect(inside, r, l.constI64(0));
        return std::pair{l.at(xp, b.CreateMul(clamped, l.constI64(g.w)), l.f32), inside};
      };
      auto [lo, loInside] = half(0);
      auto [hi, hiInside] = half(g.sh);
      V to = l.at(dst, b.CreateMul(padded, l.constI64(stride)), l.i32);
      copyRow(l, row, g.kw, to, l.i32, g.pw, g.w, vw, [&](int64_t c, int64_t step) {
        V zero = llvm::Constant::getNullValue(vecF);
        V x0 = b.CreateSelect(loInside, rowColumns(l, lo, c, step, vw, g.w), zero);
        V x1 = b.CreateSelect(hiInside, rowColumns(l, hi, c, step, vw, g.w), zero);
        return b.CreateBitCast(bf16Interleaved(l, x0, x1), vecI);
      });
    });
  }

  /// A vector of `type` at p: the lanes of the tail mask only (0 past them:
  /// not an x of the next row that could be an infinity, times dy's 0 a
  /// NaN in the sum), or all of them.
  V columns(llvm::Type *type, V p, bool masked) {
    auto &b = l.b;
    return masked ? V(b.CreateMaskedLoad(type, p, llvm::Align(4), tailMask,
                                         llvm::Constant::getNullValue(type)))
                  : V(b.CreateAlignedLoad(type, p, llvm::Align(4)));
  }

  /// The vectors of dy columns [col, col + vw) of rows oh0 .. oh0 + rows - 1
  /// against channel taps [t0, t1) (channel t / taps, tap t % taps):
  /// sums[j][t - t0] += x(row, t) * dy[f0 + j](row),
  /// row by row for each sum (in bf16 a pair of rows at a time, the last
  /// of an odd count alone). Each x vector is loaded once for all the
  /// (row, tap) pairs that read it: with stride 1, row oh's tap (kh, kw) is
  /// row oh + 1's tap (kh - 1, kw), so 4 rows of 3x3 taps load 6 x 3 vectors
  /// of x rather than 4 x 9 (the kernel was bound by its loads); in bf16 2
  /// pairs of rows load 5 x 3 vectors of pairs.
  void chunk(V pad, const std::vector<V> &dyPlanes, V oh0, int64_t rows, V col, bool masked,
             int64_t t0, int64_t t1, const std::vector<std::vector<llvm::AllocaInst *>> &sums) {
    auto &b = l.b;
    int64_t step = g.bf16 ? 2 : 1; // dy rows per sum update
    int64_t units = (rows + step - 1) / step;
    bool single = g.bf16 && rows % 2; // the last pair is one row
    auto dyRow = [&](V dyp, int64_t dr) {
      V at = b.CreateAdd(b.CreateMul(b.CreateAdd(oh0, l.constI64(dr)), l.constI64(g.ow)), col);
      return columns(vecF, l.at(dyp, at, l.f32), masked);
    };
    std::vector<std::vector<V>> dv(static_cast<size_t>(units)); // [unit][filter]
    for (int64_t u = 0; u < units; ++u)
      for (V dyp : dyPlanes) {
        if (!g.bf16) {
          dv[u].push_back(dyRow(dyp, u));
          continue;
        }
        bool alone = single && u == units - 1;
        V second = alone ? llvm::Constant::getNullValue(vecF) : dyRow(dyp, 2 * u + 1);
        dv[u].push_back(bf16Interleaved(l, dyRow(dyp, 2 * u), second));
      }
    V top = b.CreateAdd(b.CreateMul(b.CreateMul(oh0, l.constI64(g.sh)), l.constI64(stride)), col);
    // The (unit, channel tap) pairs by the x they read (an offset from
    // `top`): channel t / taps, tap t % taps.
    std::map<int64_t, std::vector<std::pair<int64_t, int64_t>>> readers;
    for (int64_t u = 0; u < units; ++u)
      for (int64_t t = t0; t < t1; ++t) {
        int64_t ci = t / taps, tap = t % taps;
        int64_t rowOffset = (u * step * g.sh + tap / g.kw) * stride + row.at(tap % g.kw);
        readers[ci * plane + rowOffset].push_back({u, t});
      }
    llvm::Type *xType = g.bf16 ? vecI : vecF;
    for (const auto &[offset, pairs] : readers) {
      V xv = columns(xType, l.at(pad, b.CreateAdd(top, l.constI64(offset)), xType->getScalarType()),
                     masked);
      V firstOnly = nullptr; // bf16: the pairs' first halves (the lone row's)
      for (auto [u, t] : pairs) {
        V x = xv;
        if (single && u == units - 1) {
          if (!firstOnly)
            firstOnly = b.CreateAnd(xv, llvm::ConstantInt::get(vecI, 0xffffu));
          x = firstOnly; // x(R + sh) may be an infinity: times 0, a NaN
        }
        for (size_t j = 0; j < dyPlanes.size(); ++j) {
          llvm::AllocaInst *s = sums[j][t - t0];
          V sum = b.CreateLoad(vecF, s), d = dv[u][j];
          b.CreateStore(g.bf16 ? dotBf16Pairs(l, sum, x, d) : fmuladd(l, x, d, sum), s);
        }
      }
    }
  }

  /// Rows of dy per chunk: as many as the registers left by the sums hold
  /// (a vector per row, or pair of rows in bf16, and filter, and one of x),
  /// at most 4.
  int64_t rowsPerChunk(int64_t filters, int64_t sums) const {
    int64_t registers = vectorLanes(*l.fn) == 16 ? 32 : 16;
    int64_t vectors = std::max<int64_t>(1, (registers - sums - 2) / filters);
    return std::clamp<int64_t>(vectors * (g.bf16 ? 2 : 1), 1, std::min<int64_t>(4, g.oh));
  }

  /// The totals of filter f0 + j, channel tap t: vw doubles at `totals`.
  V totalAt(V totals, int64_t j, int64_t t) {
    return l.at(totals, l.constI64((j * channelTaps() + t) * vw), l.f64);
  }

  /// Filters f0 .. f0 + count - 1, channel taps [t0, t1), over images n0 ..
  /// n0 + images - 1 (padded planes 0 .. images cb - 1): f32 sums in registers
  /// (allocas that mem2reg makes phis), then added to the totals.
  void pass(V pad, V n0, V images, V f0, int64_t count, int64_t t0, int64_t t1, V totals) {
    auto &b = l.b;
    llvm::IRBuilder<> eb(&l.fn->getEntryBlock(), l.fn->getEntryBlock().begin());
    std::vector<std::vector<llvm::AllocaInst *>> sums(count);
    for (auto &row : sums)
      for (int64_t t = t0; t < t1; ++t) {
        row.push_back(eb.CreateAlloca(vecF));
        b.CreateStore(llvm::Constant::getNullValue(vecF), row.back());
      }
    int64_t cols = vw, full = g.ow / cols, tail = g.ow % cols;
    forOuter(l, images, [&](V i) {
      V padI = l.at(pad, b.CreateMul(i, l.constI64(cb * plane)), l.f32);
      std::vector<V> dyPlanes;
      for (int64_t j = 0; j < count; ++j) {
        V f = b.CreateAdd(f0, l.constI64(j));
        V p = b.CreateAdd(b.CreateMul(b.CreateAdd(n0, i), l.constI64(filters)), f);
        dyPlanes.push_back(conv::plane(l, dyData, p, g.oh * g.ow));
      }
      // Rows oh0 .. oh0 + rows - 1 across the width.
      auto rowTile = [&](V oh0, int64_t rows) {
        if (full > 0)
          forOuter(l, l.constI64(full), [&](V q) {
            chunk(padI, dyPlanes, oh0, rows, b.CreateMul(q, l.constI64(cols)), false, t0, t1, sums);
          });
        if (tail > 0)
          chunk(padI, dyPlanes, oh0, rows, l.constI64(full * cols), true, t0, t1, sums);
      };
      int64_t rows = rowsPerChunk(count, count * (t1 - t0));
      if (g.oh >= rows)
        forOuter(l, l.constI64(g.oh / rows),
                 [&](V r) { rowTile(b.CreateMul(r, l.constI64(rows)), rows); });
      if (g.oh % rows)
        rowTile(l.constI64(g.oh / rows * rows), g.oh % rows);
    });
    for (int64_t j = 0; j < count; ++j)
      for (int64_t t = t0; t < t1; ++t) {
        V at = totalAt(totals, j, t);
        V add = b.CreateFPExt(b.CreateLoad(vecF, sums[j][t - t0]), vecD);
        b.CreateAlignedStore(b.CreateFAdd(b.CreateAlignedLoad(vecD, at, llvm::Align(8)), add), at,
                             llvm::Align(8));
      }
  }

  /// dw[f0 + j, c0 + t / taps, t % taps] = the lanes of the totals added
  /// in order.
  void finish(V totals, V f0, int64_t count, V c0) {
    auto &b = l.b;
    for (int64_t j = 0; j < count; ++j)
      for (int64_t t = 0; t < channelTaps(); ++t) {
        V v = b.CreateAlignedLoad(vecD, totalAt(totals, j, t), llvm::Align(8));
        V total = llvm::ConstantFP::get(l.f64, 0.0);
        for (unsigned k = 0; k < vw; ++k)
          total = b.CreateFAdd(total, b.CreateExtractElement(v, k));
        V c = b.CreateAdd(c0, l.constI64(t / taps));
        V slice = b.CreateAdd(b.CreateMul(b.CreateAdd(f0, l.constI64(j)), l.constI64(channels)), c);
        V index = b.CreateAdd(b.CreateMul(slice, l.constI64(taps)), l.constI64(t % taps));
        l.storeF32(dwData, index, b.CreateFPTrunc(total, l.f32));
      }
  }
};

/// Doubles of a task's totals (64 KiB).
constexpr int64_t kTotalDoubles = 8192;

} // namespace

/// conv2d_grad_filter through FilterGrad, when the width stride is at most
/// kMaxTiledStride and a task's cb padded planes fit its stack buffer (64
/// KiB); false otherwise.
bool lowerConv2dGradFilterTiled(Lowering &l, const Node &node) {
  auto &b = l.b;
  ValueId x = node.operands[0], dy = node.operands[1], w = node.operands[2], dw = node.result;
  Geometry g = convGeometry(l, node, x, w, dy);
  const Shape &ws = l.type(w).shape;
  unsigned vw = lanesFor(*l.fn, g.ow);
  PhasedRow row = PhasedRow::of(g.w + 2 * g.pw, g.sw);
  int64_t stride = row.elements(), plane = stride * (g.h + 2 * g.ph), slack = vw;
  int64_t taps = g.kh * g.kw, channels = ws[1].size;
  // Channels per task: as many as make about 4 (channel, tap) sums per
  // filter, a divisor of the channels (every task the same) whose planes
  // fit the buffer. (A sum's lanes add rows and column vectors in an order
  // that the rows per chunk set, and those follow the sums per filter: cb
  // changes the bits of rows wider than a vector, the same for any thread
  // count.)
  int64_t cb = 1;
  while (cb * 2 * taps <= 4 && channels % (cb * 2) == 0 && cb * 2 * plane + slack <= kPaddedFloats)
    cb *= 2;
  if (g.sw > kMaxTiledStride || vw < 4 || cb * plane + slack > kPaddedFloats ||
      cb * taps * vw > kTotalDoubles)
    return false;
  // The valid lanes of the last chunk of a row.
  std::vector<llvm::Constant *> lanes;
  for (int64_t v = 0; v < vw; ++v)
    lanes.push_back(b.getInt1(v < g.ow % vw));
  // Images per group: about 64 products per lane of a sum, as many planes
  // as the buffer holds.
  int64_t perImage = g.oh * ((g.ow + vw - 1) / vw);
  int64_t group = std::clamp<int64_t>(64 / perImage, 1, (kPaddedFloats - slack) / (cb * plane));
  FilterGrad k{l,
               g,
               ws[0].size,
               channels,
               taps,
               cb,
               vw,
               row,
               stride,
               plane,
               group,
               l.data(x),
               l.data(dy),
               l.data(dw),
               l.dim(l.type(x).shape[0]),
               llvm::FixedVectorType::get(l.f32, vw),
               llvm::FixedVectorType::get(l.f64, vw),
               llvm::FixedVectorType::get(l.i32, vw),
               llvm::ConstantVector::get(lanes)};
  // Sums per pass: about 24 of 32 registers (AVX-512), 12 of 16 otherwise;
  // a block of filters shares each x load, a pass covers a group of
  // (channel, tap) pairs.
  int64_t maxSums = vectorLanes(*l.fn) == 16 ? 24 : 12, sums = k.channelTaps();
  int64_t block = std::clamp<int64_t>(maxSums / sums, 1, k.filters);
  int64_t tapGroup = std::max<int64_t>(1, maxSums / block);
  int64_t blocks = (k.filters + block - 1) / block, last = k.filters - (blocks - 1) * block;
  // Blocks per task: as many as the totals hold (each copy of x serves them
  // all), split further while there are fewer than 8 tasks.
  int64_t fitting = std::max<int64_t>(1, kTotalDoubles / (block * sums * vw));
  auto ceilDiv = [](int64_t a, int64_t b) { return (a + b - 1) / b; };
  int64_t channelBlocks = channels / cb;
  int64_t wanted = ceilDiv(blocks, ceilDiv(8, channelBlocks));
  int64_t perTask = std::clamp<int64_t>(wanted, 1, fitting);
  int64_t parts = ceilDiv(blocks, perTask);
  auto blockPasses = [&](V pad, V n0, V images, V f0, int64_t count, V totals) {
    for (int64_t t0 = 0; t0 < sums; t0 += tapGroup)
      k.pass(pad, n0, images, f0, count, t0, std::min(sums, t0 + tapGroup), totals);
  };
  V work = b.CreateMul(k.batch, l.constI64(perTask * block * g.oh * g.ow * sums));
  forPlanes(l, l.constI64(parts * channelBlocks), work, [&](V p) {
    int64_t padFloats = group * cb * plane + slack;
    V pad = stackArray(l, l.f32, padFloats);
    b.CreateMemSet(pad, b.getInt8(0), l.constI64(padFloats * 4), llvm::MaybeAlign(64));
    V totals = stackArray(l, l.f64, perTask * block * sums * vw);
    b.CreateMemSet(totals, b.getInt8(0), l.constI64(perTask * block * sums * vw * 8),
                   llvm::MaybeAlign(64));
    V part = b.CreateUDiv(p, l.constI64(channelBlocks));
    V c = b.CreateMul(b.CreateURem(p, l.constI64(channelBlocks)), l.constI64(cb));
    V q0 = b.CreateMul(part, l.constI64(perTask));
    V count = b.CreateBinaryIntrinsic(llvm::Intrinsic::umin, l.constI64(perTask),
                                      b.CreateSub(l.constI64(blocks), q0));
    // The block q0 + qi: its filters and totals.
    auto eachBlock = [&](const std::function<void(V f0, int64_t count, V totals)> &body) {
      forOuter(l, count, [&](V qi) {
        V q = b.CreateAdd(q0, qi), f0 = b.CreateMul(q, l.constI64(block));
        V at = l.at(totals, b.CreateMul(qi, l.constI64(block * sums * vw)), l.f64);
        ifLastBlock(
            l, q, blocks, block != last, [&] { body(f0, block, at); }, [&] { body(f0, last, at); });
      });
    };
    V groups = b.CreateUDiv(b.CreateAdd(k.batch, l.constI64(group - 1)), l.constI64(group));
    forOuter(l, groups, [&](V gi) {
      V n0 = b.CreateMul(gi, l.constI64(group));
      V images = b.CreateBinaryIntrinsic(llvm::Intrinsic::umin, l.constI64(group),
                                         b.CreateSub(k.batch, n0));
      k.copyPlanes(pad, n0, images, c);
      eachBlock([&](V f0, int64_t n, V at) { blockPasses(pad, n0, images, f0, n, at); });
    });
    eachBlock([&](V f0, int64_t n, V at) { k.finish(at, f0, n, c); });
  });
  return true;
}

} // namespace nnc::conv
