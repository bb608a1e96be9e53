/// The GEMM emitter (codegen/lower/Gemm.h): one task's block of a blocked
/// GEMM in the BLIS loop order (the split into tasks, the small GEMMs and
/// the library calls are codegen/lower/GemmTasks.cpp).
///
///   for each task (row block x column chunk of C, from M and N alone)
///     for pc < K step kc (kc <= KC)         depth in blocks, balanced
///       pack B[pc:pc+kc, chunk]             into KC x NR panels, zero-padded
///                                           (unless B is read in place)
///       for rows of the block, MR at a time (then one at a time)
///         for each panel of NR columns
///           micro-kernel: an MR x NR tile of C in vector registers,
///           kc steps of fmuladd(broadcast A(i, k), B panel row k)
///           first depth block: start from 0, else from C
///           last depth block: hand the tile to the epilogue, else store it
///
/// A is read in place through its (possibly transposed) index: the row
/// broadcasts of a tile stay in L1 while the B panels stream from L2; B is
/// packed once per (task, pc) block, through its transposed index when
/// `transpose_b` holds, so no transposed matrix is ever materialized. The
/// packing area is one alloca of KC x NC floats (192 KiB) in the entry block
/// of the task's function, so tasks never share it; an A with an element
/// map is mapped into a second one of MR x KC floats, once per row of
/// tiles (mapRowsOfA). On AVX-512, a B stored
/// [k, n] with nothing to apply as it is read and n <= 1024 is not packed:
/// the micro-kernel reads its rows in place with masked loads
/// (readsBInPlace). Column chunks are at most NC wide; row blocks are cut
/// only when N is narrow (and never inside a task: GemmTasks.cpp). Every
/// element of C is computed by one task, in the same order whatever the
/// split and the thread count. Edge tiles: rows are never computed past the
/// block (one-row tiles take the remainder); columns past N (chunks are
/// whole panels, so only N cuts one) are zero in the packed panel, or
/// masked off as B is read in place, and masked at the store.
///
/// The epilogue hook receives the tile's accumulators (one <VW x float> per
/// row and column vector) with its row/column origin and lane masks, so a
/// fused op (bias, activation) can finish the tile in registers. The fused
/// backward ops map A or B element-wise (GemmOperands): B as it is packed,
/// A into its own area before the micro-kernels of a row of tiles.
///
/// bf16 operands (GemmOperands::bf16): B is packed into rows of pairs (pair
/// row q, lane j: B(2q, j), B(2q+1, j)), A's rows of a row of tiles into
/// pairs (A(i, 2q), A(i, 2q+1)) once per depth block (a transposed A two
/// rows of tiles at a time, pairedTileRowsOfA), both rounded to
/// nearest even as they are converted (after the element maps), and the
/// micro-kernel does two depths per step with vdpbf16ps (codegen/lower/
/// Bf16.h); KC is doubled (blockingOf), pairs start at each depth block.
/// When several column chunks would each convert A again, op(A) is
/// converted once before the tasks (GemmOperands::aPairs,
/// codegen/lower/GemmPairsOfA.cpp) and the tasks read its pairs.
#include "codegen/lower/Gemm.h"
#include "ir/InternalError.h"

#include "codegen/GemmLibrary.h"
#include "codegen/lower/Bf16.h"
#include "codegen/lower/GemmIr.h"

#include <llvm/IR/Intrinsics.h>
#include <llvm/TargetParser/Triple.h>
#include <llvm/TargetParser/X86TargetParser.h>

namespace nnc {

using namespace gemm;

namespace gemm {

bool mayReadBInPlace(const GemmBlocking &s, const GemmOperands &g) {
  return s.vw == 16 && !g.tb && !g.bMap && !g.bSums && !g.bf16;
}

bool readsBInPlace(const GemmBlocking &s, const GemmOperands &g) {
  auto *n = llvm::dyn_cast<llvm::ConstantInt>(g.n);
  return mayReadBInPlace(s, g) && n && n->getSExtValue() <= kGemmInPlaceMaxCols;
}

} // namespace gemm

namespace {

/// The column sums of one packed panel (GemmOperands::bSums), carried in
/// registers through the depth loop: they start from memory unless this is
/// the first depth block (then from 0) and are stored when `store` holds.
struct ColumnSums {
  Lowering &l;
  const GemmBlocking &s;
  V sums = nullptr, col0, cols;
  std::vector<V> start; ///< empty when there is nothing to sum

