/// Lowering of fused_attention (q, k, v[, mask]) = softmax(q k^T scale
/// [+ mask]) v with the flash-attention schedule on the CPU: each task takes
/// a block of query rows of one batch index; for each row it walks the keys
/// a tile at a time, keeping the row's running maximum m, its running sum
/// of exponentials s and its output accumulator acc[Dv] (an online softmax:
/// when a tile raises the maximum, s and acc are rescaled by exp(m - m')).
/// A tile's scores live in a stack array of kKeyTile floats; the
/// [..., Tq, Tk] scores are never stored. The tasks do not depend on the
/// thread count, and each row's arithmetic is the same on any of them.
#include "codegen/Lowering.h"
#include "ir/InternalError.h"
#include "ir/NodeAttrs.h"

namespace nnc {

namespace {

using V = llvm::Value *;

/// Keys per tile: the scores of one tile stay in the L1 cache (and registers).
constexpr int64_t kKeyTile = 64;
/// Query rows per task.
constexpr int64_t kRowsPerTask = 8;

V minI64(Lowering &l, V a, V b) { return l.b.CreateSelect(l.b.CreateICmpULT(a, b), a, b); }

/// The dims of an attention node, and where a row of each operand starts.
struct Attention {
  ValueId q = kNoValue, k = kNoValue, v = kNoValue, mask = kNoValue, out = kNoValue;
  V tq = nullptr, tk = nullptr, d = nullptr, dv = nullptr, batches = nullptr;
  bool maskPerBatch = false;
  double scale = 1;
};

Attention attentionOf(Lowering &l, const Node &n) {
  Attention a;
  a.q = n.operands[0];
  a.k = n.operands[1];
  a.v = n.operands[2];
  a.mask = n.operands.size() > 3 ? n.operands[3] : kNoValue;
  a.out = n.result;
  std::vector<V> qs = l.shape(a.q), ks = l.shape(a.k), vs = l.shape(a.v);
  size_t r = qs.size();
  a.tq = qs[r - 2];
  a.d = qs[r - 1];
  a.tk = ks[r - 2];
  a.dv = vs[r - 1];
  a.batches = l.constI64(1);
  for (size_t i = 0; i + 2 < r; ++i)
    a.batches = l.b.CreateMul(a.batches, qs[i]);
  a.maskPerBatch = a.mask != kNoValue && l.type(a.mask).rank() > 2;
  a.scale = attr::scale(n);
  return a;
}

/// The scores of query row `row` (flat: batch * Tq + i) against keys
/// [first, first + width) into `scores`; returns their maximum.
V tileScores(Lowering &l, const Attention &a, V batch, V i, V first, V width, V scores) {
  auto &b = l.b;
  V row = b.CreateAdd(b.CreateMul(batch, a.tq), i);
  V qBase = b.CreateMul(row, a.d);
  V top = l.reduceRange(width, l.constF32(-INFINITY), [&](V jj, V best) {
    V j = b.CreateAdd(first, jj);
    V kBase = b.CreateMul(b.CreateAdd(b.CreateMul(batch, a.tk), j), a.d);
    V dot = l.reduceRange(a.d, l.constF32(0), [&](V c, V acc) {
      V p = b.CreateFMul(l.load(a.q, b.CreateAdd(qBase, c)), l.load(a.k, b.CreateAdd(kBase, c)));
      V sum = b.CreateFAdd(acc, p);
      llvm::cast<llvm::Instruction>(sum)->setHasAllowReassoc(true);
      return sum;
    });
    V s = b.CreateFMul(dot, l.constF32(a.scale));
    if (a.mask != kNoValue) {
      V at = b.CreateAdd(b.CreateMul(i, a.tk), j);
      if (a.maskPerBatch)
        at = b.CreateAdd(at, b.CreateMul(batch, b.CreateMul(a.tq, a.tk)));
      s = b.CreateFAdd(s, l.load(a.mask, at));
    }
    l.storeF32(scores, jj, s);
    return l.intrinsic(llvm::Intrinsic::maxnum, {best, s});
  });
  return top;
}

/// One query row: the online softmax over the key tiles, then out = acc / s.
void attentionRow(Lowering &l, const Attention &a, V batch, V i, V scores, V acc, V carried) {
  auto &b = l.b;
  l.forRange(a.dv, [&](V c) { l.storeF32(acc, c, l.constF32(0)); });
  l.storeF32(carried, l.constI64(0), l.constF32(-INFINITY)); // m
  l.storeF32(carried, l.constI64(1), l.constF32(0));         // s
  V tiles = b.CreateUDiv(b.CreateAdd(a.tk, l.constI64(kKeyTile - 1)), l.constI64(kKeyTile));
  l.forRange(
      tiles,
      [&](V t) {
        V first = b.CreateMul(t, l.constI64(kKeyTile));
        V width = minI64(l, l.constI64(kKeyTile), b.CreateSub(a.tk, first));
        V top = tileScores(l, a, batch, i, first, width, scores);
        V m = l.loadF32(carried, l.constI64(0));
        V next = l.intrinsic(llvm::Intrinsic::maxnum, {m, top});
        // exp(m - m'): 0 on the first tile (m = -inf), where m - m' is NaN
        // if every score so far is -inf too.
        V rescale = b.CreateSelect(b.CreateFCmpOEQ(m, l.constF32(-INFINITY)), l.constF32(0),
                                   l.exp(b.CreateFSub(m, next)));
        l.forRange(a.dv,
                   [&](V c) { l.storeF32(acc, c, b.CreateFMul(l.loadF32(acc, c), rescale)); });
        V vRow0 = b.CreateAdd(b.CreateMul(batch, a.tk), first);
        V sum = l.reduceRange(width, l.constF32(0), [&](V jj, V total) {
          V e = l.exp(b.CreateFSub(l.loadF32(scores, jj), next));
          V vBase = b.CreateMul(b.CreateAdd(vRow0, jj), a.dv);
          l.forRange(a.dv, [&](V c) {
            V weighted = b.CreateFMul(e, l.load(a.v, b.CreateAdd(vBase, c)));
            l.storeF32(acc, c, b.CreateFAdd(l.loadF32(acc, c), weighted));
          });
          return b.CreateFAdd(total, e);
        });
        V s = l.loadF32(carried, l.constI64(1));
        l.storeF32(carried, l.constI64(1), b.CreateFAdd(b.CreateFMul(s, rescale), sum));
        l.storeF32(carried, l.constI64(0), next);
      },
      false);
  V s = l.loadF32(carried, l.constI64(1));
  V outBase = b.CreateMul(b.CreateAdd(b.CreateMul(batch, a.tq), i), a.dv);
  l.forRange(a.dv, [&](V c) {
    l.store(a.out, b.CreateAdd(outBase, c), b.CreateFDiv(l.loadF32(acc, c), s));
  });
}

} // namespace

void lowerAttention(Lowering &l, const Node &n) {
  auto &b = l.b;
  Attention a = attentionOf(l, n);
  const Dim &dvDim = l.type(n.result).shape.back();
  NNC_CHECK(dvDim.isStatic(), "fuse-attention fuses a static Dv only");
  int64_t dv = dvDim.size;
  V blocks =
      b.CreateUDiv(b.CreateAdd(a.tq, l.constI64(kRowsPerTask - 1)), l.constI64(kRowsPerTask));
  V tasks = b.CreateMul(a.batches, blocks);
  V work = b.CreateMul(b.CreateMul(a.batches, a.tq), b.CreateMul(a.tk, a.d));
  V worthIt = b.CreateICmpUGE(work, l.constI64(int64_t{1} << 16));
  parallelFor(l, tasks, worthIt, [&](V t) {
    V scores = stackArray(l, l.f32, kKeyTile);
    V acc = stackArray(l, l.f32, dv);
    V carried = stackArray(l, l.f32, 2);
    V batch = b.CreateUDiv(t, blocks);
    V first = b.CreateMul(b.CreateURem(t, blocks), l.constI64(kRowsPerTask));
    V rows = minI64(l, l.constI64(kRowsPerTask), b.CreateSub(a.tq, first));
    l.forRange(
        rows, [&](V r) { attentionRow(l, a, batch, b.CreateAdd(first, r), scores, acc, carried); },
        false);
  });
}

} // namespace nnc
