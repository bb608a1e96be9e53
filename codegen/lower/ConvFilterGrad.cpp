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
/// channel c and range of filters. The images go in groups: their x[n, c]
/// planes are copied once into zero-padded planes of a stack buffer; then
/// per block of filters and group of taps (a pass), every (filter, tap)
/// keeps a vector of partial sums in a register over the group's dy rows
/// and vectors of columns, a few rows at a time (chunk), fed by loads of the
/// padded x that the rows' taps share (the padded rows kept as the width
/// stride's column phases, PhasedRow, so every load is a plain one), and
/// adds it into a vector of
/// double totals in memory once per group. The sums run in f32 over at most
/// about 64 products per lane (a group is that many, or one image), so the
/// error does not grow with the batch; each total's lanes are added in
/// order at the end.
struct FilterGrad {
  Lowering &l;
  Geometry g;
  int64_t filters, channels, taps;
  unsigned vw;           ///< floats per vector
  PhasedRow row;         ///< a padded row's column phases
  int64_t stride, plane; ///< a padded plane's row stride and floats
  int64_t group;         ///< images per group
  V xData, dyData, dwData, batch;
  llvm::Type *vecF, *vecD; ///< vw floats, vw doubles
  /// dy's valid lanes in the last chunk of a row (and x's: the phases line
  /// x's columns up with dy's); in bf16, of each half of the chunk.
  std::vector<V> tailMasks;

  /// Columns of dy per chunk: a vector's, or in bf16 two vectors' (a lane
  /// of the sums adds the products of two neighbouring columns, vdpbf16ps).
  int64_t chunkColumns() const { return g.bf16 ? 2 * vw : vw; }

  /// Copies x[n0 + i, c] into the interior of padded plane i, i < count.
  void copyPlanes(V pad, V n0, V count, V c) {
    auto &b = l.b;
    forOuter(l, count, [&](V i) {
      V image = b.CreateAdd(b.CreateMul(b.CreateAdd(n0, i), l.constI64(channels)), c);
      V xp = conv::plane(l, xData, image, g.h * g.w);
      V dst = l.at(pad, b.CreateMul(i, l.constI64(plane)), l.f32);
      forRowsRead(l, g.h, g.kh, g.sh, g.ph, [&](V r) {
        V to = l.at(dst, b.CreateMul(b.CreateAdd(r, l.constI64(g.ph)), l.constI64(stride)), l.f32);
        V from = l.at(xp, b.CreateMul(r, l.constI64(g.w)), l.f32);
        // bf16: rounded here, once per element rather than once per tap.
        if (g.bf16 || g.sw > 1)
          copyRow(l, row, g.kw, to, l.f32, g.pw, g.w,
                  [&](V c) { return operandOf(l, g, l.loadF32(from, c)); });
        else
          b.CreateMemCpy(l.at(to, l.constI64(g.pw), l.f32), llvm::MaybeAlign(4), from,
                         llvm::MaybeAlign(4), g.w * 4);
      });
    });
  }

