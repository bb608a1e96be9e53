/// Lowering of fused_attention (q, k, v[, mask]) = softmax(q k^T scale
/// [+ mask]) v and of its gradients, fused_attention_grad (q, k, v, o, do
/// [, mask], wrt=q|k|v), with the flash-attention schedule on the CPU.
///
/// A task takes a block of kRowBlock query rows of one batch index and walks
/// the keys a tile of kKeyTile at a time. Per tile, the block's scores S =
/// q k^T (k's tile transposed into a stack buffer first) are one register-
/// tiled product (codegen/lower/TileProduct.h) into a stack tile; they are
/// scaled and masked there, and the products with v, do, k or q read that
/// tile. The [..., Tq, Tk] scores are never stored.
///
/// Forward: an online softmax. Each row keeps its running maximum m and sum
/// of exponentials l; when a tile raises the maximum, l and the row's
/// output accumulator are rescaled by exp(m - m'); out = acc / l.
///
/// Backward (FlashAttention-2): one sweep over the key tiles gives each
/// row's m and l, a second recomputes S and P = exp(S - m) / l, and for q
/// and k also dP = do v^T and dS = P (dP - rowsum(do o)) scale. Then dq +=
/// dS k (tasks: blocks of query rows), dk += dS^T q or dv += P^T do (tasks:
/// one batch index each, its row blocks in order, since every row adds into
/// every key). Each result is written by one task in one order: the same
/// bits on any thread count.
#include "codegen/lower/TileProduct.h"
#include "ir/InternalError.h"
#include "ir/NodeAttrs.h"

