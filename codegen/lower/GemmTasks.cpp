/// The GEMM driver (codegen/lower/Gemm.h): emitGemm splits C into parallel
/// tasks from M and N alone (splitGemm) and emits each task's block
/// (emitGemmBlock, codegen/lower/Gemm.cpp), or takes the small GEMM's loop
/// nest for a GEMM too small to block (emitSmallGemm).
///
/// A JIT-compiled module calls the GEMM library's kernel (codegen/
/// GemmLibrary.h: this same emitter, compiled at build time with the
/// extents as arguments) for each task of a large enough GEMM, and keeps
/// the epilogue as a function the kernel calls with each finished tile.
#include "codegen/lower/Gemm.h"
#include "ir/InternalError.h"

#include "codegen/GemmLibrary.h"
#include "codegen/lower/GemmIr.h"

namespace nnc {

using namespace gemm;

namespace {

/// The blocking of `g` on the function's target, the same in a module and in
/// a library kernel (bf16 pairs start at each depth block's first row): bf16
/// pairs take half the bytes, so a packed block holds twice the depth (half
/// as many passes over C; 64x784x256: 2 blocks rather than 4).
GemmBlocking blockingOf(Lowering &l, const GemmOperands &g) {
  GemmBlocking s = blockingFor(*l.fn);
  if (g.bf16)
    s.kc *= 2;
  return s;
}

/// Column chunks a GEMM aims at (then at most NC, at least two panels wide).
constexpr int64_t kGemmColumnTasks = 16;
constexpr int64_t kGemmMinChunkPanels = 2;
/// Tasks below which row blocks are cut too; a row block holds at least
/// kGemmMinTileRows register tiles of rows (each row block packs its B
/// chunk again, which costs about 4 / M of the GEMM's time).
constexpr int64_t kGemmMinTasks = 4;
constexpr int64_t kGemmMinTileRows = 4;
/// bf16: the most pairs (i32) of A converted once for all the tasks of a
/// GEMM (512 KiB, on the stack of the graph function; GemmOperands::aPairs).
constexpr int64_t kSharedPairsOfA = int64_t{1} << 17;
/// Multiply-adds below which a GEMM stays on the calling thread.
constexpr int64_t kGemmParallelWork = int64_t{1} << 19;

/// How a GEMM splits into tasks, from M and N alone (never from the thread
/// count): column chunks of whole NR panels (each packs its own part of B),
/// and, when N gives fewer than kGemmMinTasks chunks, row blocks (multiples
/// of MR) too; inside a task, the widest chunks (at most NC) and one row
/// block. Every element of C belongs to one task, which computes it in
/// the same order as any other split would.
struct GemmSplit {
  V chunkCols, colChunks, blockRows, tasks;
  V worthIt; ///< enough multiply-adds to pay for waking threads
};

GemmSplit splitGemm(Lowering &l, const GemmBlocking &s, const GemmOperands &g) {
  auto &b = l.b;
  V one = l.constI64(1), nr = l.constI64(s.nr), mr = l.constI64(s.mr);
  GemmSplit split;
  V panels = ceilDiv(l, g.n, nr);
  // Inside a task (a batched matmul's GEMMs) the split runs on one thread:
  // the widest chunks and one row block, so B is packed once and A read
  // (in bf16: converted) once per chunk.
  bool insideTask = insideParallelTask(l);
  V parallelChunkPanels =
      maxI64(l, ceilDiv(l, panels, l.constI64(kGemmColumnTasks)), l.constI64(kGemmMinChunkPanels));
  V chunkPanels = insideTask ? panels : parallelChunkPanels;
  split.chunkCols = b.CreateMul(minI64(l, chunkPanels, l.constI64(s.nc / s.nr)), nr);
  split.colChunks = ceilDiv(l, g.n, split.chunkCols);
  V blocksWanted = ceilDiv(l, l.constI64(kGemmMinTasks), maxI64(l, split.colChunks, one));
  V blocksAllowed = maxI64(l, b.CreateUDiv(g.m, l.constI64(kGemmMinTileRows * s.mr)), one);
  V blocks = insideTask ? one : minI64(l, blocksWanted, blocksAllowed);
  split.blockRows = b.CreateMul(maxI64(l, ceilDiv(l, ceilDiv(l, g.m, mr), blocks), one), mr);
  split.tasks = b.CreateMul(split.colChunks, ceilDiv(l, g.m, split.blockRows));
  V depth = maxI64(l, g.k, one);
  split.worthIt =
      b.CreateICmpUGE(b.CreateMul(g.m, g.n), ceilDiv(l, l.constI64(kGemmParallelWork), depth));
  return split;
}

} // namespace

namespace {

/// GEMMs of fewer multiply-adds are a plain loop nest (emitSmallGemm):
/// blocking, tasks or a library call would cost them more than they save
/// (a library call made the XOR step 3x as long), and the blocked GEMM's
/// code costs as much compile time for them as for a large one. An extent
/// known only at run time (a batch) counts as kGemmAssumedExtent.
constexpr int64_t kGemmSmallWork = int64_t{1} << 15;
constexpr int64_t kGemmAssumedExtent = 64;

bool isSmall(const GemmOperands &g) {
  int64_t work = 1;
  for (V extent : {g.m, g.n, g.k}) {
    auto *known = llvm::dyn_cast<llvm::ConstantInt>(extent);
    int64_t e = known ? known->getSExtValue() : kGemmAssumedExtent;
    if (e > 0 && work > kGemmSmallWork / e)
      return false;
    work *= e;
  }
  return work < kGemmSmallWork;
}

/// The GEMM library's kernel for `g` when the module may call the library
/// and it has the variant (both element maps among its activations); else null.
llvm::Function *libraryKernel(Lowering &l, const GemmOperands &g) {
  const std::string &cpu = g.bf16 ? l.gemmLibraryBf16Cpu : l.gemmLibraryCpu;
  if (cpu.empty() || (g.aMap && !g.aMapActivation) || (g.bMap && !g.bMapActivation))
    return nullptr;
  GemmKernelKey key{g.ta,
                    g.tb,
                    g.bSums != nullptr,
                    g.aMap ? g.aMapActivation : "",
                    g.bMap ? g.bMapActivation : "",
                    g.bf16};
  if (g.aPairs) // one kernel reads every A's pairs, mapped or transposed
    key = GemmKernelKey{false, g.tb, key.bSums, "", key.bMap, true, true};
  // The kernel's blocking is the module's (emitGemm splits for both).
  NNC_CHECK(gemmLibraryLanes(cpu) == vectorLanes(*l.fn), "");
  return declareGemmKernel(l.module, cpu, key);
}

/// The epilogue as a function of its own, which a library kernel calls
/// with each finished tile:
///   void (ptr context, ptr tile, i64 row0, i64 col0, i64 rows, i64 cols)
/// the tile's rows NR floats apart. It finishes the tile row by row: one
/// copy of the epilogue's code, one row high (compile time).
Outlined outlineEpilogue(Lowering &l, const GemmBlocking &s, const GemmEpilogue &epilogue) {
  auto *vec = llvm::FixedVectorType::get(l.f32, s.vw);
  auto body = [&](llvm::Function *fn) {
    auto &b = l.b;
    V tile = fn->getArg(1), row0 = fn->getArg(2), col0 = fn->getArg(3), rows = fn->getArg(4);
    V cols = fn->getArg(5);
    std::vector<V> masks;
    for (unsigned v = 0; v < s.nr / s.vw; ++v)
      masks.push_back(laneMask(l, s.vw, v * s.vw, cols));
    auto finishRow = [&](V i) {
      GemmTile t{1, s.vw, b.CreateAdd(row0, i), col0, cols, {{}}, masks};
      V first = l.at(tile, b.CreateMul(i, l.constI64(s.nr)), l.f32);
      for (unsigned v = 0; v < s.nr / s.vw; ++v)
        t.acc[0].push_back(b.CreateAlignedLoad(vec, l.at(first, l.constI64(v * s.vw), l.f32),
                                               llvm::Align(s.vw * 4)));
      epilogue(t);
    };
    loop(l, l.constI64(0), rows, l.constI64(1), finishRow, 1);
  };
  // A task: it runs inside the kernel's task, so any parallel loop in it is a plain loop.
  return outline(l, ".epilogue", {l.ptr, l.i64, l.i64, l.i64, l.i64}, body, true);
}

/// In a library kernel: a finished tile to C, or through the epilogue
/// function `epilogue` (when not null) by way of a tile area on the stack.
void handOverTile(Lowering &l, const GemmBlocking &s, const GemmOperands &g, V epilogue, V context,
                  const GemmTile &t) {
  auto &b = l.b;
  auto store = [&] {
    storeTile(l, g.c, g.n, t);
    return std::vector<V>{};
  };
  auto call = [&] {
    V tile = packingArea(l, "nnc.gemm.tile", s.mr * s.nr);
    for (unsigned i = 0; i < t.rows; ++i)
      for (size_t v = 0; v < t.acc[i].size(); ++v)
        b.CreateAlignedStore(t.acc[i][v], l.at(tile, l.constI64(i * s.nr + v * s.vw), l.f32),
                             llvm::Align(s.vw * 4));
    auto *type =
        llvm::FunctionType::get(b.getVoidTy(), {l.ptr, l.ptr, l.i64, l.i64, l.i64, l.i64}, false);
    b.CreateCall(type, epilogue, {context, tile, t.row0, t.col0, l.constI64(t.rows), t.cols});
    return std::vector<V>{};
  };
  branch(l, b.CreateIsNull(epilogue), store, call);
}

V orNull(Lowering &l, V p) { return p ? p : llvm::ConstantPointerNull::get(l.b.getPtrTy()); }

} // namespace

/// Emits C = op(A) op(B) with the blocking of the module's target, as
/// parallel tasks (splitGemm); every finished tile goes through `epilogue`.
void emitGemm(Lowering &l, const GemmOperands &g, const GemmEpilogue &epilogue) {
  if (isSmall(g))
    return emitSmallGemm(l, g, epilogue);
  const GemmBlocking s = blockingOf(l, g);
  GemmSplit split = splitGemm(l, s, g);
  llvm::Function *kernel = libraryKernel(l, g);
  GemmEpilogue store = [&](const GemmTile &t) { storeTile(l, g.c, g.n, t); };
  // With the library: the epilogue as a function, or null pointers (store).
  V epilogueFn = orNull(l, nullptr), epilogueContext = orNull(l, nullptr);
  if (kernel && epilogue) {
    Outlined outlined = outlineEpilogue(l, s, epilogue);
    epilogueFn = outlined.fn;
    epilogueContext = outlined.context;
  }
  auto tasks = [&](const GemmOperands &g, llvm::Function *kernel) {
    parallelFor(l, split.tasks, split.worthIt, [&](V t) {
      auto &b = l.b;
      V row0 = b.CreateMul(b.CreateUDiv(t, split.colChunks), split.blockRows);
      V col0 = b.CreateMul(b.CreateURem(t, split.colChunks), split.chunkCols);
      GemmRange r{row0, minI64(l, g.m, b.CreateAdd(row0, split.blockRows)), col0,
                  minI64(l, g.n, b.CreateAdd(col0, split.chunkCols))};
      if (!kernel)
        return emitGemmBlock(l, s, g, epilogue ? epilogue : store, r, readsBInPlace(s, g));
      V a = g.aPairs ? g.aPairs : g.a;
      b.CreateCall(kernel, {a, g.b, g.c, orNull(l, g.aZ), orNull(l, g.bZ), orNull(l, g.bSums), g.m,
                            g.n, g.k, r.row0, r.row1, r.col0, r.col1, epilogueFn, epilogueContext});
    });
    return std::vector<V>{};
  };
  // bf16: A's pairs once for all tasks (converted by parallel tasks
  // themselves) when several column chunks would each convert A again and
  // they fit the area; else each task converts its rows. With a runner
  // too: one GEMM alone can be slower so, whole steps are faster (numbers
  // in DESIGN.md, "Where the conversion happens"). Never inside a task (a
  // batched matmul's GEMMs): the area would go on a runner thread's stack,
  // which IR.md section 6 keeps to 300 KiB.
  if (!g.bf16 || insideParallelTask(l))
    return (void)tasks(g, kernel);
  auto &b = l.b;
  GemmDepthBlocks depth = gemmDepthBlocks(l, s.kc, g.k);
  V pairs = b.CreateMul(b.CreateMul(depth.blocks, g.m), pairsPerRowOfA(l, depth));
  V mayShare = b.CreateAnd(b.CreateICmpUGT(split.colChunks, l.constI64(1)),
                           b.CreateICmpULE(pairs, l.constI64(kSharedPairsOfA)));
  auto eachTaskConverting = [&] { return tasks(g, kernel); };
  auto *known = llvm::dyn_cast<llvm::ConstantInt>(mayShare);
  if (known && known->isZero()) // static extents that rule it out: one path, no area
    return (void)eachTaskConverting();
  auto sharingPairs = [&] {
    GemmOperands withPairs = g;
    withPairs.aPairs = packingArea(l, "nnc.gemm.a.pairs", kSharedPairsOfA);
    emitPairsOfA(l, g, depth, withPairs.aPairs);
    llvm::Function *pairsKernel = libraryKernel(l, withPairs);
    // The epilogue function above exists for a library kernel, or not at all.
    NNC_CHECK((pairsKernel == nullptr) == (kernel == nullptr),
              "a GEMM library kernel without its _apairs twin, or the reverse");
    return tasks(withPairs, pairsKernel);
  };
  branch(l, mayShare, sharingPairs, eachTaskConverting);
}

void emitGemmKernelBody(Lowering &l, const GemmOperands &g, const GemmRange &r, V epilogue,
                        V context) {
  const GemmBlocking s = blockingOf(l, g);
  GemmEpilogue handOver = [&](const GemmTile &t) { handOverTile(l, s, g, epilogue, context, t); };
  auto blockReading = [&](bool bInPlace) {
    return [&, bInPlace] {
      emitGemmBlock(l, s, g, handOver, r, bInPlace, true);
      return std::vector<V>{};
    };
  };
  if (!mayReadBInPlace(s, g))
    return emitGemmBlock(l, s, g, handOver, r, false);
  branch(l, l.b.CreateICmpSLE(g.n, l.constI64(kGemmInPlaceMaxCols)), blockReading(true),
         blockReading(false));
}

} // namespace nnc
