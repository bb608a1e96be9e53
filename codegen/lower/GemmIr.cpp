/// IR building blocks of the GEMM emitter (codegen/lower/GemmIr.h).
#include "codegen/lower/GemmIr.h"
#include "codegen/Loop.h"
#include "ir/InternalError.h"

namespace nnc::gemm {

/// AVX-512 (32 registers): 8 x 32 (16 accumulators); AVX2 (16 registers):
/// 6 x 16 (12 accumulators); SSE/NEON: 4 x 8.
GemmBlocking blockingFor(const llvm::Function &fn) {
  unsigned vw = vectorLanes(fn);
  unsigned mr = vw == 16 ? 8 : vw == 8 ? 6 : 4;
  return GemmBlocking{vw, mr, 2 * vw, 256, 192};
}

/// A packing area of the function (a GEMM task): one 64-byte aligned
/// alloca in the entry block, found again by its metadata `kindName`.
V packingArea(Lowering &l, const char *kindName, int64_t floats) {
  unsigned kind = l.ctx.getMDKindID(kindName);
  llvm::BasicBlock &entry = l.fn->getEntryBlock();
  auto *type = llvm::ArrayType::get(l.f32, static_cast<uint64_t>(floats));
  // Of the same size too: an f32 and a bf16 GEMM block their depth differently.
  for (llvm::Instruction &inst : entry)
    if (auto *a = llvm::dyn_cast<llvm::AllocaInst>(&inst);
        a && a->getMetadata(kind) && a->getAllocatedType() == type)
      return a;
  llvm::IRBuilder<> eb(&entry, entry.getFirstInsertionPt());
  llvm::AllocaInst *a = eb.CreateAlloca(type, nullptr, "gemm.pack");
  a->setAlignment(llvm::Align(64));
  a->setMetadata(kind, llvm::MDNode::get(l.ctx, {}));
  return a;
}

std::vector<V> loop(Lowering &l, V begin, V end, V step, const std::vector<V> &init,
                    const std::function<std::vector<V>(V, const std::vector<V> &)> &body,
                    unsigned unroll) {
  return buildLoop(l, begin, end, step, init, body, LoopHints::unrolled(unroll));
}

void loop(Lowering &l, V begin, V end, V step, const std::function<void(V)> &body,
          unsigned unroll) {
  loop(
      l, begin, end, step, {},
      [&](V i, const std::vector<V> &) {
        body(i);
        return std::vector<V>{};
      },
      unroll);
}

/// if (cond) then() else otherwise(), each giving `n` values; gives the
/// merged values.
std::vector<V> branch(Lowering &l, V cond, const std::function<std::vector<V>()> &then,
                      const std::function<std::vector<V>()> &otherwise) {
  auto &b = l.b;
  llvm::BasicBlock *thenBlock = llvm::BasicBlock::Create(l.ctx, "gemm.then", l.fn);
  llvm::BasicBlock *elseBlock = llvm::BasicBlock::Create(l.ctx, "gemm.else", l.fn);
  llvm::BasicBlock *join = llvm::BasicBlock::Create(l.ctx, "gemm.join", l.fn);
  b.CreateCondBr(cond, thenBlock, elseBlock);
  b.SetInsertPoint(thenBlock);
  std::vector<V> a = then();
  llvm::BasicBlock *thenEnd = b.GetInsertBlock();
  b.CreateBr(join);
  b.SetInsertPoint(elseBlock);
  std::vector<V> c = otherwise();
  llvm::BasicBlock *elseEnd = b.GetInsertBlock();
  b.CreateBr(join);
  b.SetInsertPoint(join);
  NNC_CHECK(a.size() == c.size(), "");
  std::vector<V> merged;
  for (size_t k = 0; k < a.size(); ++k) {
    llvm::PHINode *phi = b.CreatePHI(a[k]->getType(), 2);
    phi->addIncoming(a[k], thenEnd);
    phi->addIncoming(c[k], elseEnd);
    merged.push_back(phi);
  }
  return merged;
}

V minI64(Lowering &l, V a, V c) { return l.b.CreateSelect(l.b.CreateICmpSLT(a, c), a, c); }

/// Lanes [first, first + vw) that lie below `count`, as a <vw x i1> mask.
V laneMask(Lowering &l, unsigned vw, unsigned first, V count) {
  std::vector<llvm::Constant *> lanes;
  for (unsigned k = 0; k < vw; ++k)
    lanes.push_back(l.b.getInt32(first + k));
  V limit = l.b.CreateVectorSplat(vw, l.b.CreateTrunc(count, l.i32));
  return l.b.CreateICmpSLT(llvm::ConstantVector::get(lanes), limit);
}

/// Transposes n vectors of n lanes (n a power of two): log2(n) rounds of
/// interleaving row i with row i + n/2 (lows, then highs).
std::vector<V> transposeSquare(Lowering &l, std::vector<V> rows) {
  const unsigned n = static_cast<unsigned>(rows.size());
  std::vector<int> lo, hi;
  for (unsigned t = 0; t < n / 2; ++t) {
    lo.insert(lo.end(), {int(t), int(n + t)});
    hi.insert(hi.end(), {int(n / 2 + t), int(n + n / 2 + t)});
  }
  for (unsigned round = 1; round < n; round *= 2) {
    std::vector<V> next;
    for (unsigned i = 0; i < n / 2; ++i) {
      next.push_back(l.b.CreateShuffleVector(rows[i], rows[i + n / 2], lo));
      next.push_back(l.b.CreateShuffleVector(rows[i], rows[i + n / 2], hi));
    }
    rows = std::move(next);
  }
  return rows;
}

V ceilDiv(Lowering &l, V a, V c) {
  return l.b.CreateUDiv(l.b.CreateAdd(a, l.b.CreateSub(c, l.constI64(1))), c);
}
V maxI64(Lowering &l, V a, V c) { return l.b.CreateSelect(l.b.CreateICmpSGT(a, c), a, c); }

} // namespace nnc::gemm