  ColumnSums(Lowering &l, const GemmBlocking &s, V sums, V col0, V cols, V readFirst)
      : l(l), s(s), sums(sums), col0(col0), cols(cols) {
    if (!sums)
      return;
    auto *vec = llvm::FixedVectorType::get(l.f32, s.vw);
    V zero = llvm::ConstantAggregateZero::get(vec);
    // A branch rather than an empty mask, as for the tiles of C (startingAccumulators).
    auto load = [&] {
      std::vector<V> partial;
      for (unsigned v = 0; v < s.nr / s.vw; ++v)
        partial.push_back(l.b.CreateMaskedLoad(vec, at(v), llvm::Align(4), mask(v), zero));
      return partial;
    };
    auto zeros = [&] { return std::vector<V>(s.nr / s.vw, zero); };
    start = branch(l, readFirst, load, zeros);
  }
  V at(unsigned v) { return l.at(sums, l.b.CreateAdd(col0, l.constI64(v * s.vw)), l.f32); }
  V mask(unsigned v) { return laneMask(l, s.vw, v * s.vw, cols); }
  void finish(const std::vector<V> &total, V store) {
    V write = l.b.CreateVectorSplat(s.vw, store);
    for (size_t v = 0; v < total.size(); ++v)
      l.b.CreateMaskedStore(total[v], at(static_cast<unsigned>(v)), llvm::Align(4),
                            l.b.CreateAnd(mask(static_cast<unsigned>(v)), write));
  }
};

/// One depth block [pc, pc + kc) of a task.
struct DepthBlock {
  V pc, kc;
  V first; ///< pc == 0: the accumulators start at 0, not from C
  V last;  ///< the finished tiles go to the epilogue, not back to C
};

/// A's rows of a row of tiles: one pointer per row when A is [m, k] (to
/// mapped rows when A has an element map), or the column pointer of the
/// tile's first row when A is [k, m]. In bf16 (GemmOperands::bf16), the
/// rows' pairs (A(i, k), A(i, k+1)) in an area of their own: row by row
/// when A is [m, k], pair by pair (kPairSlots rows each) when it is [k, m].
struct RowsOfA {
  std::vector<V> rows;
  V column = nullptr;
  V pairs = nullptr;
  bool pairMajor = false;
  V rowStride = nullptr; ///< i32 between rows of pairs (not pairMajor)
};

/// Rows of A one step of pairs holds in a pair-major area (one vector of pairs).
constexpr unsigned kPairSlots = 16;

/// How far ahead (in depths) the f32 micro-kernel prefetches the operands
/// it reads in place (B stored [k, n], A stored [k, m]): a weight
/// gradient reads activations the forward pass wrote long before, from
/// DRAM, a row per depth, which the hardware prefetchers do not follow
/// (the LM's f32 step 2% faster at 8-24 depths, paired; the MLP and the
/// ResNet unchanged).
constexpr int64_t kPrefetchDepths = 16;

/// Emits one task's block of C = op(A) op(B) (GemmRange) with the blocking
/// `s`, packing B into a packing area of its own; every finished tile goes
/// through `epilogue`.
class GemmBlockEmitter {
public:
  GemmBlockEmitter(Lowering &l, const GemmBlocking &s, const GemmOperands &g,
                   const GemmEpilogue &epilogue, const GemmRange &r, bool bInPlace,
                   bool fullPanelsUnmasked = false)
      : l(l), b(l.b), s(s), g(g), epilogue(epilogue), r(r), nv(s.nr / s.vw),
        vec(llvm::FixedVectorType::get(l.f32, s.vw)),
        zeroVec(llvm::ConstantAggregateZero::get(vec)), vectorAlign(s.vw * 4), bInPlace(bInPlace),
        fullPanelsUnmasked(fullPanelsUnmasked), one(l.constI64(1)), nr(l.constI64(s.nr)),
        panelFloats(l.constI64(s.kc * s.nr)) {
    NNC_CHECK(s.kc % s.vw == 0 && s.nr % s.vw == 0, "packed rows are whole vectors");
    if (g.bf16) {
      // B's pairs; an f32 panel on the way when B is [n, k] (packColumnsOfB).
      NNC_CHECK(s.vw == 16 && !bInPlace, "bf16 GEMMs pack for vdpbf16ps (AVX-512)");
      packBf16 = packingArea(l, "nnc.gemm.pack.bf16", s.kc * s.nc / 2);
      pack = g.tb ? packingArea(l, "nnc.gemm.pack.panel", s.kc * s.nr) : nullptr;
    } else {
      pack = bInPlace ? nullptr : packingArea(l, "nnc.gemm.pack", s.kc * s.nc);
    }
    panels = b.CreateUDiv(b.CreateAdd(b.CreateSub(r.col1, r.col0), l.constI64(s.nr - 1)), nr);
    // Column sums of B belong to the task of the first row block of a chunk
    // (the others pack the same part of B again).
    ownsSums = b.CreateICmpEQ(r.row0, l.constI64(0));
  }

  /// The depth blocks, of equal size (784 = 4 x 196, not 3 x 256 + 16): full
  /// blocks of kcStep, the last one of (0, kcStep] (0 when K = 0: there is
  /// always one block, so K = 0 still hands zero tiles to the epilogue). The last block is a
  /// branch after the micro-kernel, not a peeled copy of the block: each
  /// copy of the micro-kernel is compile time (12% of the MLP's), and the
  /// branch runs once per tile.
  void emit() {
    depth = gemmDepthBlocks(l, s.kc, g.k);
    auto block = [&](V pc) {
      V last = b.CreateICmpEQ(pc, depth.lastPc);
      DepthBlock d{pc, b.CreateSelect(last, b.CreateSub(g.k, depth.lastPc), depth.kcStep),
                   b.CreateICmpEQ(pc, l.constI64(0)), last};
      depthBlock(d);
    };
    loop(l, l.constI64(0), b.CreateAdd(depth.lastPc, one), depth.kcStep, block);
  }

private:
  /// Packs B's part of the block (unless it is read in place), then full
  /// rows of MR tiles, then the remaining rows one at a time: a remainder
  /// is rare in training (batch and widths are multiples of 8 here), and
  /// each tile height is a micro-kernel of its own to compile.
  void depthBlock(const DepthBlock &d) {
    auto packAt = [&](V p) { packPanel(d, p); };
    if (!bInPlace)
      loop(l, l.constI64(0), panels, one, packAt, 1);
    V fullRows = endOfFullTiles();
    loop(l, r.row0, fullRows, l.constI64(s.mr), [&](V row0) { rowOfTiles(s.mr, row0, d); });
    auto oneRow = [&](V row0) { rowOfTiles(1, row0, d); };
    loop(l, fullRows, r.row1, one, oneRow, 1);
  }