  /// The vectors of dy columns [col, col + vw) of rows oh0 .. oh0 + rows - 1
  /// against taps [t0, t1): sums[j][t - t0] += x(row, tap) * dy[f0 + j](row),
  /// row by row for each sum. Each x vector is loaded once for all the
  /// (row, tap) pairs that read it: with stride 1, row oh's tap (kh, kw) is
  /// row oh + 1's tap (kh - 1, kw), so 4 rows of 3x3 taps load 6 x 3 vectors
  /// of x rather than 4 x 9 (the kernel was bound by its loads). In the
  /// masked tail both loads read 0 past the row's end (not an x of the next
  /// row that could be an infinity: times dy's 0, a NaN in the sum).
  void chunk(V pad, const std::vector<V> &dyPlanes, V oh0, int64_t rows, V col, bool masked,
             int64_t t0, int64_t t1, const std::vector<std::vector<llvm::AllocaInst *>> &sums) {
    auto &b = l.b;
    size_t halves = g.bf16 ? 2 : 1;
    // Columns [col, col + chunkColumns()) of a row from p: one vector, or
    // in bf16 two, as pairs of neighbouring columns.
    auto columns = [&](V p) {
      std::vector<V> v;
      for (size_t h = 0; h < halves; ++h) {
        V at = l.at(p, l.constI64(static_cast<int64_t>(h * vw)), l.f32);
        v.push_back(masked ? V(b.CreateMaskedLoad(vecF, at, llvm::Align(4), tailMasks[h],
                                                  llvm::Constant::getNullValue(vecF)))
                           : V(b.CreateAlignedLoad(vecF, at, llvm::Align(4))));
      }
      return g.bf16 ? bf16Consecutive(l, v[0], v[1]) : v[0];
    };
    std::vector<std::vector<V>> dv(static_cast<size_t>(rows)); // [row][filter]
    for (int64_t dr = 0; dr < rows; ++dr) {
      V at = b.CreateAdd(b.CreateMul(b.CreateAdd(oh0, l.constI64(dr)), l.constI64(g.ow)), col);
      for (V dyp : dyPlanes)
        dv[dr].push_back(columns(l.at(dyp, at, l.f32)));
    }
    V top = b.CreateAdd(b.CreateMul(b.CreateMul(oh0, l.constI64(g.sh)), l.constI64(stride)), col);
    // The (row, tap) pairs by the x they read (an offset from `top`).
    std::map<int64_t, std::vector<std::pair<int64_t, int64_t>>> readers;
    for (int64_t dr = 0; dr < rows; ++dr)
      for (int64_t t = t0; t < t1; ++t)
        readers[(dr * g.sh + t / g.kw) * stride + row.at(t % g.kw)].push_back({dr, t});
    for (const auto &[offset, pairs] : readers) {
      V xv = columns(l.at(pad, b.CreateAdd(top, l.constI64(offset)), l.f32));
      for (auto [dr, t] : pairs)
        for (size_t j = 0; j < dyPlanes.size(); ++j) {
          llvm::AllocaInst *s = sums[j][t - t0];
          V sum = b.CreateLoad(vecF, s), d = dv[dr][j];
          b.CreateStore(g.bf16 ? dotBf16Pairs(l, sum, xv, d) : fmuladd(l, xv, d, sum), s);
        }
    }
  }

  /// Rows of dy per chunk: as many as the registers left by the sums hold
  /// (a vector per row and filter, and one of x), at most 4.
  int64_t rowsPerChunk(int64_t filters, int64_t sums) const {
    int64_t registers = vectorLanes(*l.fn) == 16 ? 32 : 16;
    return std::clamp<int64_t>((registers - sums - 2) / filters, 1, std::min<int64_t>(4, g.oh));
  }

  /// The totals of filter f0 + j, tap t: vw doubles at `totals`.
  V totalAt(V totals, int64_t j, int64_t t) {
    return l.at(totals, l.constI64((j * taps + t) * vw), l.f64);
  }

