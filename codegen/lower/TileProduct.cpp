/// tileProduct (codegen/lower/TileProduct.h): rows in tiles of kTileRows
/// (the last rows one at a time), columns in pairs of vectors (masked at
/// the edge); per step of k, one load of B per vector, one broadcast of A
/// per row and kTileRows x 2 fmuladds.
#include "codegen/lower/TileProduct.h"
#include "codegen/lower/GemmIr.h"

#include <llvm/IR/Intrinsics.h>

namespace nnc {

using namespace gemm;

namespace {

constexpr unsigned kTileRows = 4;
constexpr unsigned kTileVectors = 2;

class TileProductEmitter {
public:
  TileProductEmitter(Lowering &l, const StridedMatrix &a, const StridedMatrix &b,
                     const StridedMatrix &c, V k, bool accumulate)
      : l(l), bld(l.b), a(a), bm(b), c(c), k(k), accumulate(accumulate), vw(vectorLanes(*l.fn)),
        vec(llvm::FixedVectorType::get(l.f32, vw)) {}

  /// Rows [i0, i0 + rows) by columns [j0, j0 + 2 vw) (those below n).
  void tile(unsigned rows, V i0, V j0, V n) {
    V cols = bld.CreateSub(n, j0);
    std::vector<V> masks;
    for (unsigned v = 0; v < kTileVectors; ++v)
      masks.push_back(laneMask(l, vw, v * vw, cols));
    auto cAt = [&](unsigned r, unsigned v) {
      V row = bld.CreateMul(bld.CreateAdd(i0, l.constI64(r)), c.rowStride);
      return l.at(c.base, bld.CreateAdd(row, bld.CreateAdd(j0, l.constI64(v * vw))), l.f32);
    };
    std::vector<V> init;
    for (unsigned r = 0; r < rows; ++r)
      for (unsigned v = 0; v < kTileVectors; ++v)
        init.push_back(accumulate ? masked(cAt(r, v), masks[v])
                                  : V(llvm::ConstantAggregateZero::get(vec)));
    std::vector<V> sums =
        loop(l, l.constI64(0), k, l.constI64(1), init, [&](V kk, const std::vector<V> &acc) {
          std::vector<V> bRow;
          V rowOfB = bld.CreateMul(kk, bm.rowStride);
          for (unsigned v = 0; v < kTileVectors; ++v)
            bRow.push_back(masked(
                l.at(bm.base, bld.CreateAdd(rowOfB, bld.CreateAdd(j0, l.constI64(v * vw))), l.f32),
                masks[v]));
          std::vector<V> next;
          for (unsigned r = 0; r < rows; ++r) {
            V at = bld.CreateAdd(bld.CreateMul(bld.CreateAdd(i0, l.constI64(r)), a.rowStride),
                                 bld.CreateMul(kk, a.colStride));
            V x = bld.CreateVectorSplat(vw, l.loadF32(a.base, at));
            for (unsigned v = 0; v < kTileVectors; ++v)
              next.push_back(bld.CreateIntrinsic(llvm::Intrinsic::fmuladd, {vec},
                                                 {x, bRow[v], acc[r * kTileVectors + v]}));
          }
          return next;
        });
    for (unsigned r = 0; r < rows; ++r)
      for (unsigned v = 0; v < kTileVectors; ++v)
        bld.CreateMaskedStore(sums[r * kTileVectors + v], cAt(r, v), llvm::Align(4), masks[v]);
  }

  void emit(V m, V n) {
    V pairs = ceilDiv(l, n, l.constI64(kTileVectors * vw));
    V fullRows = bld.CreateMul(bld.CreateUDiv(m, l.constI64(kTileRows)), l.constI64(kTileRows));
    auto columns = [&](unsigned rows, V i0) {
      loop(
          l, l.constI64(0), pairs, l.constI64(1),
          [&](V p) { tile(rows, i0, bld.CreateMul(p, l.constI64(kTileVectors * vw)), n); }, 1);
    };
    loop(
        l, l.constI64(0), fullRows, l.constI64(kTileRows), [&](V i0) { columns(kTileRows, i0); },
        1);
    loop(l, fullRows, m, l.constI64(1), [&](V i0) { columns(1, i0); }, 1);
  }

private:
  V masked(V p, V mask) {
    return bld.CreateMaskedLoad(vec, p, llvm::Align(4), mask,
                                llvm::ConstantAggregateZero::get(vec));
  }

  Lowering &l;
  llvm::IRBuilder<> &bld;
  StridedMatrix a, bm, c;
  V k;
  bool accumulate;
  unsigned vw;
  llvm::Type *vec;
};

} // namespace

void tileProduct(Lowering &l, const StridedMatrix &a, const StridedMatrix &b,
                 const StridedMatrix &c, llvm::Value *m, llvm::Value *n, llvm::Value *k,
                 bool accumulate) {
  TileProductEmitter(l, a, b, c, k, accumulate).emit(m, n);
}

} // namespace nnc