  /// The end of the block's rows in whole tiles of MR (one-row tiles take the rest).
  V endOfFullTiles() {
    V mr = l.constI64(s.mr);
    return b.CreateAdd(r.row0, b.CreateMul(b.CreateUDiv(b.CreateSub(r.row1, r.row0), mr), mr));
  }

  /// Packs B[pc:pc+kc, panel p] into kc x NR floats, zero-padded; in bf16,
  /// then into pairs of rows.
  void packPanel(const DepthBlock &d, V p) {
    V col0 = b.CreateAdd(r.col0, b.CreateMul(p, nr));
    V cols = minI64(l, nr, b.CreateSub(g.n, col0));
    if (g.bf16 && !g.tb) // straight into pairs: B's rows are contiguous
      return packRowsOfB(d, col0, cols, bf16Panel(p), true);
    if (g.bf16) { // through one f32 panel
      packColumnsOfB(d, col0, cols, pack);
      return pairRowsOfPanel(d, pack, bf16Panel(p));
    }
    packPanelF32(d, col0, cols, l.at(pack, b.CreateMul(p, panelFloats), l.f32));
  }

  /// The bf16 pairs of panel p: ceil(kc / 2) rows of NR pairs.
  V bf16Panel(V p) {
    return l.at(packBf16, b.CreateMul(p, b.CreateUDiv(panelFloats, l.constI64(2))), l.f32);
  }

  /// Rows 2q and 2q+1 of a packed f32 panel into row q of pairs (a zero row
  /// past kc).
  void pairRowsOfPanel(const DepthBlock &d, V f32Panel, V pairs) {
    llvm::Type *bf16 = llvm::Type::getBFloatTy(l.ctx);
    auto pairRow = [&](V q) {
      V k0 = b.CreateMul(q, l.constI64(2)), k1 = b.CreateAdd(k0, one);
      V second = b.CreateVectorSplat(s.vw, b.CreateICmpSLT(k1, d.kc));
      for (unsigned v = 0; v < nv; ++v) {
        auto row = [&](V k) {
          V at = b.CreateAdd(b.CreateMul(k, nr), l.constI64(v * s.vw));
          return b.CreateAlignedLoad(vec, l.at(f32Panel, at, l.f32), vectorAlign);
        };
        V interleaved = bf16Interleaved(l, row(k0), b.CreateSelect(second, row(k1), zeroVec));
        V at = b.CreateAdd(b.CreateMul(q, l.constI64(2 * s.nr)), l.constI64(2 * v * s.vw));
        b.CreateAlignedStore(interleaved, l.at(pairs, at, bf16), vectorAlign);
      }
    };
    loop(l, l.constI64(0), ceilDiv(l, d.kc, l.constI64(2)), one, pairRow, 1);
  }

  void packPanelF32(const DepthBlock &d, V col0, V cols, V dst) {
    if (g.tb)
      return packColumnsOfB(d, col0, cols, dst);
    // AVX-512 masked loads cost what plain ones do: there one copy serves
    // full and edge panels alike (less code to compile).
    if (s.vw == 16)
      return packRowsOfB(d, col0, cols, dst, true);
    branch(
        l, b.CreateICmpEQ(cols, nr),
        [&] {
          packRowsOfB(d, col0, cols, dst, false);
          return std::vector<V>{};
        },
        [&] {
          packRowsOfB(d, col0, cols, dst, true);
          return std::vector<V>{};
        });
  }

