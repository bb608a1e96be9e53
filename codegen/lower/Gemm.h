/// The GEMM emitter shared by the MatMul family's lowerings
/// (codegen/lower/Gemm.cpp, GemmTasks.cpp): C = op(A) op(B) with packed panels, a
/// register-tiled micro-kernel and parallel tasks, with hooks for fused ops
/// (an element map as A or B is read, an epilogue per finished tile, column
/// sums of B).
#pragma once

#include "codegen/Lowering.h"

#include <functional>
#include <string>
#include <vector>

namespace nnc {

using V = llvm::Value *;

/// An element map applied as an operand is read: (element, the element of
/// a second buffer of the same layout) -> element; on scalars or vectors.
using ElementMap = std::function<V(V, V)>;

/// C = op(A) x op(B), row-major, for the GEMM driver.
struct GemmOperands {
  V a, b, c;   ///< buffers (f32)
  V m, n, k;   ///< extents of C (m x n) and of the depth (i64)
  bool ta, tb; ///< A is stored [k, m], B is stored [n, k]
  /// Optional: A(i, k) = aMap(a(i, k), aZ(i, k)) (A not transposed), and
  /// B(k, j) = bMap(b(k, j), bZ(k, j)) (B not transposed), computed once
  /// per row of tiles into an area of A's own and as B is packed: the fused
  /// backward ops apply the activation's gradient there.
  V aZ = nullptr, bZ = nullptr;
  ElementMap aMap = nullptr, bMap = nullptr;
  /// Optional (B not transposed): bSums[j] = sum over k of B(k, j), added up
  /// while B is packed (a bias gradient riding along, passes/schedule/RowSums.h).
  V bSums = nullptr;
  /// The activation whose gradient aMap (bMap) applies, by name, when the
  /// GEMM library (codegen/GemmLibrary.h) may have it; null otherwise.
  const char *aMapActivation = nullptr, *bMapActivation = nullptr;
  /// precision=bf16: A and B rounded to bf16 as they are read (after their
  /// element maps), products summed in f32; column sums stay f32. The
  /// blocked GEMM packs both into bf16 pairs for vdpbf16ps (AVX512_BF16,
  /// codegen/lower/Bf16.h); the small GEMM rounds them and multiplies in f32.
  bool bf16 = false;
  /// bf16, optional: op(A) as pairs already, for every task of the GEMM
  /// (emitPairsOfA): in depth block j, the pairs (A(i, pc + 2q), A(i, pc +
  /// 2q + 1)) of row i at aPairs + (j M + i) P + q, in i32 units (P =
  /// pairsPerRowOfA). The blocks then read neither a nor aZ.
  V aPairs = nullptr;
};

/// The depth blocks of a GEMM of depth k: `blocks` blocks of kcStep depths
/// (784 = 4 x 196, not 3 x 256 + 16), the last one from lastPc, of (0,
/// kcStep] depths (k = 0: one empty block).
struct GemmDepthBlocks {
  V blocks, kcStep, lastPc;
};
GemmDepthBlocks gemmDepthBlocks(Lowering &l, int64_t kc, V k);

/// The pairs (i32) one row of A takes per depth block in GemmOperands::aPairs.
V pairsPerRowOfA(Lowering &l, const GemmDepthBlocks &d);

/// Writes op(A) (through A's element map) as bf16 pairs into `pairs`, laid
/// out as GemmOperands::aPairs says, in the GEMM's depth blocks `depth`, as
/// parallel tasks: A converted once for a GEMM whose column chunks would
/// each convert it again.
void emitPairsOfA(Lowering &l, const GemmOperands &g, const GemmDepthBlocks &depth, V pairs);

/// One register tile of C, as the micro-kernel leaves it.
struct GemmTile {
  unsigned rows;                   ///< rows held (all of them lie in C)
  unsigned vw;                     ///< lanes per vector
  V row0, col0;                    ///< the tile's first row and column in C
  V cols;                          ///< columns of the tile inside C (1..nr)
  std::vector<std::vector<V>> acc; ///< acc[r][v]: columns col0 + v*vw + [0, vw) of row row0 + r
  std::vector<V> masks;            ///< masks[v]: the lanes of vector v inside C
};

/// What becomes of a finished tile (the last depth block): store it, or
/// apply bias and activation first.
using GemmEpilogue = std::function<void(const GemmTile &)>;

/// Stores a tile into row-major `c` with `ldc` columns (masked at the edge).
void storeTile(Lowering &l, V c, V ldc, const GemmTile &t);

/// Emits C = op(A) op(B) with the blocking of the module's target, as
/// parallel tasks; every finished tile goes through `epilogue` (empty: it
/// is stored into C). When the module may call the GEMM library and it has
/// the variant, each task calls the library's kernel for its block of C,
/// and the epilogue becomes a function of its own, which the kernel calls
/// with each finished tile (from a tile area on its stack).
void emitGemm(Lowering &l, const GemmOperands &g, const GemmEpilogue &epilogue);

/// The part of C one task computes: rows [row0, row1), columns [col0, col1)
/// (with col1 - col0 <= NC in emitGemm's tasks).
struct GemmRange {
  V row0, row1, col0, col1;
};

/// C = op(A) op(B) as one loop nest on the calling thread, one row of C
/// and one vector of its columns at a time (codegen/lower/GemmSmall.cpp):
/// emitGemm's choice for small GEMMs, the same bits as the blocked GEMM.
void emitSmallGemm(Lowering &l, const GemmOperands &g, const GemmEpilogue &epilogue);

/// The body of a GEMM library kernel (codegen/GemmLibrary.cpp): block `r`
/// of C = op(A) op(B). Each finished tile is stored into C when
/// `epilogue` is null, else handed to it (a pointer to the function emitGemm
/// outlines) with `context`: (context, tile, row0, col0, rows, cols), the
/// tile's rows NR floats apart. `r` must be one of emitGemm's tasks for the
/// same blocking: at most NC columns, starting at a multiple of NR, rows
/// starting at a multiple of MR.
void emitGemmKernelBody(Lowering &l, const GemmOperands &g, const GemmRange &r, V epilogue,
                        V context);

/// The gradient of an activation as an element map (dy, z) -> dy * f'(z),
/// as its element-wise kernel computes it (codegen/lower/MatMul.cpp).
ElementMap activationGradientMap(Lowering &l, const std::string &activation, double alpha);

} // namespace nnc
