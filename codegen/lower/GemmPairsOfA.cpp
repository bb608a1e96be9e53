/// bf16 GEMMs: A's rows as pairs (A(i, k), A(i, k + 1)) for vdpbf16ps
/// (codegen/lower/Gemm.h): a row converted into a task's own area
/// (rowToPairs, codegen/lower/Gemm.cpp's pairsOfA), and all of op(A)
/// converted once for every task of a GEMM (emitPairsOfA,
/// GemmOperands::aPairs), where each column chunk would convert A again:
/// the MLP's forward GEMM converted A in each of its 8 chunks.
#include "codegen/lower/Bf16.h"
#include "codegen/lower/Gemm.h"
#include "codegen/lower/GemmIr.h"

namespace nnc {

namespace gemm {

RowLoad floatsOf(Lowering &l, unsigned vw, V row) {
  return [&l, vw, row](V k, V mask) {
    auto *vec = llvm::FixedVectorType::get(l.f32, vw);
    V at = l.at(row, k, l.f32);
    if (!mask)
      return V(l.b.CreateAlignedLoad(vec, at, llvm::Align(4)));
    return V(
        l.b.CreateMaskedLoad(vec, at, llvm::Align(4), mask, llvm::ConstantAggregateZero::get(vec)));
  };
}

/// Whole blocks of 2 vw depths from plain loads, then the block the depth
/// ends in (if any) masked: a mask computed and applied in every block made
/// these conversions a sixth of the MLP's bf16 forward GEMM.
void rowToPairs(Lowering &l, unsigned vw, V kc, V dst, const RowLoad &load) {
  auto &b = l.b;
  auto convert = [&](V k, bool whole) {
    V left = b.CreateSub(kc, k), next = b.CreateAdd(k, l.constI64(vw));
    V lo = load(k, whole ? nullptr : laneMask(l, vw, 0, left));
    V hi = load(next, whole ? nullptr : laneMask(l, vw, vw, left));
    b.CreateAlignedStore(bf16Consecutive(l, lo, hi), l.at(dst, k, llvm::Type::getBFloatTy(l.ctx)),
                         llvm::Align(vw * 4));
  };
  V step = l.constI64(2 * vw);
  V wholeEnd = b.CreateAnd(kc, l.constI64(~int64_t(2 * vw - 1)));
  auto wholeBlock = [&](V k) { convert(k, true); };
  auto lastBlock = [&](V k) { convert(k, false); };
  loop(l, l.constI64(0), wholeEnd, step, wholeBlock, 1);
  loop(l, wholeEnd, kc, step, lastBlock, 1);
}

} // namespace gemm

using namespace gemm;

/// ceil(kcStep / 2) rounded up to 16: each row's pairs start 64-byte aligned.
V pairsPerRowOfA(Lowering &l, const GemmDepthBlocks &d) {
  return l.b.CreateMul(ceilDiv(l, d.kcStep, l.constI64(32)), l.constI64(16));
}

namespace {

/// emitPairsOfA for A stored [k, m], rows i0 .. i0 + rows - 1 (at most 16)
/// of depth block [pc, pc + kc): 16 pairs of each of 16 rows at a time, from
/// plain rows of A (the tile's columns), interleaved into pairs and
/// transposed in registers.
void transposedPairsOfA(Lowering &l, const GemmOperands &g, V pc, V kc, V i0, V rows, V dst,
                        V perRow) {
  auto &b = l.b;
  constexpr unsigned vw = 16;
  auto *vec = llvm::FixedVectorType::get(l.f32, vw);
  V pairs = ceilDiv(l, kc, l.constI64(2));
  V columns = laneMask(l, vw, 0, rows);
  auto block = [&](V q0) {
    std::vector<V> block;
    for (unsigned qq = 0; qq < vw; ++qq) {
      V k0 = b.CreateMul(b.CreateAdd(q0, l.constI64(qq)), l.constI64(2));
      auto row = [&](V k) {
        V mask = b.CreateAnd(columns, b.CreateVectorSplat(vw, b.CreateICmpULT(k, kc)));
        V at = l.at(g.a, b.CreateAdd(b.CreateMul(b.CreateAdd(pc, k), g.m), i0), l.f32);
        return V(b.CreateMaskedLoad(vec, at, llvm::Align(4), mask,
                                    llvm::ConstantAggregateZero::get(vec)));
      };
      V two = bf16Interleaved(l, row(k0), row(b.CreateAdd(k0, l.constI64(1))));
      block.push_back(b.CreateBitCast(two, vec));
    }
    block = transposeSquare(l, block); // block[i] lane q: the pair (i0 + i, q0 + q)
    V valid = laneMask(l, vw, 0, b.CreateSub(pairs, q0));
    for (unsigned i = 0; i < vw; ++i) {
      V mask = b.CreateAnd(valid, b.CreateVectorSplat(vw, b.CreateICmpULT(l.constI64(i), rows)));
      V at = b.CreateAdd(b.CreateMul(l.constI64(i), perRow), q0);
      b.CreateMaskedStore(block[i], l.at(dst, at, l.i32), llvm::Align(64), mask);
    }
  };
  loop(l, l.constI64(0), pairs, l.constI64(vw), block, 1);
}

} // namespace

void emitPairsOfA(Lowering &l, const GemmOperands &g, const GemmDepthBlocks &depth, V pairs) {
  auto &b = l.b;
  constexpr unsigned vw = 16;
  V perRow = pairsPerRowOfA(l, depth);
  V groups = ceilDiv(l, g.m, l.constI64(vw));
  V worthIt = b.CreateICmpUGE(b.CreateMul(g.m, g.k), l.constI64(int64_t{1} << 15));
  parallelFor(l, b.CreateMul(depth.blocks, groups), worthIt, [&](V t) {
    V j = b.CreateUDiv(t, groups), i0 = b.CreateMul(b.CreateURem(t, groups), l.constI64(vw));
    V pc = b.CreateMul(j, depth.kcStep);
    V kcHere = minI64(l, depth.kcStep, b.CreateSub(g.k, pc));
    V rows = minI64(l, l.constI64(vw), b.CreateSub(g.m, i0));
    V dst = l.at(pairs, b.CreateMul(b.CreateAdd(b.CreateMul(j, g.m), i0), perRow), l.i32);
    if (g.ta)
      return transposedPairsOfA(l, g, pc, kcHere, i0, rows, dst, perRow);
    auto row = [&](V i) {
      V offset = b.CreateAdd(b.CreateMul(b.CreateAdd(i0, i), g.k), pc);
      RowLoad load = floatsOf(l, vw, l.at(g.a, offset, l.f32));
      if (g.aMap) { // the map applied as A is read; zeros past kc, as mapRowsOfA leaves them
        RowLoad x = load, z = floatsOf(l, vw, l.at(g.aZ, offset, l.f32));
        load = [&, x, z](V k, V mask) {
          V mapped = g.aMap(x(k, mask), z(k, mask));
          return mask
                     ? b.CreateSelect(mask, mapped, llvm::Constant::getNullValue(mapped->getType()))
                     : mapped;
        };
      }
      rowToPairs(l, vw, kcHere, l.at(dst, b.CreateMul(i, perRow), l.i32), load);
    };
    loop(l, l.constI64(0), rows, l.constI64(1), row, 1);
  });
}

} // namespace nnc