  /// B stored [k, n] (B(k, j) = b[k * n + j]): the panel's rows are
  /// contiguous in B; applies B's element map and adds up its column sums
  /// on the way. In bf16, rows 2q and 2q+1 go to row q of pairs at `dst`
  /// (the second a zero row past kc), the sums still in order of k.
  void packRowsOfB(const DepthBlock &d, V col0, V cols, V dst, bool masked) {
    V first = b.CreateAdd(b.CreateMul(d.pc, g.n), col0);
    V src = l.at(g.b, first, l.f32);
    V srcZ = g.bMap ? l.at(g.bZ, first, l.f32) : nullptr;
    std::vector<V> masks;
    for (unsigned v = 0; v < nv && masked; ++v)
      masks.push_back(laneMask(l, s.vw, v * s.vw, cols));
    // Vector v of row k, mapped; `valid` (i1, or null) false reads zeros.
    auto rowOfB = [&](V k, unsigned v, V valid) {
      auto read = [&](V base) {
        V p = l.at(l.at(base, b.CreateMul(k, g.n), l.f32), l.constI64(v * s.vw), l.f32);
        if (!masked)
          return V(b.CreateAlignedLoad(vec, p, llvm::Align(4)));
        V mask = valid ? b.CreateAnd(masks[v], b.CreateVectorSplat(s.vw, valid)) : masks[v];
        return V(b.CreateMaskedLoad(vec, p, llvm::Align(4), mask, zeroVec));
      };
      V x = read(src);
      return g.bMap ? g.bMap(x, read(srcZ)) : x;
    };
    ColumnSums sums(l, s, g.bSums, col0, cols, b.CreateAnd(ownsSums, b.CreateNot(d.first)));
    auto copyRow = [&](V k, const std::vector<V> &partial) {
      V to = l.at(dst, b.CreateMul(k, nr), l.f32);
      std::vector<V> next;
      for (unsigned v = 0; v < nv; ++v) {
        V x = rowOfB(k, v, nullptr);
        b.CreateAlignedStore(x, l.at(to, l.constI64(v * s.vw), l.f32), vectorAlign);
        if (!partial.empty())
          next.push_back(b.CreateFAdd(partial[v], x));
      }
      return next;
    };
    auto pairRow = [&](V q, const std::vector<V> &partial) {
      V k0 = b.CreateMul(q, l.constI64(2)), k1 = b.CreateAdd(k0, one);
      V second = b.CreateICmpSLT(k1, d.kc);
      std::vector<V> next;
      for (unsigned v = 0; v < nv; ++v) {
        V x0 = rowOfB(k0, v, nullptr), x1 = rowOfB(k1, v, second);
        V at = b.CreateAdd(b.CreateMul(q, l.constI64(2 * s.nr)), l.constI64(2 * v * s.vw));
        b.CreateAlignedStore(bf16Interleaved(l, x0, x1),
                             l.at(dst, at, llvm::Type::getBFloatTy(l.ctx)), vectorAlign);
        if (!partial.empty())
          next.push_back(b.CreateFAdd(b.CreateFAdd(partial[v], x0), x1));
      }
      return next;
    };
    std::vector<V> total =
        g.bf16 ? loop(l, l.constI64(0), ceilDiv(l, d.kc, l.constI64(2)), one, sums.start, pairRow)
               : loop(l, l.constI64(0), d.kc, one, sums.start, copyRow);
    sums.finish(total, ownsSums);
  }

  /// B stored [n, k] (B(k, j) = b[j * k_extent + k]): the panel's columns
  /// are contiguous in B. Blocks of vw x vw are transposed in registers,
  /// then the depth remainder is copied element by element.
  void packColumnsOfB(const DepthBlock &d, V col0, V cols, V dst) {
    V kcVec = b.CreateAnd(d.kc, l.constI64(~int64_t(s.vw - 1)));
    for (unsigned v = 0; v < nv; ++v) {
      std::vector<V> src, valid;
      for (unsigned j = 0; j < s.vw; ++j) {
        V jj = l.constI64(v * s.vw + j);
        valid.push_back(b.CreateICmpSLT(jj, cols));
        V col = b.CreateSelect(valid.back(), b.CreateAdd(col0, jj), col0); // stays inside B
        src.push_back(l.at(g.b, b.CreateAdd(b.CreateMul(col, g.k), d.pc), l.f32));
      }
      loop(l, l.constI64(0), kcVec, l.constI64(s.vw), [&](V k0) {
        std::vector<V> rows;
        for (unsigned j = 0; j < s.vw; ++j) {
          V x = b.CreateAlignedLoad(vec, l.at(src[j], k0, l.f32), llvm::Align(4));
          rows.push_back(b.CreateSelect(valid[j], x, zeroVec));
        }
        rows = transposeSquare(l, rows);
        for (unsigned i = 0; i < s.vw; ++i) {
          V row = b.CreateMul(b.CreateAdd(k0, l.constI64(i)), nr);
          V to = l.at(dst, b.CreateAdd(row, l.constI64(v * s.vw)), l.f32);
          b.CreateAlignedStore(rows[i], to, vectorAlign);
        }
      });
    }
    loop(l, l.constI64(0), nr, one, [&](V j) {
      V valid = b.CreateICmpSLT(j, cols);
      V col = b.CreateSelect(valid, b.CreateAdd(col0, j), col0);
      V src = l.at(g.b, b.CreateAdd(b.CreateMul(col, g.k), d.pc), l.f32);
      V to = l.at(dst, j, l.f32);
      loop(l, kcVec, d.kc, one, [&](V k) {
        V x = b.CreateSelect(valid, l.loadF32(src, k), l.constF32(0));
        l.storeF32(to, b.CreateMul(k, nr), x);
      });
    });
  }