namespace nnc {

namespace {

using V = llvm::Value *;

/// Keys per tile: a tile of scores of a row block stays in the L1 cache.
constexpr int64_t kKeyTile = 64;
/// Query rows per block (and forward or dq task).
constexpr int64_t kRowBlock = 32;

V minI64(Lowering &l, V a, V b) { return l.b.CreateSelect(l.b.CreateICmpULT(a, b), a, b); }

/// The dims of an attention node and its operands. D and Dv are static
/// (fuse-attention checks), sizing the stack buffers.
struct Attention {
  ValueId q = kNoValue, k = kNoValue, v = kNoValue, mask = kNoValue;
  V tq = nullptr, tk = nullptr, batches = nullptr;
  int64_t d = 0, dv = 0;
  bool maskPerBatch = false;
  double scale = 1;
};

Attention attentionOf(Lowering &l, const Node &n) {
  Attention a;
  a.q = n.operands[0];
  a.k = n.operands[1];
  a.v = n.operands[2];
  size_t maskAt = n.op == OpKind::FusedAttentionGrad ? 5 : 3;
  a.mask = n.operands.size() > maskAt ? n.operands[maskAt] : kNoValue;
  std::vector<V> qs = l.shape(a.q), ks = l.shape(a.k);
  size_t r = qs.size();
  a.tq = qs[r - 2];
  a.tk = ks[r - 2];
  const Dim &d = l.type(a.q).shape.back(), &dv = l.type(a.v).shape.back();
  NNC_CHECK(d.isStatic() && dv.isStatic(), "fuse-attention fuses static head dims only");
  a.d = d.size;
  a.dv = dv.size;
  a.batches = l.constI64(1);
  for (size_t i = 0; i + 2 < r; ++i)
    a.batches = l.b.CreateMul(a.batches, qs[i]);
  a.maskPerBatch = a.mask != kNoValue && l.type(a.mask).rank() > 2;
  a.scale = attr::scale(n);
  return a;
}

/// The stack buffers of one task.
struct Buffers {
  V kT, vT;   ///< a key tile of k (and v) transposed: [D][kKeyTile], [Dv][kKeyTile]
  V scores;   ///< [kRowBlock][kKeyTile]: S, then P
  V dp;       ///< [kRowBlock][kKeyTile]: dP, then dS
  V m, l, dr; ///< per row: maximum, sum of exponentials, rowsum(do o)
};

Buffers buffersFor(Lowering &l, const Attention &a, bool backward) {
  Buffers s;
  s.kT = stackArray(l, l.f32, a.d * kKeyTile);
  s.vT = backward ? stackArray(l, l.f32, a.dv * kKeyTile) : nullptr;
  s.scores = stackArray(l, l.f32, kRowBlock * kKeyTile);
  s.dp = backward ? stackArray(l, l.f32, kRowBlock * kKeyTile) : nullptr;
  s.m = stackArray(l, l.f32, kRowBlock);
  s.l = stackArray(l, l.f32, kRowBlock);
  s.dr = backward ? stackArray(l, l.f32, kRowBlock) : nullptr;
  return s;
}

/// A block of query rows [r0, r0 + rows) of batch index `batch`.
struct RowBlock {
  V batch, r0, rows;
  /// The flat row (batch * Tq + r0 + r) of q, o and do.
  V row(Lowering &l, const Attention &a, V r) const {
    return l.b.CreateAdd(l.b.CreateMul(batch, a.tq), l.b.CreateAdd(r0, r));
  }
};

/// The key tile [first, first + width) of batch index `batch`.
struct KeyTile {
  V first, width;
  V row(Lowering &l, const Attention &a, V batch, V j) const {
    return l.b.CreateAdd(l.b.CreateMul(batch, a.tk), l.b.CreateAdd(first, j));
  }
};

void forKeyTiles(Lowering &l, const Attention &a,
                 const std::function<void(const KeyTile &)> &body) {
  auto &b = l.b;
  V tiles = b.CreateUDiv(b.CreateAdd(a.tk, l.constI64(kKeyTile - 1)), l.constI64(kKeyTile));
  l.forRange(
      tiles,
      [&](V t) {
        V first = b.CreateMul(t, l.constI64(kKeyTile));
        body(KeyTile{first, minI64(l, l.constI64(kKeyTile), b.CreateSub(a.tk, first))});
      },
      false);
}

/// to[c * kKeyTile + j] = x[row(j) * width + c]: a key tile of k or v,
/// transposed.
void transposeTile(Lowering &l, const Attention &a, ValueId x, int64_t width, V batch,
                   const KeyTile &t, V to) {
  auto &b = l.b;
  l.forRange(
      t.width,
      [&](V j) {
        V from = b.CreateMul(t.row(l, a, batch, j), l.constI64(width));
        l.forRange(l.constI64(width), [&](V c) {
          V at = b.CreateAdd(b.CreateMul(c, l.constI64(kKeyTile)), j);
          l.storeF32(to, at, l.load(x, b.CreateAdd(from, c)));
        });
      },
      false);
}

StridedMatrix rowsOf(Lowering &l, V base, V firstRow, int64_t width) {
  return {l.at(base, l.b.CreateMul(firstRow, l.constI64(width)), l.f32), l.constI64(width),
          l.constI64(1)};
}

StridedMatrix tileMatrix(Lowering &l, V tile) {
  return {tile, l.constI64(kKeyTile), l.constI64(1)};
}

/// The transpose of a [kRowBlock][kKeyTile] tile.
StridedMatrix tileTransposed(Lowering &l, V tile) {
  return {tile, l.constI64(1), l.constI64(kKeyTile)};
}

/// S = q k^T scale [+ mask] for a row block and key tile, into the scores
/// tile (k's tile transposed into kT first).
void scoresTile(Lowering &l, const Attention &a, const Buffers &s, const RowBlock &rb,
                const KeyTile &t) {
  auto &b = l.b;
  transposeTile(l, a, a.k, a.d, rb.batch, t, s.kT);
  tileProduct(l, rowsOf(l, l.data(a.q), rb.row(l, a, l.constI64(0)), a.d), tileMatrix(l, s.kT),
              tileMatrix(l, s.scores), rb.rows, t.width, l.constI64(a.d), false);
  l.forRange(
      rb.rows,
      [&](V r) {
        V tileRow = b.CreateMul(r, l.constI64(kKeyTile));
        V maskRow = nullptr;
        if (a.mask != kNoValue) {
          maskRow = b.CreateAdd(b.CreateMul(b.CreateAdd(rb.r0, r), a.tk), t.first);
          if (a.maskPerBatch)
            maskRow = b.CreateAdd(maskRow, b.CreateMul(rb.batch, b.CreateMul(a.tq, a.tk)));
        }
        l.forRange(t.width, [&](V j) {
          V at = b.CreateAdd(tileRow, j);
          V x = b.CreateFMul(l.loadF32(s.scores, at), l.constF32(a.scale));
          if (maskRow)
            x = b.CreateFAdd(x, l.load(a.mask, b.CreateAdd(maskRow, j)));
          l.storeF32(s.scores, at, x);
        });
      },
      false);
}

/// The largest score of row r of the tile (a NaN wins, as in softmax).
V rowMaximum(Lowering &l, const Buffers &s, V r, V width) {
  V tileRow = l.b.CreateMul(r, l.constI64(kKeyTile));
  return l.reduceRange(width, l.constF32(-INFINITY), [&](V j, V best) {
    return l.intrinsic(llvm::Intrinsic::maximum,
                       {best, l.loadF32(s.scores, l.b.CreateAdd(tileRow, j))});
  });
}

/// Row r's online-softmax step for one tile: the new maximum m', the
/// scores replaced by exp(s - m'), l = l exp(m - m') + their sum. Returns
/// exp(m - m') (0 while m is -inf: no earlier tile counted).
V onlineStep(Lowering &l, const Buffers &s, V r, V width) {
  auto &b = l.b;
  V m = l.loadF32(s.m, r);
  V next = l.intrinsic(llvm::Intrinsic::maximum, {m, rowMaximum(l, s, r, width)});
  V rescale = b.CreateSelect(b.CreateFCmpOEQ(m, l.constF32(-INFINITY)), l.constF32(0),
                             l.exp(b.CreateFSub(m, next)));
  V tileRow = b.CreateMul(r, l.constI64(kKeyTile));
  V sum = l.reduceRange(width, l.constF32(0), [&](V j, V total) {
    V at = b.CreateAdd(tileRow, j);
    V e = l.expNonPositive(b.CreateFSub(l.loadF32(s.scores, at), next));
    l.storeF32(s.scores, at, e);
    V added = b.CreateFAdd(total, e);
    llvm::cast<llvm::Instruction>(added)->setHasAllowReassoc(true); // the vectorizer takes it
    return added;
  });
  l.storeF32(s.l, r, b.CreateFAdd(b.CreateFMul(l.loadF32(s.l, r), rescale), sum));
  l.storeF32(s.m, r, next);
  return rescale;
}

void startRows(Lowering &l, const Buffers &s, V rows) {
  l.forRange(rows, [&](V r) {
    l.storeF32(s.m, r, l.constF32(-INFINITY));
    l.storeF32(s.l, r, l.constF32(0));
  });
}

/// Forward: the online softmax over the key tiles into the output rows
/// (the accumulator), then out = acc / l.
void forwardBlock(Lowering &l, const Attention &a, const Buffers &s, const RowBlock &rb,
                  ValueId out) {
  auto &b = l.b;
  V outRows = l.at(l.data(out), b.CreateMul(rb.row(l, a, l.constI64(0)), l.constI64(a.dv)), l.f32);
  l.zero(outRows, b.CreateMul(rb.rows, l.constI64(a.dv)));
  startRows(l, s, rb.rows);
  forKeyTiles(l, a, [&](const KeyTile &t) {
    scoresTile(l, a, s, rb, t);
    l.forRange(
        rb.rows,
        [&](V r) {
          V rescale = onlineStep(l, s, r, t.width);
          V row = b.CreateMul(r, l.constI64(a.dv));
          l.forRange(l.constI64(a.dv), [&](V c) {
            V at = b.CreateAdd(row, c);
            l.storeF32(outRows, at, b.CreateFMul(l.loadF32(outRows, at), rescale));
          });
        },
        false);
    // out += P v_tile.
    tileProduct(l, tileMatrix(l, s.scores),
                rowsOf(l, l.data(a.v), t.row(l, a, rb.batch, l.constI64(0)), a.dv),
                {outRows, l.constI64(a.dv), l.constI64(1)}, rb.rows, l.constI64(a.dv), t.width,
                true);
  });
  l.forRange(
      rb.rows,
      [&](V r) {
        V inverse = b.CreateFDiv(l.constF32(1), l.loadF32(s.l, r));
        V row = b.CreateMul(r, l.constI64(a.dv));
        l.forRange(l.constI64(a.dv), [&](V c) {
          V at = b.CreateAdd(row, c);
          l.storeF32(outRows, at, b.CreateFMul(l.loadF32(outRows, at), inverse));
        });
      },
      false);
}

/// What a backward adds per key tile, given P (and dS, for q and k) of the
/// row block in the buffers.
using TileUpdate = std::function<void(const KeyTile &)>;

/// Backward of one row block: m and l by one sweep, rowsum(do o), then per
/// key tile P (and dP, dS when `needDs`) and `update`.
void backwardBlock(Lowering &l, const Attention &a, const Buffers &s, const RowBlock &rb, ValueId o,
                   ValueId dout, bool needDs, const TileUpdate &update) {
  auto &b = l.b;
  startRows(l, s, rb.rows);
  forKeyTiles(l, a, [&](const KeyTile &t) {
    scoresTile(l, a, s, rb, t);
    l.forRange(rb.rows, [&](V r) { onlineStep(l, s, r, t.width); }, false);
  });
  if (needDs)
    l.forRange(
        rb.rows,
        [&](V r) {
          V base = b.CreateMul(rb.row(l, a, r), l.constI64(a.dv));
          V dot = l.reduceRange(l.constI64(a.dv), l.constF32(0), [&](V c, V acc) {
            V at = b.CreateAdd(base, c);
            V sum = b.CreateFAdd(acc, b.CreateFMul(l.load(dout, at), l.load(o, at)));
            llvm::cast<llvm::Instruction>(sum)->setHasAllowReassoc(true);
            return sum;
          });
          l.storeF32(s.dr, r, dot);
        },
        false);
  StridedMatrix doRows = rowsOf(l, l.data(dout), rb.row(l, a, l.constI64(0)), a.dv);
  forKeyTiles(l, a, [&](const KeyTile &t) {
    scoresTile(l, a, s, rb, t);
    if (needDs) {
      transposeTile(l, a, a.v, a.dv, rb.batch, t, s.vT);
      tileProduct(l, doRows, tileMatrix(l, s.vT), tileMatrix(l, s.dp), rb.rows, t.width,
                  l.constI64(a.dv), false);
    }
    l.forRange(
        rb.rows,
        [&](V r) {
          V m = l.loadF32(s.m, r);
          V inverse = b.CreateFDiv(l.constF32(1), l.loadF32(s.l, r));
          V rowD = needDs ? l.loadF32(s.dr, r) : nullptr;
          V tileRow = b.CreateMul(r, l.constI64(kKeyTile));
          l.forRange(t.width, [&](V j) {
            V at = b.CreateAdd(tileRow, j);
            V p = b.CreateFMul(l.expNonPositive(b.CreateFSub(l.loadF32(s.scores, at), m)), inverse);
            l.storeF32(s.scores, at, p);
            if (needDs) {
              V ds = b.CreateFMul(p, b.CreateFSub(l.loadF32(s.dp, at), rowD));
              l.storeF32(s.dp, at, b.CreateFMul(ds, l.constF32(a.scale)));
            }
          });
        },
        false);
    update(t);
  });
}

} // namespace

void lowerAttention(Lowering &l, const Node &n) {
  auto &b = l.b;
  Attention a = attentionOf(l, n);
  V blocks = b.CreateUDiv(b.CreateAdd(a.tq, l.constI64(kRowBlock - 1)), l.constI64(kRowBlock));
  V work = b.CreateMul(b.CreateMul(a.batches, a.tq), b.CreateMul(a.tk, l.constI64(a.d)));
  V worthIt = b.CreateICmpUGE(work, l.constI64(int64_t{1} << 16));
  parallelFor(l, b.CreateMul(a.batches, blocks), worthIt, [&](V task) {
    Buffers s = buffersFor(l, a, false);
    V batch = b.CreateUDiv(task, blocks);
    V r0 = b.CreateMul(b.CreateURem(task, blocks), l.constI64(kRowBlock));
    RowBlock rb{batch, r0, minI64(l, l.constI64(kRowBlock), b.CreateSub(a.tq, r0))};
    forwardBlock(l, a, s, rb, n.result);
  });
}

void lowerAttentionGrad(Lowering &l, const Node &n) {
  auto &b = l.b;
  Attention a = attentionOf(l, n);
  ValueId o = n.operands[3], dout = n.operands[4];
  const std::string &wrt = attr::wrt(n);
  V blocks = b.CreateUDiv(b.CreateAdd(a.tq, l.constI64(kRowBlock - 1)), l.constI64(kRowBlock));
  V work = b.CreateMul(b.CreateMul(a.batches, a.tq), b.CreateMul(a.tk, l.constI64(a.d)));
  V worthIt = b.CreateICmpUGE(work, l.constI64(int64_t{1} << 16));
  V result = l.data(n.result);
  if (wrt == "q") {
    // dq rows of a block: dq += dS k_tile per key tile.
    parallelFor(l, b.CreateMul(a.batches, blocks), worthIt, [&](V task) {
      Buffers s = buffersFor(l, a, true);
      V batch = b.CreateUDiv(task, blocks);
      V r0 = b.CreateMul(b.CreateURem(task, blocks), l.constI64(kRowBlock));
      RowBlock rb{batch, r0, minI64(l, l.constI64(kRowBlock), b.CreateSub(a.tq, r0))};
      StridedMatrix dq = rowsOf(l, result, rb.row(l, a, l.constI64(0)), a.d);
      l.zero(dq.base, b.CreateMul(rb.rows, l.constI64(a.d)));
      backwardBlock(l, a, s, rb, o, dout, true, [&](const KeyTile &t) {
        StridedMatrix kRows = rowsOf(l, l.data(a.k), t.row(l, a, batch, l.constI64(0)), a.d);
        tileProduct(l, tileMatrix(l, s.dp), kRows, dq, rb.rows, l.constI64(a.d), t.width, true);
      });
    });
    return;
  }
  // dk or dv: one task per batch index, its row blocks in order.
  bool isK = wrt == "k";
  int64_t width = isK ? a.d : a.dv;
  parallelFor(l, a.batches, worthIt, [&](V batch) {
    Buffers s = buffersFor(l, a, true);
    l.zero(l.at(result, b.CreateMul(batch, b.CreateMul(a.tk, l.constI64(width))), l.f32),
           b.CreateMul(a.tk, l.constI64(width)));
    l.forRange(
        blocks,
        [&](V block) {
          V r0 = b.CreateMul(block, l.constI64(kRowBlock));
          RowBlock rb{batch, r0, minI64(l, l.constI64(kRowBlock), b.CreateSub(a.tq, r0))};
          // dk_tile += dS^T q_rows, dv_tile += P^T do_rows.
          StridedMatrix rows = isK ? rowsOf(l, l.data(a.q), rb.row(l, a, l.constI64(0)), a.d)
                                   : rowsOf(l, l.data(dout), rb.row(l, a, l.constI64(0)), a.dv);
          backwardBlock(l, a, s, rb, o, dout, isK, [&](const KeyTile &t) {
            StridedMatrix to = rowsOf(l, result, t.row(l, a, batch, l.constI64(0)), width);
            tileProduct(l, tileTransposed(l, isK ? s.dp : s.scores), rows, to, t.width,
                        l.constI64(width), rb.rows, true);
          });
        },
        false);
  });
}

} // namespace nnc
