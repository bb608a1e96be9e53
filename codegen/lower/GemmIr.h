/// IR building blocks of the GEMM emitter (codegen/lower/Gemm.cpp): the
/// blocking for a target, packing areas, counted loops and branches that
/// carry values, lane masks and an in-register transpose.
#pragma once

#include "codegen/lower/Gemm.h"

#include <functional>
#include <vector>

namespace nnc::gemm {

/// Register and cache blocking for one target.
struct GemmBlocking {
  unsigned vw; ///< f32 lanes per vector register
  unsigned mr; ///< rows of the register tile
  unsigned nr; ///< columns of the register tile (nr / vw vectors per row)
  int64_t kc;  ///< largest depth of a packed block
  int64_t nc;  ///< columns of a packed block of B (a multiple of nr)
};

/// AVX-512 (32 registers): 8 x 32 (16 accumulators); AVX2 (16 registers):
/// 6 x 16 (12 accumulators); SSE/NEON: 4 x 8.
GemmBlocking blockingFor(const llvm::Function &fn);

/// A packing area of the function (a GEMM task): one 64-byte aligned
/// alloca in the entry block, found again by its metadata `kindName` and
/// its size.
V packingArea(Lowering &l, const char *kindName, int64_t floats);

/// for (i = begin; i < end; i += step), carrying `init` through the body,
/// which returns the next values; gives the values after the loop. With
/// `unroll` > 1 the loop asks LLVM to unroll it that many times; 1 forbids
/// unrolling (loops over panels: copies of a large body only cost compile time).
std::vector<V> loop(Lowering &l, V begin, V end, V step, const std::vector<V> &init,
                    const std::function<std::vector<V>(V, const std::vector<V> &)> &body,
                    unsigned unroll = 0);

/// A loop without carried values.
void loop(Lowering &l, V begin, V end, V step, const std::function<void(V)> &body,
          unsigned unroll = 0);

/// if (cond) then() else otherwise(), each giving `n` values; gives the
/// merged values.
std::vector<V> branch(Lowering &l, V cond, const std::function<std::vector<V>()> &then,
                      const std::function<std::vector<V>()> &otherwise);

V minI64(Lowering &l, V a, V c);
V maxI64(Lowering &l, V a, V c);
V ceilDiv(Lowering &l, V a, V c);

/// Lanes [first, first + vw) that lie below `count`, as a <vw x i1> mask.
V laneMask(Lowering &l, unsigned vw, unsigned first, V count);

/// B columns past which the micro-kernel packs B rather than reading it in
/// place (readsBInPlace).
inline constexpr int64_t kGemmInPlaceMaxCols = 1024;

/// Whether the micro-kernel reads B where it is instead of from packed
/// panels: B stored [k, n] with no element map or column sums to apply, n
/// at most kGemmInPlaceMaxCols (rows of B close enough together that a
/// tile's rows stay cached), and masked loads as cheap as plain ones
/// (AVX-512). Packing copies all of B once per GEMM, which costs as much as
/// a sizeable share of the multiply-adds when M is small (64x784x256:
/// 800 KB read and written for 64 multiply-adds per element).
bool mayReadBInPlace(const GemmBlocking &s, const GemmOperands &g);
/// With N known when the module is compiled (a library kernel decides at run time).
bool readsBInPlace(const GemmBlocking &s, const GemmOperands &g);

/// One task's block `r` of C = op(A) op(B) with the blocking `s`, packing B
/// into a packing area of its own (or reading it in place, `bInPlace`);
/// every finished tile goes through `epilogue` (codegen/lower/Gemm.cpp).
/// `fullPanelsUnmasked`: a library kernel, which has an unmasked copy of the
/// micro-kernel for full panels of a B read in place.
void emitGemmBlock(Lowering &l, const GemmBlocking &s, const GemmOperands &g,
                   const GemmEpilogue &epilogue, const GemmRange &r, bool bInPlace,
                   bool fullPanelsUnmasked = false);

/// A loader for rowToPairs: (depth k, lane mask or null) -> vw floats from
/// depth k, zero where the mask is off.
using RowLoad = std::function<V(V k, V mask)>;

/// The floats of the row at `row` (codegen/lower/GemmPairsOfA.cpp).
RowLoad floatsOf(Lowering &l, unsigned vw, V row);

/// bf16: depths [0, kc) of one row of A (`load`) as consecutive pairs at
/// `dst` (64-byte aligned), zeros past kc up to the next 2 vw
/// (codegen/lower/GemmPairsOfA.cpp).
void rowToPairs(Lowering &l, unsigned vw, V kc, V dst, const RowLoad &load);

/// Transposes n vectors of n lanes (n a power of two): log2(n) rounds of
/// interleaving row i with row i + n/2 (lows, then highs).
std::vector<V> transposeSquare(Lowering &l, std::vector<V> rows);

} // namespace nnc::gemm