  RowsOfA rowsOfA(unsigned rows, V row0, const DepthBlock &d) {
    RowsOfA a;
    if (g.bf16)
      return pairsOfA(rows, row0, d);
    if (g.aMap)
      a.rows = mapRowsOfA(rows, row0, d);
    else if (!g.ta)
      for (unsigned i = 0; i < rows; ++i) {
        V offset = b.CreateAdd(b.CreateMul(b.CreateAdd(row0, l.constI64(i)), g.k), d.pc);
        a.rows.push_back(l.at(g.a, offset, l.f32));
      }
    else
      a.column = l.at(g.a, b.CreateAdd(b.CreateMul(d.pc, g.m), row0), l.f32);
    return a;
  }

  /// Rows [row0, row0 + rows) x depth [pc, pc + kc) of A with its element
  /// map applied, into an area of MR x KC: once per row of tiles rather than
  /// once per panel in the micro-kernel, where the map's compare and select
  /// would compete with the multiply-adds for the vector ports.
  std::vector<V> mapRowsOfA(unsigned rows, V row0, const DepthBlock &d) {
    V area = packingArea(l, "nnc.gemm.pack.a", s.mr * s.kc);
    std::vector<V> mapped;
    for (unsigned i = 0; i < rows; ++i) {
      V offset = b.CreateAdd(b.CreateMul(b.CreateAdd(row0, l.constI64(i)), g.k), d.pc);
      V src = l.at(g.a, offset, l.f32), srcZ = l.at(g.aZ, offset, l.f32);
      V dst = l.at(area, l.constI64(i * s.kc), l.f32);
      auto mapVector = [&](V k) {
        V lanes = laneMask(l, s.vw, 0, b.CreateSub(d.kc, k));
        auto read = [&](V base) {
          return b.CreateMaskedLoad(vec, l.at(base, k, l.f32), llvm::Align(4), lanes, zeroVec);
        };
        b.CreateAlignedStore(g.aMap(read(src), read(srcZ)), l.at(dst, k, l.f32), vectorAlign);
      };
      loop(l, l.constI64(0), d.kc, l.constI64(s.vw), mapVector, 1);
      mapped.push_back(dst);
    }
    return mapped;
  }

  /// A's rows [row0, row0 + rows) x depth [pc, pc + kc) as bf16 pairs (zero
  /// past kc), through A's element map: once per row of tiles, as the f32
  /// path maps A (mapRowsOfA).
  RowsOfA pairsOfA(unsigned rows, V row0, const DepthBlock &d) {
    llvm::Type *bf16 = llvm::Type::getBFloatTy(l.ctx);
    // The area holds either layout: MR rows of KC bf16, or KC / 2 steps of
    // kPairSlots pairs.
    NNC_CHECK(s.mr <= kPairSlots, "a pair-major step holds a tile's rows");
    RowsOfA a;
    if (g.aPairs) { // converted once for every task (emitPairsOfA)
      V pairsPerRow = pairsPerRowOfA(l, depth);
      V j = b.CreateUDiv(d.pc, depth.kcStep);
      V first = b.CreateMul(b.CreateAdd(b.CreateMul(j, g.m), row0), pairsPerRow);
      a.pairs = l.at(g.aPairs, first, l.i32);
      a.rowStride = pairsPerRow;
      return a;
    }
    a.pairs = packingArea(l, "nnc.gemm.pack.a.bf16", s.kc / 2 * kPairSlots);
    a.rowStride = l.constI64(s.kc / 2);
    auto masked = [&](V p, V mask) {
      return b.CreateMaskedLoad(vec, p, llvm::Align(4), mask, zeroVec);
    };
    if (g.ta) { // A stored [k, m]: the tile's rows are contiguous in each row of A
      a.pairMajor = true;
      if (rows == s.mr)
        return pairedTileRowsOfA(a, row0, d);
      V lanes = laneMask(l, s.vw, 0, l.constI64(rows));
      auto pairRow = [&](V q) {
        V k0 = b.CreateAdd(d.pc, b.CreateMul(q, l.constI64(2))), k1 = b.CreateAdd(k0, one);
        auto row = [&](V k, V mask) {
          return masked(l.at(g.a, b.CreateAdd(b.CreateMul(k, g.m), row0), l.f32), mask);
        };
        V second = b.CreateAnd(
            lanes, b.CreateVectorSplat(s.vw, b.CreateICmpSLT(k1, b.CreateAdd(d.pc, d.kc))));
        V at = b.CreateMul(q, l.constI64(2 * kPairSlots));
        b.CreateAlignedStore(bf16Interleaved(l, row(k0, lanes), row(k1, second)),
                             l.at(a.pairs, at, bf16), vectorAlign);
      };
      loop(l, l.constI64(0), ceilDiv(l, d.kc, l.constI64(2)), one, pairRow, 1);
      return a;
    }
    std::vector<V> sources = g.aMap ? mapRowsOfA(rows, row0, d) : std::vector<V>{};
    for (unsigned i = 0; i < rows; ++i) {
      V src = g.aMap
                  ? sources[i]
                  : l.at(g.a, b.CreateAdd(b.CreateMul(b.CreateAdd(row0, l.constI64(i)), g.k), d.pc),
                         l.f32);
      rowToPairs(l, s.vw, d.kc, l.at(a.pairs, l.constI64(i * s.kc), bf16), floatsOf(l, s.vw, src));
    }
    return a;
  }