  /// Filters f0 .. f0 + count - 1, taps [t0, t1), over images n0 .. n0 +
  /// images - 1 (padded planes 0 .. images - 1): f32 sums in registers
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
    int64_t cols = chunkColumns(), full = g.ow / cols, tail = g.ow % cols;
    forOuter(l, images, [&](V i) {
      V padI = l.at(pad, b.CreateMul(i, l.constI64(plane)), l.f32);
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

  /// dw[f0 + j, c, t] = the lanes of the totals added in order.
  void finish(V totals, V f0, int64_t count, V c) {
    auto &b = l.b;
    for (int64_t j = 0; j < count; ++j)
      for (int64_t t = 0; t < taps; ++t) {
        V v = b.CreateAlignedLoad(vecD, totalAt(totals, j, t), llvm::Align(8));
        V total = llvm::ConstantFP::get(l.f64, 0.0);
        for (unsigned k = 0; k < vw; ++k)
          total = b.CreateFAdd(total, b.CreateExtractElement(v, k));
        V slice = b.CreateAdd(b.CreateMul(b.CreateAdd(f0, l.constI64(j)), l.constI64(channels)), c);
        V index = b.CreateAdd(b.CreateMul(slice, l.constI64(taps)), l.constI64(t));
        l.storeF32(dwData, index, b.CreateFPTrunc(total, l.f32));
      }
  }
};

/// Doubles of a task's totals (64 KiB).
constexpr int64_t kTotalDoubles = 8192;

} // namespace

/// conv2d_grad_filter through FilterGrad, when the width stride is at most
/// kMaxTiledStride and a padded plane fits its stack buffer (64 KiB);
/// false otherwise.
bool lowerConv2dGradFilterTiled(Lowering &l, const Node &node) {
  auto &b = l.b;
  ValueId x = node.operands[0], dy = node.operands[1], w = node.operands[2], dw = node.result;
  Geometry g = convGeometry(l, node, x, w, dy);
  const Shape &ws = l.type(w).shape;
  // bf16: a chunk is two vectors of columns, each lane summing a pair.
  unsigned vw = lanesFor(*l.fn, g.bf16 ? (g.ow + 1) / 2 : g.ow);
  int64_t cols = g.bf16 ? 2 * vw : vw;
  PhasedRow row = PhasedRow::of(g.w + 2 * g.pw, g.sw);
  int64_t stride = row.elements(), plane = stride * (g.h + 2 * g.ph), slack = cols;
  int64_t taps = g.kh * g.kw;
  if (g.sw > kMaxTiledStride || vw < 4 || plane + slack > kPaddedFloats ||
      taps * vw > kTotalDoubles)
    return false;
  // The valid lanes of each vector of the last chunk of a row.
  std::vector<V> tailMasks;
  for (int64_t h = 0; h < cols / vw; ++h) {
    std::vector<llvm::Constant *> lanes;
    for (int64_t v = 0; v < vw; ++v)
      lanes.push_back(b.getInt1(h * vw + v < g.ow % cols));
    tailMasks.push_back(llvm::ConstantVector::get(lanes));
  }
  // Images per group: about 64 products per lane of a sum, as many planes
  // as the buffer holds.
  int64_t perImage = g.oh * ((g.ow + cols - 1) / cols) * (cols / vw);
  int64_t group = std::clamp<int64_t>(64 / perImage, 1, (kPaddedFloats - slack) / plane);
  FilterGrad k{l,
               g,
               ws[0].size,
               ws[1].size,
               taps,
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
               tailMasks};
  // Sums per pass: about 24 of 32 registers (AVX-512), 12 of 16 otherwise;
  // a block of filters shares each x load, a pass covers a group of taps.
  int64_t maxSums = vectorLanes(*l.fn) == 16 ? 24 : 12;
  int64_t block = std::clamp<int64_t>(maxSums / taps, 1, k.filters);
  int64_t tapGroup = std::max<int64_t>(1, maxSums / block);
  int64_t blocks = (k.filters + block - 1) / block, last = k.filters - (blocks - 1) * block;
  // Blocks per task: as many as the totals hold (each copy of x serves them
  // all), split further while there are fewer than 8 tasks.
  int64_t fitting = std::max<int64_t>(1, kTotalDoubles / (block * taps * vw));
  auto ceilDiv = [](int64_t a, int64_t b) { return (a + b - 1) / b; };
  int64_t wanted = ceilDiv(blocks, ceilDiv(8, k.channels));
  int64_t perTask = std::clamp<int64_t>(wanted, 1, fitting);
  int64_t parts = ceilDiv(blocks, perTask);
  auto blockPasses = [&](V pad, V n0, V images, V f0, int64_t count, V totals) {
    for (int64_t t0 = 0; t0 < taps; t0 += tapGroup)
      k.pass(pad, n0, images, f0, count, t0, std::min(taps, t0 + tapGroup), totals);
  };
  V work = b.CreateMul(k.batch, l.constI64(perTask * block * g.oh * g.ow * taps));
  forPlanes(l, l.constI64(parts * k.channels), work, [&](V p) {
    V pad = stackArray(l, l.f32, group * plane + slack);
    b.CreateMemSet(pad, b.getInt8(0), l.constI64((group * plane + slack) * 4),
                   llvm::MaybeAlign(64));
    V totals = stackArray(l, l.f64, perTask * block * taps * vw);
    b.CreateMemSet(totals, b.getInt8(0), l.constI64(perTask * block * taps * vw * 8),
                   llvm::MaybeAlign(64));
    V part = b.CreateUDiv(p, l.constI64(k.channels)), c = b.CreateURem(p, l.constI64(k.channels));
    V q0 = b.CreateMul(part, l.constI64(perTask));
    V count = b.CreateBinaryIntrinsic(llvm::Intrinsic::umin, l.constI64(perTask),
                                      b.CreateSub(l.constI64(blocks), q0));
    // The block q0 + qi: its filters and totals.
    auto eachBlock = [&](const std::function<void(V f0, int64_t count, V totals)> &body) {
      forOuter(l, count, [&](V qi) {
        V q = b.CreateAdd(q0, qi), f0 = b.CreateMul(q, l.constI64(block));
        V at = l.at(totals, b.CreateMul(qi, l.constI64(block * taps * vw)), l.f64);
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
