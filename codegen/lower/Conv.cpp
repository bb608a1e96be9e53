/// Lowering of the Conv family: conv2d (NCHW input, [F, C, KH, KW] filters,
/// cross-correlation with stride and zero padding), max and average pooling,
/// and their gradient ops, as direct loop nests (no im2col).
///
/// Every nest keeps the output width innermost, so the vectorizer takes the
/// loop over contiguous output (or dy) columns. Padding never reaches the
/// innermost loop: for each kernel row kh (column kw) the nest runs only over
/// the output rows (columns) whose tap falls inside the input, a range
/// computed once per kh (kw).
///
/// Each nest runs as parallel tasks over what owns its outputs (forPlanes):
/// output planes (n, f) for conv2d, input planes (n, c) for its input
/// gradient and the pools, filter slices (f, c) for its filter gradient;
/// every output is computed by one task in the same order as on one thread.
#include "codegen/Lowering.h"

#include <llvm/ADT/STLExtras.h>
#include <llvm/IR/Intrinsics.h>
#include <llvm/TargetParser/Triple.h>
#include <llvm/TargetParser/X86TargetParser.h>

#include <algorithm>
#include <cassert>
#include <limits>
#include <utility>

namespace nnc {

namespace {

using V = llvm::Value *;

/// A window's geometry over an [N, C, H, W] input and an [N, ., OH, OW]
/// output; spatial dims and the window are static.
struct Geometry {
  int64_t h, w, oh, ow;
  int64_t kh, kw, sh, sw, ph, pw;
};

/// The window of a conv2d (or one of its gradients) given its input x,
/// filter w and output (or dy) y.
Geometry convGeometry(const Lowering &l, const Node &n, ValueId x, ValueId w, ValueId y) {
  const Shape &xs = l.type(x).shape, &ws = l.type(w).shape, &ys = l.type(y).shape;
  std::vector<int64_t> stride = n.attrs[0].asInts(), pad = n.attrs[1].asInts();
  return Geometry{xs[2].size, xs[3].size, ys[2].size, ys[3].size, ws[2].size,
                  ws[3].size, stride[0],  stride[1],  pad[0],     pad[1]};
}

/// The window of a pool (or its gradient); an absent stride is the kernel.
Geometry poolGeometry(const Lowering &l, const Node &n, ValueId x, ValueId y) {
  const Shape &xs = l.type(x).shape, &ys = l.type(y).shape;
  std::vector<int64_t> kernel = n.attrs[0].asInts();
  std::vector<int64_t> stride = n.attrs[1].isNone() ? kernel : n.attrs[1].asInts();
  return Geometry{xs[2].size, xs[3].size, ys[2].size, ys[3].size, kernel[0],
                  kernel[1],  stride[0],  stride[1],  0,          0};
}

/// A pointer to the first element of plane `plane` (planes of `size` floats).
V plane(Lowering &l, V base, V planeIndex, int64_t size) {
  return l.at(base, l.b.CreateMul(planeIndex, l.constI64(size)), l.f32);
}

/// The outputs o in [0, out) whose tap o * stride - pad + k lies in
/// [0, in), as [lo, hi) (empty when hi <= lo).
std::pair<V, V> validRange(Lowering &l, V k, int64_t stride, int64_t pad, int64_t in, int64_t out) {
  auto &b = l.b;
  V zero = l.constI64(0), s = l.constI64(stride);
  // lo = ceil((pad - k) / stride), at least 0.
  V below = b.CreateBinaryIntrinsic(llvm::Intrinsic::smax, b.CreateSub(l.constI64(pad), k), zero);
  V lo = b.CreateUDiv(b.CreateAdd(below, l.constI64(stride - 1)), s);
  // hi = floor((in - 1 + pad - k) / stride) + 1, within [0, out].
  V last = b.CreateSub(l.constI64(in - 1 + pad), k);
  V count = b.CreateAdd(b.CreateUDiv(b.CreateBinaryIntrinsic(llvm::Intrinsic::smax, last, zero), s),
                        l.constI64(1));
  V hi = b.CreateSelect(b.CreateICmpSLT(last, zero), zero,
                        b.CreateBinaryIntrinsic(llvm::Intrinsic::smin, count, l.constI64(out)));
  return {lo, hi};
}

/// for (i = lo; i < hi; ++i) body(i). Every loop of these nests is kept
/// from being unrolled: fully unrolled tap loops would copy the vectorized
/// row loop (with its alias checks and remainders) KH x KW times, and a
/// fully unrolled row would leave the vectorizer the loop over rows (with
/// gathers and scatters). The innermost loop, over contiguous columns, is
/// marked for the vectorizer, one vector per iteration (rows are short);
/// the outer ones are not (they are innermost only where an inner loop got
/// unrolled, and would vectorize with gathers).
void loop(Lowering &l, std::pair<V, V> range, const std::function<void(V)> &body, bool inner) {
  auto &b = l.b;
  llvm::LLVMContext &ctx = l.ctx;
  llvm::BasicBlock *pre = b.GetInsertBlock();
  llvm::BasicBlock *header = llvm::BasicBlock::Create(ctx, "loop", l.fn);
  llvm::BasicBlock *bodyBlock = llvm::BasicBlock::Create(ctx, "body", l.fn);
  llvm::BasicBlock *exit = llvm::BasicBlock::Create(ctx, "after", l.fn);
  b.CreateBr(header);
  b.SetInsertPoint(header);
  llvm::PHINode *i = b.CreatePHI(l.i64, 2, "i");
  i->addIncoming(range.first, pre);
  b.CreateCondBr(b.CreateICmpSLT(i, range.second), bodyBlock, exit);
  b.SetInsertPoint(bodyBlock);
  body(i);
  llvm::Value *next = b.CreateAdd(i, l.constI64(1), "", true, true);
  llvm::BranchInst *latch = b.CreateBr(header);
  i->addIncoming(next, b.GetInsertBlock());
  auto hint = [&](const char *name, llvm::Constant *value) -> llvm::Metadata * {
    std::vector<llvm::Metadata *> ops{llvm::MDString::get(ctx, name)};
    if (value)
      ops.push_back(llvm::ConstantAsMetadata::get(value));
    return llvm::MDNode::get(ctx, ops);
  };
  std::vector<llvm::Metadata *> ops{nullptr, hint("llvm.loop.unroll.disable", nullptr)};
  ops.push_back(hint("llvm.loop.vectorize.enable", b.getInt1(inner)));
  if (inner)
    ops.push_back(hint("llvm.loop.interleave.count", b.getInt32(1)));
  llvm::MDNode *loopId = llvm::MDNode::getDistinct(ctx, ops);
  loopId->replaceOperandWith(0, loopId);
  latch->setMetadata(llvm::LLVMContext::MD_loop, loopId);
  b.SetInsertPoint(exit);
}

/// The innermost loop over [lo, hi) (vectorized).
void forColumns(Lowering &l, std::pair<V, V> range, const std::function<void(V)> &body) {
  loop(l, range, body, true);
}
void forColumns(Lowering &l, V n, const std::function<void(V)> &body) {
  loop(l, {l.constI64(0), n}, body, true);
}

/// An outer loop over [lo, hi) or [0, n) (not vectorized).
void forBetween(Lowering &l, std::pair<V, V> range, const std::function<void(V)> &body) {
  loop(l, range, body, false);
}
void forOuter(Lowering &l, V n, const std::function<void(V)> &body) {
  loop(l, {l.constI64(0), n}, body, false);
}

/// A stack array of `n` elements, allocated once in the entry block of the
/// function (of the task, inside a parallel body: never shared).
V stackArray(Lowering &l, llvm::Type *elem, int64_t n) {
  llvm::BasicBlock &entry = l.fn->getEntryBlock();
  llvm::IRBuilder<> b(&entry, entry.begin());
  llvm::AllocaInst *a = b.CreateAlloca(elem, b.getInt64(static_cast<uint64_t>(n)));
  a->setAlignment(llvm::Align(64));
  return a;
}

/// Multiply-adds (or taps) a task gets at least, and a loop needs in all to
/// run on several threads.
constexpr int64_t kTaskWork = int64_t{1} << 16;
constexpr int64_t kParallelWork = int64_t{1} << 18;

V ceilDiv(Lowering &l, V a, V c) {
  return l.b.CreateUDiv(l.b.CreateAdd(a, l.b.CreateSub(c, l.constI64(1))), c);
}

/// body(p) for every p in [0, count), where each p owns its outputs (a
/// plane, a filter slice) and costs `work`: parallel tasks of consecutive
/// p's, as many per task as kTaskWork asks (a split of the sizes alone).
void forPlanes(Lowering &l, V count, V work, const std::function<void(V)> &body) {
  auto &b = l.b;
  V cost = b.CreateBinaryIntrinsic(llvm::Intrinsic::umax, work, l.constI64(1));
  V perTask = ceilDiv(l, l.constI64(kTaskWork), cost);
  V worthIt = b.CreateICmpUGE(count, ceilDiv(l, l.constI64(kParallelWork), cost));
  parallelFor(l, ceilDiv(l, count, perTask), worthIt, [&](V t) {
    V first = b.CreateMul(t, perTask);
    V last = b.CreateBinaryIntrinsic(llvm::Intrinsic::umin, count, b.CreateAdd(first, perTask));
    forBetween(l, {first, last}, body);
  });
}

V fmuladd(Lowering &l, V a, V b, V c) { return l.intrinsic(llvm::Intrinsic::fmuladd, {a, b, c}); }

/// The input column of output column `o` at kernel column `k` (as an
/// offset within a row): o * stride + k - pad.
V tapColumn(Lowering &l, V o, int64_t stride, V kMinusPad) {
  return l.b.CreateAdd(l.b.CreateMul(o, l.constI64(stride)), kMinusPad);
}

// ---- the register-blocked direct kernel (stride 1 along the width) -----------------

bool hasFeature(llvm::StringRef list, llvm::StringRef feature) {
  llvm::SmallVector<llvm::StringRef, 64> items;
  list.split(items, ',');
  return llvm::is_contained(items, feature);
}

/// f32 lanes of the widest vector the function's target runs natively: from
/// its "target-features" (the host), else from its "target-cpu" (x86). The
/// same rule as the GEMM's (codegen/lower/MatMul.cpp).
unsigned vectorLanes(const llvm::Function &fn) {
  llvm::StringRef features = fn.getFnAttribute("target-features").getValueAsString();
  if (!features.empty()) {
    if (hasFeature(features, "+avx512f"))
      return 16;
    return hasFeature(features, "+avx2") || hasFeature(features, "+avx") ? 8 : 4;
  }
  llvm::StringRef cpu = fn.getFnAttribute("target-cpu").getValueAsString();
  llvm::Triple triple(fn.getParent()->getTargetTriple());
  if (cpu.empty() || !triple.isX86())
    return 4;
  llvm::SmallVector<llvm::StringRef, 64> cpuFeatures;
  llvm::X86::getFeaturesForCPU(cpu, cpuFeatures);
  bool avx512 = llvm::is_contained(cpuFeatures, "avx512f");
  bool avx = llvm::is_contained(cpuFeatures, "avx") || llvm::is_contained(cpuFeatures, "avx2");
  return avx512 ? 16 : avx ? 8 : 4;
}

/// A correlation with stride 1 along the width, the shape shared by conv2d
/// and (stride 1) its input gradient:
///   out[n, o, r, col] = bias(o) + sum over i, kh, kw of
///                       weight(o, i, kh, kw) * in[n, i, r * sh + kh - ph, col + kw - pw]
/// with taps in the padding reading zero.
struct Correlation {
  V in, out;                    ///< [N, ins, h, w] and [N, outs, oh, ow]
  int64_t ins, outs;            ///< channels of in and out
  int64_t h, w, oh, ow, kh, kw; ///< spatial sizes (ow = w + 2 pw - kw + 1)
  int64_t sh, ph, pw;           ///< row stride, padding
  /// weight(o, i, kh, kw) is weightBase(o0, i)[weightOffset(o - o0, kh, kw)]
  /// within a block of output channels from o0: constant offsets from one
  /// pointer per block and input channel.
  std::function<V(V o0, V i)> weightBase;
  std::function<int64_t(int64_t j, int64_t kh, int64_t kw)> weightOffset;
  std::function<V(V o)> bias; ///< null: start from zero
};

/// The padded copy of one input plane: rows of w + 2 pw floats, ph zero rows
/// above and below, and a vector of slack after (the last chunk of a row
/// reads whole vectors past the row's end; those lanes are never stored).
struct PaddedPlane {
  int64_t stride, rows;
  int64_t floats(unsigned vw) const { return stride * rows + vw; }
};

PaddedPlane paddedPlane(const Correlation &k) {
  return PaddedPlane{k.w + 2 * k.pw, k.h + 2 * k.ph};
}

/// The direct kernel pays when a padded plane fits a small stack buffer.
bool directFits(const Correlation &k, unsigned vw) { return paddedPlane(k).floats(vw) <= 16384; }

/// Register blocking of the direct kernel: a tile is `rows` output rows by
/// up to two vectors of columns by `channels` output channels, one
/// accumulator each. Per tap, each input vector feeds `channels` FMAs and
/// each broadcast weight `rows` x (column vectors) FMAs, so loads stay
/// well below FMAs.
struct Tiling {
  unsigned vw;      ///< f32 lanes per vector
  int64_t rows;     ///< output rows per tile
  int64_t channels; ///< output channels per block (and task)
};

/// AVX-512 (32 registers): 2 rows x 2 vectors x 4 channels, 16 accumulators;
/// 16 registers (AVX2, SSE): 1 row x 2 vectors x 4 channels, 8 accumulators.
Tiling tilingFor(const llvm::Function &fn, const Correlation &k) {
  unsigned vw = vectorLanes(fn);
  return Tiling{vw, vw == 16 ? 2 : 1, std::min<int64_t>(k.outs, 4)};
}

/// One vector of a tile: output row r0 + dr, columns [col, col + vw), the
/// tail (masked) when `masked`.
struct Spot {
  int64_t dr;
  V col;
  bool masked;
};

/// What the tiles of one block share: its output planes, the padded input
/// plane and the tail mask.
struct Block {
  const Correlation &k;
  Tiling t;
  V o0, pad, tailMask;
  int64_t count;       ///< output channels o0 .. o0 + count - 1
  std::vector<V> outs; ///< their planes in image n
  llvm::Type *vec;
};

/// The tile at rows r0 + dr for input channel i: start from the bias (the
/// first channel) or the partial sums, add every tap, store.
void tile(Lowering &l, const Block &blk, V i, bool first, V r0, const std::vector<Spot> &spots) {
  auto &b = l.b;
  const Correlation &k = blk.k;
  int64_t stride = paddedPlane(k).stride;
  auto outAt = [&](int64_t j, const Spot &s) {
    V row = b.CreateAdd(r0, l.constI64(s.dr));
    return l.at(blk.outs[j], b.CreateAdd(b.CreateMul(row, l.constI64(k.ow)), s.col), l.f32);
  };
  std::vector<std::vector<V>> acc(blk.count, std::vector<V>(spots.size()));
  for (int64_t j = 0; j < blk.count; ++j) {
    V start =
        first ? b.CreateVectorSplat(blk.t.vw, k.bias ? k.bias(b.CreateAdd(blk.o0, l.constI64(j)))
                                                     : l.constF32(0.0))
              : nullptr;
    for (size_t s = 0; s < spots.size(); ++s)
      acc[j][s] = start ? start
                  : spots[s].masked
                      ? V(b.CreateMaskedLoad(blk.vec, outAt(j, spots[s]), llvm::Align(4),
                                             blk.tailMask, llvm::Constant::getNullValue(blk.vec)))
                      : V(b.CreateAlignedLoad(blk.vec, outAt(j, spots[s]), llvm::Align(4)));
  }
  V top = b.CreateMul(b.CreateMul(r0, l.constI64(k.sh)), l.constI64(stride));
  V wBase = k.weightBase(blk.o0, i);
  for (int64_t kh = 0; kh < k.kh; ++kh)
    for (int64_t kw = 0; kw < k.kw; ++kw) {
      std::vector<V> xs;
      for (const Spot &s : spots) {
        int64_t offset = (s.dr * k.sh + kh) * stride + kw;
        V at = b.CreateAdd(b.CreateAdd(top, s.col), l.constI64(offset));
        xs.push_back(b.CreateAlignedLoad(blk.vec, l.at(blk.pad, at, l.f32), llvm::Align(4)));
      }
      for (int64_t j = 0; j < blk.count; ++j) {
        V weight =
            b.CreateVectorSplat(blk.t.vw, l.loadF32(wBase, l.constI64(k.weightOffset(j, kh, kw))));
        for (size_t s = 0; s < spots.size(); ++s)
          acc[j][s] = fmuladd(l, weight, xs[s], acc[j][s]);
      }
    }
  for (int64_t j = 0; j < blk.count; ++j)
    for (size_t s = 0; s < spots.size(); ++s) {
      if (spots[s].masked)
        b.CreateMaskedStore(acc[j][s], outAt(j, spots[s]), llvm::Align(4), blk.tailMask);
      else
        b.CreateAlignedStore(acc[j][s], outAt(j, spots[s]), llvm::Align(4));
    }
}

/// Output rows r0 .. r0 + rows - 1 for input channel i, across the width:
/// pairs of whole vectors in a loop, then the rest (a whole vector and/or
/// the masked tail) as one tile.
void rowTiles(Lowering &l, const Block &blk, V i, bool first, V r0, int64_t rows) {
  auto &b = l.b;
  unsigned vw = blk.t.vw;
  int64_t full = blk.k.ow / vw, tail = blk.k.ow % vw;
  auto spotsAt = [&](std::vector<std::pair<V, bool>> cols) {
    std::vector<Spot> spots;
    for (int64_t dr = 0; dr < rows; ++dr)
      for (auto [col, masked] : cols)
        spots.push_back(Spot{dr, col, masked});
    return spots;
  };
  if (full >= 2)
    forOuter(l, l.constI64(full / 2), [&](V q) {
      V col = b.CreateMul(q, l.constI64(2 * vw));
      tile(l, blk, i, first, r0,
           spotsAt({{col, false}, {b.CreateAdd(col, l.constI64(vw)), false}}));
    });
  std::vector<std::pair<V, bool>> rest;
  if (full % 2)
    rest.push_back({l.constI64((full - 1) * vw), false});
  if (tail)
    rest.push_back({l.constI64(full * vw), true});
  if (!rest.empty())
    tile(l, blk, i, first, r0, spotsAt(rest));
}

/// One block of output channels o0 .. o0 + count - 1 of image n: per input
/// channel, the plane is copied into the padded buffer, then the output rows
/// go tile by tile. Per output element the sum runs bias, then (i, kh, kw)
/// in order, as in the plain nest.
void correlationBlock(Lowering &l, const Correlation &k, Tiling t, V n, V o0, int64_t count,
                      V pad) {
  auto &b = l.b;
  PaddedPlane pp = paddedPlane(k);
  std::vector<llvm::Constant *> lanes;
  for (unsigned v = 0; v < t.vw; ++v)
    lanes.push_back(b.getInt1(static_cast<int64_t>(v) < k.ow % t.vw));
  Block blk{k,
            t,
            o0,
            pad,
            llvm::ConstantVector::get(lanes),
            count,
            {},
            llvm::FixedVectorType::get(l.f32, t.vw)};
  for (int64_t j = 0; j < count; ++j) {
    V o = b.CreateAdd(b.CreateMul(n, l.constI64(k.outs)), b.CreateAdd(o0, l.constI64(j)));
    blk.outs.push_back(plane(l, k.out, o, k.oh * k.ow));
  }
  // Input channel i: copy its plane, then every output row.
  auto channel = [&](V i, bool first) {
    V src = plane(l, k.in, b.CreateAdd(b.CreateMul(n, l.constI64(k.ins)), i), k.h * k.w);
    forOuter(l, l.constI64(k.h), [&](V r) {
      V row = b.CreateAdd(r, l.constI64(k.ph));
      V to =
          l.at(pad, b.CreateAdd(b.CreateMul(row, l.constI64(pp.stride)), l.constI64(k.pw)), l.f32);
      b.CreateMemCpy(to, llvm::MaybeAlign(4), l.at(src, b.CreateMul(r, l.constI64(k.w)), l.f32),
                     llvm::MaybeAlign(4), k.w * 4);
    });
    if (k.oh >= t.rows)
      forOuter(l, l.constI64(k.oh / t.rows), [&](V g) {
        rowTiles(l, blk, i, first, b.CreateMul(g, l.constI64(t.rows)), t.rows);
      });
    for (int64_t r = k.oh / t.rows * t.rows; r < k.oh; ++r)
      rowTiles(l, blk, i, first, l.constI64(r), 1);
  };
  // The borders stay zero: every channel writes the same interior.
  b.CreateMemSet(pad, b.getInt8(0), l.constI64(pp.floats(t.vw) * 4), llvm::MaybeAlign(64));
  channel(l.constI64(0), true);
  if (k.ins > 1)
    forBetween(l, {l.constI64(1), l.constI64(k.ins)}, [&](V i) { channel(i, false); });
}

/// The whole correlation: parallel tasks over blocks of output channels of
/// one image (a split of the sizes alone), the last block of a channel
/// count that the block size does not divide being smaller.
void lowerCorrelation(Lowering &l, const Correlation &k, V batch) {
  auto &b = l.b;
  Tiling t = tilingFor(*l.fn, k);
  int64_t blocks = (k.outs + t.channels - 1) / t.channels;
  int64_t last = k.outs - (blocks - 1) * t.channels;
  V work = l.constI64(t.channels * k.ins * k.oh * k.ow * k.kh * k.kw);
  forPlanes(l, b.CreateMul(batch, l.constI64(blocks)), work, [&](V p) {
    V pad = stackArray(l, l.f32, paddedPlane(k).floats(t.vw));
    V n = b.CreateUDiv(p, l.constI64(blocks)), blk = b.CreateURem(p, l.constI64(blocks));
    V o0 = b.CreateMul(blk, l.constI64(t.channels));
    if (last == t.channels) {
      correlationBlock(l, k, t, n, o0, t.channels, pad);
      return;
    }
    llvm::BasicBlock *whole = llvm::BasicBlock::Create(l.ctx, "block.whole", l.fn);
    llvm::BasicBlock *part = llvm::BasicBlock::Create(l.ctx, "block.last", l.fn);
    llvm::BasicBlock *done = llvm::BasicBlock::Create(l.ctx, "block.done", l.fn);
    b.CreateCondBr(b.CreateICmpULT(blk, l.constI64(blocks - 1)), whole, part);
    b.SetInsertPoint(whole);
    correlationBlock(l, k, t, n, o0, t.channels, pad);
    b.CreateBr(done);
    b.SetInsertPoint(part);
    correlationBlock(l, k, t, n, o0, last, pad);
    b.CreateBr(done);
    b.SetInsertPoint(done);
  });
}

/// conv2d through the direct kernel, when its width stride is 1 and a
/// padded plane fits; false otherwise.
bool lowerConv2dDirect(Lowering &l, const Node &node) {
  ValueId x = node.operands[0], w = node.operands[1], out = node.result;
  Geometry g = convGeometry(l, node, x, w, out);
  const Shape &ws = l.type(w).shape;
  int64_t filters = ws[0].size, channels = ws[1].size, taps = g.kh * g.kw;
  Correlation k{l.data(x), l.data(out), channels, filters, g.h,  g.w, g.oh, g.ow,
                g.kh,      g.kw,        g.sh,     g.ph,    g.pw, {},  {},   {}};
  if (g.sw != 1 || !directFits(k, vectorLanes(*l.fn)))
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
  lowerCorrelation(l, k, l.dim(l.type(x).shape[0]));
  return true;
}

/// conv2d_grad_input through the direct kernel, when both strides are 1
/// and the padding is below the kernel: dx is dy correlated with the
/// flipped filters, channels swapped, under padding k - 1 - p,
///   dx[n, c, h, w] = sum over f, kh, kw of
///                    w[f, c, KH-1-kh, KW-1-kw] * dy[n, f, h + kh - (KH-1-ph), ...]
/// (each dx element a gather, in place of the plain nest's scatter).
bool lowerConv2dGradInputDirect(Lowering &l, const Node &node) {
  ValueId dy = node.operands[0], w = node.operands[1], x = node.operands[2], dx = node.result;
  Geometry g = convGeometry(l, node, x, w, dy);
  const Shape &ws = l.type(w).shape;
  int64_t filters = ws[0].size, channels = ws[1].size, taps = g.kh * g.kw;
  if (g.sh != 1 || g.sw != 1 || g.ph >= g.kh || g.pw >= g.kw)
    return false;
  Correlation k{
      l.data(dy), l.data(dx), filters,         channels,        g.oh, g.ow, g.h, g.w, g.kh,
      g.kw,       1,          g.kh - 1 - g.ph, g.kw - 1 - g.pw, {},   {},   {}};
  if (!directFits(k, vectorLanes(*l.fn)))
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

/// conv2d (x, w[, b]): per (n, f) plane, the bias (or zero), then for every
/// channel and tap, out[oh, ow] += w[f, c, kh, kw] * x[n, c, ih, iw] over
/// the rows and columns whose tap is inside x.
void lowerConv2d(Lowering &l, const Node &node) {
  if (lowerConv2dDirect(l, node))
    return;
  auto &b = l.b;
  ValueId x = node.operands[0], w = node.operands[1], out = node.result;
  Geometry g = convGeometry(l, node, x, w, out);
  const Shape &ws = l.type(w).shape;
  int64_t filters = ws[0].size, channels = ws[1].size;
  int64_t inPlane = g.h * g.w, outPlane = g.oh * g.ow, taps = g.kh * g.kw;
  V xData = l.data(x), wData = l.data(w), outData = l.data(out);
  V outPlanes = b.CreateMul(l.dim(l.type(x).shape[0]), l.constI64(filters));
  forPlanes(l, outPlanes, l.constI64(outPlane * channels * taps), [&](V p) {
    V n = b.CreateUDiv(p, l.constI64(filters)), f = b.CreateURem(p, l.constI64(filters));
    V y = plane(l, outData, p, outPlane);
    if (node.operands.size() == 3) {
      V bias = l.load(node.operands[2], f);
      forColumns(l, l.constI64(outPlane), [&](V i) { l.storeF32(y, i, bias); });
    } else {
      l.zero(y, l.constI64(outPlane));
    }
    forOuter(l, l.constI64(channels), [&](V c) {
      V xp = plane(l, xData, b.CreateAdd(b.CreateMul(n, l.constI64(channels)), c), inPlane);
      V wBase = b.CreateMul(b.CreateAdd(b.CreateMul(f, l.constI64(channels)), c), l.constI64(taps));
      forOuter(l, l.constI64(g.kh), [&](V kh) {
        auto rows = validRange(l, kh, g.sh, g.ph, g.h, g.oh);
        V rowShift = b.CreateSub(kh, l.constI64(g.ph));
        forOuter(l, l.constI64(g.kw), [&](V kw) {
          V weight = l.loadF32(
              wData, b.CreateAdd(wBase, b.CreateAdd(b.CreateMul(kh, l.constI64(g.kw)), kw)));
          auto cols = validRange(l, kw, g.sw, g.pw, g.w, g.ow);
          V colShift = b.CreateSub(kw, l.constI64(g.pw));
          forBetween(l, rows, [&](V oh) {
            V ih = b.CreateAdd(b.CreateMul(oh, l.constI64(g.sh)), rowShift);
            V xRow = b.CreateMul(ih, l.constI64(g.w));
            V yRow = b.CreateMul(oh, l.constI64(g.ow));
            forColumns(l, cols, [&](V ow) {
              V xv = l.loadF32(xp, b.CreateAdd(xRow, tapColumn(l, ow, g.sw, colShift)));
              V yi = b.CreateAdd(yRow, ow);
              l.storeF32(y, yi, fmuladd(l, weight, xv, l.loadF32(y, yi)));
            });
          });
        });
      });
    });
  });
}

/// conv2d_grad_input (dy, w, x for its shape): dx is zeroed, then each dy
/// element scatters dy * w onto the input taps it read (taps in the padding
/// drop out); the innermost loop runs over dy's contiguous columns.
void lowerConv2dGradInput(Lowering &l, const Node &node) {
  if (lowerConv2dGradInputDirect(l, node))
    return;
  auto &b = l.b;
  ValueId dy = node.operands[0], w = node.operands[1], x = node.operands[2], dx = node.result;
  Geometry g = convGeometry(l, node, x, w, dy);
  const Shape &ws = l.type(w).shape;
  int64_t filters = ws[0].size, channels = ws[1].size;
  int64_t inPlane = g.h * g.w, outPlane = g.oh * g.ow, taps = g.kh * g.kw;
  V dyData = l.data(dy), wData = l.data(w), dxData = l.data(dx);
  V inPlanes = b.CreateMul(l.dim(l.type(x).shape[0]), l.constI64(channels));
  forPlanes(l, inPlanes, l.constI64(outPlane * filters * taps), [&](V p) {
    V n = b.CreateUDiv(p, l.constI64(channels)), c = b.CreateURem(p, l.constI64(channels));
    V dxp = plane(l, dxData, p, inPlane);
    l.zero(dxp, l.constI64(inPlane));
    forOuter(l, l.constI64(filters), [&](V f) {
      V dyp = plane(l, dyData, b.CreateAdd(b.CreateMul(n, l.constI64(filters)), f), outPlane);
      V wBase = b.CreateMul(b.CreateAdd(b.CreateMul(f, l.constI64(channels)), c), l.constI64(taps));
      forOuter(l, l.constI64(g.kh), [&](V kh) {
        auto rows = validRange(l, kh, g.sh, g.ph, g.h, g.oh);
        V rowShift = b.CreateSub(kh, l.constI64(g.ph));
        forOuter(l, l.constI64(g.kw), [&](V kw) {
          V weight = l.loadF32(
              wData, b.CreateAdd(wBase, b.CreateAdd(b.CreateMul(kh, l.constI64(g.kw)), kw)));
          auto cols = validRange(l, kw, g.sw, g.pw, g.w, g.ow);
          V colShift = b.CreateSub(kw, l.constI64(g.pw));
          forBetween(l, rows, [&](V oh) {
            V ih = b.CreateAdd(b.CreateMul(oh, l.constI64(g.sh)), rowShift);
            V xRow = b.CreateMul(ih, l.constI64(g.w));
            V dyRow = b.CreateMul(oh, l.constI64(g.ow));
            forColumns(l, cols, [&](V ow) {
              V gv = l.loadF32(dyp, b.CreateAdd(dyRow, ow));
              V xi = b.CreateAdd(xRow, tapColumn(l, ow, g.sw, colShift));
              l.storeF32(dxp, xi, fmuladd(l, weight, gv, l.loadF32(dxp, xi)));
            });
          });
        });
      });
    });
  });
}

/// conv2d_grad_filter through a register-tiled kernel, when the width
/// stride is 1 and a padded plane of doubles fits: one task per block of
/// filters of one channel c. Per image, x[n, c] is copied once into a
/// zero-padded plane of doubles; then for each dy row and vector of
/// columns (dy converted once), every (filter, tap) of a group keeps a
/// vector of double partial sums in a register, fed by one load of the
/// padded x each. The sums are exact products added in double, as in the
/// plain nest; each accumulator's lanes are added in order at the end.
bool lowerConv2dGradFilterDirect(Lowering &l, const Node &node) {
  auto &b = l.b;
  ValueId x = node.operands[0], dy = node.operands[1], w = node.operands[2], dw = node.result;
  Geometry g = convGeometry(l, node, x, w, dy);
  const Shape &ws = l.type(w).shape;
  int64_t filters = ws[0].size, channels = ws[1].size, taps = g.kh * g.kw;
  unsigned vd = vectorLanes(*l.fn) / 2; // doubles per vector
  if (vd < 2)
    return false;
  int64_t stride = g.w + 2 * g.pw, rows = g.h + 2 * g.ph, padded = stride * rows + vd;
  if (g.sw != 1 || padded > 8192)
    return false;
  // Accumulators: about 24 of 32 registers (AVX-512), 12 of 16 otherwise.
  int64_t maxAcc = vd == 8 ? 24 : 12;
  int64_t block = std::clamp<int64_t>(maxAcc / taps, 1, filters);
  int64_t group = std::max<int64_t>(1, maxAcc / block); // taps per pass
  int64_t blocks = (filters + block - 1) / block, last = filters - (blocks - 1) * block;
  int64_t full = g.ow / vd, tail = g.ow % vd;
  llvm::Type *vecD = llvm::FixedVectorType::get(l.f64, vd);
  llvm::Type *vecF = llvm::FixedVectorType::get(l.f32, vd);
  std::vector<llvm::Constant *> lanes;
  for (unsigned v = 0; v < vd; ++v)
    lanes.push_back(b.getInt1(static_cast<int64_t>(v) < tail));
  V tailMask = llvm::ConstantVector::get(lanes);
  V xData = l.data(x), dyData = l.data(dy), dwData = l.data(dw);
  V batch = l.dim(l.type(x).shape[0]);

  // Filters f0 .. f0 + count - 1 of channel c, taps [t0, t1).
  auto pass = [&](V pad, V f0, V c, int64_t count, int64_t t0, int64_t t1) {
    std::vector<llvm::AllocaInst *> sums;
    // The partial sums live in registers across the loops: as phis would be
    // awkward with these loop helpers, in allocas that mem2reg promotes.
    llvm::IRBuilder<> eb(&l.fn->getEntryBlock(), l.fn->getEntryBlock().begin());
    for (int64_t a = 0; a < count * (t1 - t0); ++a)
      sums.push_back(eb.CreateAlloca(vecD));
    for (llvm::AllocaInst *s : sums)
      b.CreateStore(llvm::Constant::getNullValue(vecD), s);
    forOuter(l, batch, [&](V n) {
      V xp = plane(l, xData, b.CreateAdd(b.CreateMul(n, l.constI64(channels)), c), g.h * g.w);
      forOuter(l, l.constI64(g.h), [&](V r) {
        V to = b.CreateAdd(b.CreateMul(b.CreateAdd(r, l.constI64(g.ph)), l.constI64(stride)),
                           l.constI64(g.pw));
        V from = b.CreateMul(r, l.constI64(g.w));
        forColumns(l, l.constI64(g.w), [&](V i) {
          V v = b.CreateFPExt(l.loadF32(xp, b.CreateAdd(from, i)), l.f64);
          b.CreateStore(v, l.at(pad, b.CreateAdd(to, i), l.f64));
        });
      });
      std::vector<V> dyp;
      for (int64_t j = 0; j < count; ++j) {
        V f = b.CreateAdd(f0, l.constI64(j));
        dyp.push_back(
            plane(l, dyData, b.CreateAdd(b.CreateMul(n, l.constI64(filters)), f), g.oh * g.ow));
      }
      auto chunk = [&](V oh, V col, bool masked) {
        std::vector<V> dv;
        V at = b.CreateAdd(b.CreateMul(oh, l.constI64(g.ow)), col);
        for (int64_t j = 0; j < count; ++j) {
          V p = l.at(dyp[j], at, l.f32);
          V v = masked ? V(b.CreateMaskedLoad(vecF, p, llvm::Align(4), tailMask,
                                              llvm::Constant::getNullValue(vecF)))
                       : V(b.CreateAlignedLoad(vecF, p, llvm::Align(4)));
          dv.push_back(b.CreateFPExt(v, vecD));
        }
        V top =
            b.CreateAdd(b.CreateMul(b.CreateMul(oh, l.constI64(g.sh)), l.constI64(stride)), col);
        for (int64_t t = t0; t < t1; ++t) {
          V p = l.at(pad, b.CreateAdd(top, l.constI64(t / g.kw * stride + t % g.kw)), l.f64);
          V xv = masked ? V(b.CreateMaskedLoad(vecD, p, llvm::Align(8), tailMask,
                                               llvm::Constant::getNullValue(vecD)))
                        : V(b.CreateAlignedLoad(vecD, p, llvm::Align(8)));
          for (int64_t j = 0; j < count; ++j) {
            llvm::AllocaInst *s = sums[j * (t1 - t0) + (t - t0)];
            b.CreateStore(fmuladd(l, xv, dv[j], b.CreateLoad(vecD, s)), s);
          }
        }
      };
      forOuter(l, l.constI64(g.oh), [&](V oh) {
        if (full > 0)
          forOuter(l, l.constI64(full),
                   [&](V q) { chunk(oh, b.CreateMul(q, l.constI64(vd)), false); });
        if (tail > 0)
          chunk(oh, l.constI64(full * vd), true);
      });
    });
    // dw[f, c, tap] = the lanes of its sums, added in order.
    for (int64_t j = 0; j < count; ++j)
      for (int64_t t = t0; t < t1; ++t) {
        V v = b.CreateLoad(vecD, sums[j * (t1 - t0) + (t - t0)]);
        V total = llvm::ConstantFP::get(l.f64, 0.0);
        for (unsigned k = 0; k < vd; ++k)
          total = b.CreateFAdd(total, b.CreateExtractElement(v, k));
        V f = b.CreateAdd(f0, l.constI64(j));
        V index = b.CreateAdd(
            b.CreateMul(b.CreateAdd(b.CreateMul(f, l.constI64(channels)), c), l.constI64(taps)),
            l.constI64(t));
        l.storeF32(dwData, index, b.CreateFPTrunc(total, l.f32));
      }
  };
  auto blockOf = [&](V pad, V f0, V c, int64_t count) {
    for (int64_t t0 = 0; t0 < taps; t0 += group)
      pass(pad, f0, c, count, t0, std::min(taps, t0 + group));
  };

  V work = b.CreateMul(batch, l.constI64(block * g.oh * g.ow * taps));
  forPlanes(l, l.constI64(blocks * channels), work, [&](V p) {
    V pad = stackArray(l, l.f64, padded);
    b.CreateMemSet(pad, b.getInt8(0), l.constI64(padded * 8), llvm::MaybeAlign(64));
    V blk = b.CreateUDiv(p, l.constI64(channels)), c = b.CreateURem(p, l.constI64(channels));
    V f0 = b.CreateMul(blk, l.constI64(block));
    if (last == block) {
      blockOf(pad, f0, c, block);
      return;
    }
    llvm::BasicBlock *whole = llvm::BasicBlock::Create(l.ctx, "block.whole", l.fn);
    llvm::BasicBlock *part = llvm::BasicBlock::Create(l.ctx, "block.last", l.fn);
    llvm::BasicBlock *done = llvm::BasicBlock::Create(l.ctx, "block.done", l.fn);
    b.CreateCondBr(b.CreateICmpULT(blk, l.constI64(blocks - 1)), whole, part);
    b.SetInsertPoint(whole);
    blockOf(pad, f0, c, block);
    b.CreateBr(done);
    b.SetInsertPoint(part);
    blockOf(pad, f0, c, last);
    b.CreateBr(done);
    b.SetInsertPoint(done);
  });
  return true;
}

/// conv2d_grad_filter (x, dy, w for its shape): x correlated with dy,
/// dw[f, c, kh, kw] = sum over n, oh, ow of x[n, c, tap] * dy[n, f, oh, ow].
/// The sum runs in double, lane by lane over a row of ow partial sums (so the
/// loop over ow vectorizes without reordering a reduction), and the row is
/// added up once per filter element. When the rows of all taps fit in a
/// small stack buffer, the batch loop sits outside the taps (each x and dy
/// plane is read while it is in cache); otherwise each tap has its own pass.
void lowerConv2dGradFilter(Lowering &l, const Node &node) {
  if (lowerConv2dGradFilterDirect(l, node))
    return;
  auto &b = l.b;
  ValueId x = node.operands[0], dy = node.operands[1], w = node.operands[2], dw = node.result;
  Geometry g = convGeometry(l, node, x, w, dy);
  const Shape &ws = l.type(w).shape;
  int64_t filters = ws[0].size, channels = ws[1].size;
  int64_t inPlane = g.h * g.w, outPlane = g.oh * g.ow, taps = g.kh * g.kw;
  V xData = l.data(x), dyData = l.data(dy), dwData = l.data(dw);
  V batch = l.dim(l.type(x).shape[0]);
  bool allTaps = taps * g.ow <= 16384; // 128 KB of doubles
  V scratch = nullptr;                 // per task, allocated in its function

  // row[ow] += x[n, c, tap] * dy[n, f, oh, ow] over the valid rows and columns.
  auto accumulate = [&](V row, V n, V f, V c, V kh, V kw) {
    V xp = plane(l, xData, b.CreateAdd(b.CreateMul(n, l.constI64(channels)), c), inPlane);
    V dyp = plane(l, dyData, b.CreateAdd(b.CreateMul(n, l.constI64(filters)), f), outPlane);
    auto rows = validRange(l, kh, g.sh, g.ph, g.h, g.oh);
    auto cols = validRange(l, kw, g.sw, g.pw, g.w, g.ow);
    V rowShift = b.CreateSub(kh, l.constI64(g.ph));
    V colShift = b.CreateSub(kw, l.constI64(g.pw));
    forBetween(l, rows, [&](V oh) {
      V ih = b.CreateAdd(b.CreateMul(oh, l.constI64(g.sh)), rowShift);
      V xRow = b.CreateMul(ih, l.constI64(g.w));
      V dyRow = b.CreateMul(oh, l.constI64(g.ow));
      forColumns(l, cols, [&](V ow) {
        V xv = b.CreateFPExt(l.loadF32(xp, b.CreateAdd(xRow, tapColumn(l, ow, g.sw, colShift))),
                             l.f64);
        V gv = b.CreateFPExt(l.loadF32(dyp, b.CreateAdd(dyRow, ow)), l.f64);
        V slot = l.at(row, ow, l.f64);
        b.CreateStore(fmuladd(l, xv, gv, b.CreateLoad(l.f64, slot)), slot);
      });
    });
  };
  // dw[f, c, kh, kw] = the sum of a row.
  auto finish = [&](V row, V f, V c, V kh, V kw) {
    V sum = l.reduceRange(l.constI64(g.ow), llvm::ConstantFP::get(l.f64, 0.0), [&](V i, V acc) {
      return b.CreateFAdd(acc, b.CreateLoad(l.f64, l.at(row, i, l.f64)));
    });
    V index = b.CreateAdd(
        b.CreateMul(b.CreateAdd(b.CreateMul(f, l.constI64(channels)), c), l.constI64(taps)),
        b.CreateAdd(b.CreateMul(kh, l.constI64(g.kw)), kw));
    l.storeF32(dwData, index, b.CreateFPTrunc(sum, l.f32));
  };
  auto zeroDoubles = [&](int64_t count) {
    b.CreateMemSet(scratch, b.getInt8(0), l.constI64(count * 8), llvm::MaybeAlign(64));
  };
  auto tapRow = [&](V kh, V kw) {
    return l.at(scratch,
                b.CreateMul(b.CreateAdd(b.CreateMul(kh, l.constI64(g.kw)), kw), l.constI64(g.ow)),
                l.f64);
  };

  // One task per (f, c) slice of dw: its sums keep their order.
  V slices = l.constI64(filters * channels);
  forPlanes(l, slices, b.CreateMul(batch, l.constI64(outPlane * taps)), [&](V p) {
    V f = b.CreateUDiv(p, l.constI64(channels)), c = b.CreateURem(p, l.constI64(channels));
    scratch = stackArray(l, l.f64, allTaps ? taps * g.ow : g.ow);
    if (allTaps) {
      zeroDoubles(taps * g.ow);
      forOuter(l, batch, [&](V n) {
        forOuter(l, l.constI64(g.kh), [&](V kh) {
          forOuter(l, l.constI64(g.kw), [&](V kw) { accumulate(tapRow(kh, kw), n, f, c, kh, kw); });
        });
      });
      forOuter(l, l.constI64(g.kh), [&](V kh) {
        forOuter(l, l.constI64(g.kw), [&](V kw) { finish(tapRow(kh, kw), f, c, kh, kw); });
      });
      return;
    }
    forOuter(l, l.constI64(g.kh), [&](V kh) {
      forOuter(l, l.constI64(g.kw), [&](V kw) {
        zeroDoubles(g.ow);
        forOuter(l, batch, [&](V n) { accumulate(scratch, n, f, c, kh, kw); });
        finish(scratch, f, c, kh, kw);
      });
    });
  });
}

/// The number of (n, c) planes of an NCHW value.
V planes(Lowering &l, ValueId v) {
  const Shape &s = l.type(v).shape;
  return l.b.CreateMul(l.dim(s[0]), l.dim(s[1]));
}

/// max (NaN-propagating: a NaN tap wins, as in PyTorch) or the mean of each
/// window: per output row, the row starts at -inf (0) and takes every tap
/// in turn over the whole row.
void lowerPool(Lowering &l, const Node &node) {
  auto &b = l.b;
  ValueId x = node.operands[0], out = node.result;
  Geometry g = poolGeometry(l, node, x, out);
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
void lowerMaxPoolGrad(Lowering &l, const Node &node) {
  auto &b = l.b;
  ValueId x = node.operands[0], dy = node.operands[1], dx = node.result;
  Geometry g = poolGeometry(l, node, x, dy);
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
void lowerAvgPoolGrad(Lowering &l, const Node &node) {
  auto &b = l.b;
  ValueId x = node.operands[0], dy = node.operands[1], dx = node.result;
  Geometry g = poolGeometry(l, node, x, dy);
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

void lowerConv(Lowering &l, const Node &node) {
  switch (node.op) {
  case OpKind::Conv2d:
    return lowerConv2d(l, node);
  case OpKind::Conv2dGradInput:
    return lowerConv2dGradInput(l, node);
  case OpKind::Conv2dGradFilter:
    return lowerConv2dGradFilter(l, node);
  case OpKind::MaxPool2d:
  case OpKind::AvgPool2d:
    return lowerPool(l, node);
  case OpKind::MaxPool2dGrad:
    return lowerMaxPoolGrad(l, node);
  case OpKind::AvgPool2dGrad:
    return lowerAvgPoolGrad(l, node);
  default:
    assert(false && "not a Conv op");
  }
}

} // namespace nnc