  /// pairsOfA for A stored [k, m], `rows` = MR (one tile) or 2 MR (two):
  /// each pair row (A's rows k and k + 1 over the tiles' columns) from
  /// plain loads of `rows` floats, the pair that lies past kc (kc odd)
  /// apart with a zero second row; with `prefetchNext`, the line the next
  /// two tiles convert goes to L2 on the way. The generic copy took masked
  /// loads and computed a mask per pair: a sixth of the MLP's bf16 weight
  /// gradient. Slots past `rows` are left unwritten; the micro-kernel
  /// never reads them.
  void pairRowsOfA(const RowsOfA &a, unsigned rows, V row0, const DepthBlock &d,
                   bool prefetchNext) {
    llvm::Type *bf16 = llvm::Type::getBFloatTy(l.ctx);
    auto *narrow = llvm::FixedVectorType::get(l.f32, rows);
    auto row = [&](V k) {
      V at = b.CreateAdd(b.CreateMul(k, g.m), row0);
      if (prefetchNext)
        prefetch(b.CreateGEP(l.f32, g.a, b.CreateAdd(at, l.constI64(rows))), 2);
      return b.CreateAlignedLoad(narrow, l.at(g.a, at, l.f32), llvm::Align(4));
    };
    auto pairRow = [&](V q, bool second) {
      V k0 = b.CreateAdd(d.pc, b.CreateMul(q, l.constI64(2)));
      V x1 = second ? V(row(b.CreateAdd(k0, one))) : V(llvm::Constant::getNullValue(narrow));
      b.CreateAlignedStore(bf16Interleaved(l, row(k0), x1),
                           l.at(a.pairs, b.CreateMul(q, l.constI64(2 * kPairSlots)), bf16),
                           vectorAlign);
    };
    V wholePairs = b.CreateUDiv(d.kc, l.constI64(2));
    auto bothRows = [&](V q) { pairRow(q, true); };
    auto firstRowOnly = [&](V q) { pairRow(q, false); };
    loop(l, l.constI64(0), wholePairs, one, bothRows, 1);
    loop(l, wholePairs, ceilDiv(l, d.kc, l.constI64(2)), one, firstRowOnly, 1);
  }

  /// pairsOfA for A stored [k, m] and a tile of MR rows: the tiles of a
  /// row block go in twos (kPairSlots = 2 MR). The first of two converts
  /// both tiles' rows (one whole line of each row of A rather than half a
  /// line, twice), or its own alone when no second tile follows in the
  /// block; the second converts nothing and reads the upper MR slots. A
  /// [k, m] with m a power of two puts A's rows in a few cache sets, so
  /// each half-line conversion fetched its lines again: a third of the
  /// bf16 weight gradient of the LM's MLP (512 x 128, depth 2048) went there.
  RowsOfA pairedTileRowsOfA(RowsOfA a, V row0, const DepthBlock &d) {
    NNC_CHECK(2 * s.mr == kPairSlots, "a pair-major step holds two tiles' rows");
    V isSecondTile =
        b.CreateICmpNE(b.CreateAnd(b.CreateSub(row0, r.row0), l.constI64(s.mr)), l.constI64(0));
    V secondFollows = b.CreateICmpULE(b.CreateAdd(row0, l.constI64(2 * s.mr)), endOfFullTiles());
    auto converting = [&](unsigned rows, bool prefetchNext) {
      return [&, rows, prefetchNext] {
        pairRowsOfA(a, rows, row0, d, prefetchNext);
        return std::vector<V>{};
      };
    };
    auto firstTile = [&] {
      branch(l, secondFollows, converting(2 * s.mr, true), converting(s.mr, false));
      return std::vector<V>{};
    };
    auto nothing = [] { return std::vector<V>{}; };
    branch(l, isSecondTile, nothing, firstTile);
    a.pairs = b.CreateSelect(isSecondTile, l.at(a.pairs, l.constI64(s.mr), l.i32), a.pairs);
    return a;
  }

  /// A prefetch of the line at `p` into the cache level of `locality`
  /// (3: L1, 2: L2). `p` may lie past the end of its buffer (a plain GEP).
  void prefetch(V p, int locality) {
    b.CreateIntrinsic(llvm::Intrinsic::prefetch, {l.ptr},
                      {p, b.getInt32(0), b.getInt32(locality), b.getInt32(1)});
  }

  /// `rows` rows of C from row0, every panel of the block.
  void rowOfTiles(unsigned rows, V row0, const DepthBlock &d) {
    RowsOfA a = rowsOfA(rows, row0, d);
    auto tileAt = [&](V p) { tile(rows, row0, p, a, d); };
    loop(l, l.constI64(0), panels, one, tileAt, 1);
  }

