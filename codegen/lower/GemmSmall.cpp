/// Small GEMMs (codegen/lower/Gemm.h, emitSmallGemm): one loop nest on the
/// calling thread, a row of C and one vector of its columns at a time.
///
///   for i < M, for each vector of VW columns j0 (masked at the edge)
///     acc = 0; for k < K: acc = fmuladd(A(i, k), B(k, j0..), acc)
///     epilogue(1 x VW tile)
///
/// The blocked GEMM's code (packing, two tile heights, depth blocks, tasks)
/// is about the same size whatever the extents, so a model of tiny layers
/// (XOR 2-4-1: 8 GEMMs) spent 150 ms compiling it. Each element of C is the
/// same sequence of fmuladds from 0 over k as in the blocked GEMM's
/// micro-kernel, and B's column sums the same sequence of fadds, so the
/// results are the same bits (in f32; in bf16 the sums pair up differently).
#include "codegen/lower/Bf16.h"
#include "codegen/lower/Gemm.h"
#include "codegen/lower/GemmIr.h"

#include <llvm/IR/Intrinsics.h>

namespace nnc {

using namespace gemm;

namespace {

class SmallGemmEmitter {
public:
  SmallGemmEmitter(Lowering &l, const GemmOperands &g)
      : l(l), b(l.b), g(g), vw(vectorLanes(*l.fn)), vec(llvm::FixedVectorType::get(l.f32, vw)),
        zero(llvm::ConstantAggregateZero::get(vec)), one(l.constI64(1)) {}

  void emit(const GemmEpilogue &epilogue) {
    V chunks = ceilDiv(l, g.n, l.constI64(vw));
    auto sumsAt = [&](V c) { columnSums(c); };
    if (g.bSums)
      loop(l, l.constI64(0), chunks, one, sumsAt, 1);
    auto tile = [&](V i, V c) {
      V j0 = b.CreateMul(c, l.constI64(vw));
      V cols = minI64(l, l.constI64(vw), b.CreateSub(g.n, j0));
      V mask = laneMask(l, vw, 0, cols);
      // bf16: the operands rounded, the (exact) products summed in f32.
      auto operand = [&](V x) { return g.bf16 ? roundToBf16(l, x) : x; };
      auto step = [&](V k, const std::vector<V> &acc) {
        V a = b.CreateVectorSplat(vw, operand(elementOfA(i, k)));
        V fma = b.CreateIntrinsic(llvm::Intrinsic::fmuladd, {vec},
                                  {a, operand(rowOfB(k, j0, mask)), acc[0]});
        return std::vector<V>{fma};
      };
      V acc = loop(l, l.constI64(0), g.k, one, {zero}, step, 1)[0];
      GemmTile t{1, vw, i, j0, cols, {{acc}}, {mask}};
      if (epilogue)
        epilogue(t);
      else
        storeTile(l, g.c, g.n, t);
    };
    auto row = [&](V i) {
      auto tileAt = [&](V c) { tile(i, c); };
      loop(l, l.constI64(0), chunks, one, tileAt, 1);
    };
    loop(l, l.constI64(0), g.m, one, row, 1);
  }

private:
  /// A(i, k), through A's element map.
  V elementOfA(V i, V k) {
    V at = g.ta ? b.CreateAdd(b.CreateMul(k, g.m), i) : b.CreateAdd(b.CreateMul(i, g.k), k);
    V a = l.loadF32(g.a, at);
    return g.aMap ? g.aMap(a, l.loadF32(g.aZ, at)) : a;
  }

  /// B(k, j0 .. j0 + VW), through B's element map; 0 in lanes off the mask.
  V rowOfB(V k, V j0, V mask) {
    if (g.tb) { // B stored [n, k]: a gather of one column element per lane
      std::vector<llvm::Constant *> lanes;
      for (unsigned j = 0; j < vw; ++j)
        lanes.push_back(l.b.getInt64(j));
      V columns = b.CreateAdd(b.CreateVectorSplat(vw, j0), llvm::ConstantVector::get(lanes));
      V at = b.CreateAdd(b.CreateMul(columns, b.CreateVectorSplat(vw, g.k)),
                         b.CreateVectorSplat(vw, k));
      V pointers = b.CreateGEP(l.f32, b.CreateVectorSplat(vw, g.b), at);
      return b.CreateMaskedGather(vec, pointers, llvm::Align(4), mask, zero);
    }
    V at = b.CreateAdd(b.CreateMul(k, g.n), j0);
    auto read = [&](V base) {
      return b.CreateMaskedLoad(vec, l.at(base, at, l.f32), llvm::Align(4), mask, zero);
    };
    return g.bMap ? g.bMap(read(g.b), read(g.bZ)) : read(g.b);
  }

  /// bSums[j0 ..] = the sums over k of B(k, j0 ..), in order from 0.
  void columnSums(V c) {
    V j0 = b.CreateMul(c, l.constI64(vw));
    V mask = laneMask(l, vw, 0, minI64(l, l.constI64(vw), b.CreateSub(g.n, j0)));
    auto add = [&](V k, const std::vector<V> &sum) {
      return std::vector<V>{b.CreateFAdd(sum[0], rowOfB(k, j0, mask))};
    };
    V total = loop(l, l.constI64(0), g.k, one, {zero}, add, 1)[0];
    b.CreateMaskedStore(total, l.at(g.bSums, j0, l.f32), llvm::Align(4), mask);
  }

  Lowering &l;
  llvm::IRBuilder<> &b;
  const GemmOperands &g;
  const unsigned vw;
  llvm::Type *vec;
  V zero, one;
};

} // namespace

void emitSmallGemm(Lowering &l, const GemmOperands &g, const GemmEpilogue &epilogue) {
  SmallGemmEmitter(l, g).emit(epilogue);
}

} // namespace nnc