  /// One MR x NR (or 1 x NR) tile of C at row0 and panel p: its
  /// accumulators through the depth block, then to the epilogue or to C.
  void tile(unsigned rows, V row0, V p, const RowsOfA &a, const DepthBlock &d) {
    GemmTile t{rows, s.vw, row0, b.CreateAdd(r.col0, b.CreateMul(p, nr)), nullptr, {}, {}};
    t.cols = minI64(l, nr, b.CreateSub(g.n, t.col0));
    for (unsigned v = 0; v < nv; ++v)
      t.masks.push_back(laneMask(l, s.vw, v * s.vw, t.cols));
    std::vector<V> start = startingAccumulators(t, d.first);
    if (g.bf16)
      return finishTile(t, bf16MicroKernel(t, bf16Panel(p), a, d.kc, start), d);
    // B's rows for this tile: the packed panel, or B itself.
    V panel = bInPlace ? l.at(g.b, b.CreateAdd(b.CreateMul(d.pc, g.n), t.col0), l.f32)
                       : l.at(pack, b.CreateMul(p, panelFloats), l.f32);
    auto kernel = [&](bool maskedB) {
      return [&, maskedB] {
        return microKernel(t, panel, bInPlace ? g.n : nr, a, d.kc, start, maskedB);
      };
    };
    // B read in place: masked loads only for the edge panel. A masked load
    // is a second micro-op on the ports the FMAs use (12% of a library
    // kernel's time on 64x784x256). In a module N is a constant, and where
    // LLVM can prove a panel full (64x784x256: every one) it drops the mask
    // itself; only a library kernel has both copies (compile time).
    std::vector<V> acc = !bInPlace ? kernel(false)()
                         : !fullPanelsUnmasked
                             ? kernel(true)()
                             : branch(l, b.CreateICmpEQ(t.cols, nr), kernel(false), kernel(true));
    finishTile(t, acc, d);
  }

  /// The tile's accumulators to the epilogue (last depth block) or to C.
  void finishTile(GemmTile &t, const std::vector<V> &acc, const DepthBlock &d) {
    for (unsigned i = 0; i < t.rows; ++i)
      t.acc.emplace_back(acc.begin() + i * nv, acc.begin() + (i + 1) * nv);
    auto finish = [&] {
      epilogue(t);
      return std::vector<V>{};
    };
    auto keep = [&] {
      storeTile(l, g.c, g.n, t);
      return std::vector<V>{};
    };
    branch(l, d.last, finish, keep);
  }

  /// The bf16 micro-kernel: ceil(kc / 2) steps of acc[i][v] += the pairs
  /// of A's row i times the pairs of the panel's vector v (vdpbf16ps).
  std::vector<V> bf16MicroKernel(const GemmTile &t, V panel, const RowsOfA &a, V kc,
                                 const std::vector<V> &init) {
    llvm::Type *bf16 = llvm::Type::getBFloatTy(l.ctx), *pairs = bf16Pairs(l);
    const size_t accs = init.size();
    auto step = [&](V q, const std::vector<V> &in) {
      V bRow = in[accs];
      std::vector<V> bv;
      for (unsigned v = 0; v < nv; ++v)
        bv.push_back(
            b.CreateAlignedLoad(pairs, l.at(bRow, l.constI64(2 * v * s.vw), bf16), vectorAlign));
      std::vector<V> out(accs);
      for (unsigned i = 0; i < t.rows; ++i) {
        V at = a.pairMajor ? b.CreateAdd(b.CreateMul(q, l.constI64(kPairSlots)), l.constI64(i))
                           : b.CreateAdd(b.CreateMul(l.constI64(i), a.rowStride), q);
        V x = broadcastBf16Pair(l, l.at(a.pairs, at, l.i32));
        for (unsigned v = 0; v < nv; ++v)
          out[i * nv + v] = dotBf16Pairs(l, in[i * nv + v], x, bv[v]);
      }
      out.push_back(l.at(bRow, l.constI64(2 * s.nr), bf16));
      return out;
    };
    std::vector<V> carried = init;
    carried.push_back(panel);
    carried = loop(l, l.constI64(0), ceilDiv(l, kc, l.constI64(2)), one, carried, step,
                   t.rows == s.mr ? 4 : 0);
    carried.resize(accs);
    return carried;
  }

  /// The accumulators start at 0 in the first depth block, else from C. A
  /// branch, not a masked load with an empty mask: C may lie in pages
  /// nothing ever touched (a GEMM only its epilogue reads), and there each
  /// masked-off load costs a microcode assist (~37% of a K = 64
  /// weight-gradient GEMM in perf).
  std::vector<V> startingAccumulators(const GemmTile &t, V first) {
    auto loadC = [&] {
      std::vector<V> partial;
      for (unsigned i = 0; i < t.rows; ++i) {
        V row = b.CreateMul(b.CreateAdd(t.row0, l.constI64(i)), g.n);
        for (unsigned v = 0; v < nv; ++v) {
          V at = l.at(g.c, b.CreateAdd(row, b.CreateAdd(t.col0, l.constI64(v * s.vw))), l.f32);
          partial.push_back(b.CreateMaskedLoad(vec, at, llvm::Align(4), t.masks[v], zeroVec));
        }
      }
      return partial;
    };
    auto zeros = [&] { return std::vector<V>(t.rows * nv, zeroVec); };
    return branch(l, first, zeros, loadC);
  }

  /// The micro-kernel: kc steps of acc[i][v] += A(row0 + i, k) * B(k, panel
  /// vector v), B's rows `bStride` floats apart from `panel`. B's row (and
  /// A's column when A is [k, m]) is a pointer carried from step to step:
  /// with LSR off (codegen/Target.cpp), an index times a run-time stride
  /// would stay a multiply per step (a library kernel's N is not a constant).
  std::vector<V> microKernel(const GemmTile &t, V panel, V bStride, const RowsOfA &a, V kc,
                             const std::vector<V> &init, bool maskedB) {
    const size_t accs = init.size();
    V bAhead = b.CreateMul(bStride, l.constI64(kPrefetchDepths));
    V aAhead = b.CreateMul(g.m, l.constI64(kPrefetchDepths));
    auto step = [&](V k, const std::vector<V> &in) {
      V bRow = in[accs], aK = a.column ? in[accs + 1] : nullptr;
      std::vector<V> bv;
      for (unsigned v = 0; v < nv; ++v) {
        V at = l.at(bRow, l.constI64(v * s.vw), l.f32);
        bv.push_back(maskedB ? V(b.CreateMaskedLoad(vec, at, llvm::Align(4), t.masks[v], zeroVec))
                     : bInPlace ? V(b.CreateAlignedLoad(vec, at, llvm::Align(4)))
                                : V(b.CreateAlignedLoad(vec, at, vectorAlign)));
      }
      // Operands read in place, a row of each depth apart: the lines
      // kPrefetchDepths depths ahead, into L1.
      for (unsigned v = 0; bInPlace && v < nv; ++v)
        prefetch(b.CreateGEP(l.f32, bRow, b.CreateAdd(bAhead, l.constI64(v * s.vw))), 3);
      if (aK)
        prefetch(b.CreateGEP(l.f32, aK, aAhead), 3);
      std::vector<V> out(accs);
      for (unsigned i = 0; i < t.rows; ++i) {
        V x = aK ? l.loadF32(aK, l.constI64(i)) : l.loadF32(a.rows[i], k);
        V splat = b.CreateVectorSplat(s.vw, x);
        for (unsigned v = 0; v < nv; ++v)
          out[i * nv + v] =
              b.CreateIntrinsic(llvm::Intrinsic::fmuladd, {vec}, {splat, bv[v], in[i * nv + v]});
      }
      out.push_back(l.at(bRow, bStride, l.f32));
      if (aK)
        out.push_back(l.at(aK, g.m, l.f32));
      return out;
    };
    std::vector<V> carried = init;
    carried.push_back(panel);
    if (a.column)
      carried.push_back(a.column);
    // The remainder tiles stay small (compile time).
    carried = loop(l, l.constI64(0), kc, one, carried, step, t.rows == s.mr ? 4 : 0);
    carried.resize(accs);
    return carried;
  }

  Lowering &l;
  llvm::IRBuilder<> &b;
  const GemmBlocking &s;
  const GemmOperands &g;
  const GemmEpilogue &epilogue;
  const GemmRange &r;
  const unsigned nv; ///< vectors per row of a tile
  llvm::Type *vec;
  V zeroVec;
  /// Vectors in the packing areas lie at multiples of their own size (the
  /// areas are 64-byte aligned, their rows whole vectors long).
  const llvm::Align vectorAlign;
  const bool bInPlace;
  const bool fullPanelsUnmasked; ///< a library kernel: see tile()
  V one, nr, panelFloats;
  V pack = nullptr, panels = nullptr, ownsSums = nullptr;
  V packBf16 = nullptr; ///< B's panels as pairs (bf16)
  GemmDepthBlocks depth{};
};

} // namespace

/// Stores a tile into row-major `c` with `ldc` columns (masked at the edge).
void storeTile(Lowering &l, V c, V ldc, const GemmTile &t) {
  for (unsigned r = 0; r < t.rows; ++r) {
    V row = l.b.CreateMul(l.b.CreateAdd(t.row0, l.constI64(r)), ldc);
    for (size_t v = 0; v < t.acc[r].size(); ++v) {
      V p =
          l.at(c, l.b.CreateAdd(row, l.b.CreateAdd(t.col0, l.constI64(int64_t(v) * t.vw))), l.f32);
      l.b.CreateMaskedStore(t.acc[r][v], p, llvm::Align(4), t.masks[v]);
    }
  }
}

namespace gemm {

void emitGemmBlock(Lowering &l, const GemmBlocking &s, const GemmOperands &g,
                   const GemmEpilogue &epilogue, const GemmRange &r, bool bInPlace,
                   bool fullPanelsUnmasked) {
  GemmBlockEmitter(l, s, g, epilogue, r, bInPlace, fullPanelsUnmasked).emit();
}

} // namespace gemm

GemmDepthBlocks gemmDepthBlocks(Lowering &l, int64_t kc, V k) {
  auto &b = l.b;
  V one = l.constI64(1);
  V kAtLeast1 = b.CreateSelect(b.CreateICmpSLT(k, one), one, k);
  V blocks = b.CreateUDiv(b.CreateAdd(kAtLeast1, l.constI64(kc - 1)), l.constI64(kc));
  V kcStep = b.CreateUDiv(b.CreateAdd(kAtLeast1, b.CreateSub(blocks, one)), blocks);
  V lastPc = b.CreateMul(b.CreateUDiv(b.CreateSub(kAtLeast1, one), kcStep), kcStep);
  return {blocks, kcStep, lastPc};
}

} // namespace nnc
