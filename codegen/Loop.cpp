/// Counted loops in LLVM IR (codegen/Loop.h).
#include "codegen/Loop.h"
#include "codegen/Lowering.h"
#include "ir/InternalError.h"

namespace nnc {

namespace {

/// One `llvm.loop` property: a name with an optional constant.
llvm::Metadata *property(llvm::LLVMContext &ctx, const char *name, llvm::Constant *value) {
  std::vector<llvm::Metadata *> ops{llvm::MDString::get(ctx, name)};
  if (value)
    ops.push_back(llvm::ConstantAsMetadata::get(value));
  return llvm::MDNode::get(ctx, ops);
}

/// Attaches the hints to the loop's latch branch (nothing when they ask
/// nothing).
void attachHints(Lowering &l, llvm::BranchInst *latch, const LoopHints &hints) {
  llvm::LLVMContext &ctx = l.ctx;
  std::vector<llvm::Metadata *> ops{nullptr}; // operand 0 is the loop id itself
  if (hints.unroll == 1)
    ops.push_back(property(ctx, "llvm.loop.unroll.disable", nullptr));
  else if (hints.unroll > 1)
    ops.push_back(property(ctx, "llvm.loop.unroll.count", l.b.getInt32(hints.unroll)));
  if (hints.vectorize != LoopHints::Vectorize::Auto)
    ops.push_back(property(ctx, "llvm.loop.vectorize.enable",
                           l.b.getInt1(hints.vectorize == LoopHints::Vectorize::Enable)));
  if (hints.interleave)
    ops.push_back(property(ctx, "llvm.loop.interleave.count", l.b.getInt32(hints.interleave)));
  if (ops.size() == 1)
    return;
  llvm::MDNode *loopId = llvm::MDNode::getDistinct(ctx, ops);
  loopId->replaceOperandWith(0, loopId);
  latch->setMetadata(llvm::LLVMContext::MD_loop, loopId);
}

} // namespace

std::vector<llvm::Value *> buildLoop(Lowering &l, llvm::Value *begin, llvm::Value *end,
                                     llvm::Value *step, const std::vector<llvm::Value *> &carried,
                                     const LoopBody &body, LoopHints hints) {
  auto &b = l.b;
  llvm::BasicBlock *pre = b.GetInsertBlock();
  llvm::BasicBlock *header = llvm::BasicBlock::Create(l.ctx, "loop", l.fn);
  llvm::BasicBlock *bodyBlock = llvm::BasicBlock::Create(l.ctx, "body", l.fn);
  llvm::BasicBlock *exit = llvm::BasicBlock::Create(l.ctx, "after", l.fn);
  b.CreateBr(header);
  b.SetInsertPoint(header);
  llvm::PHINode *i = b.CreatePHI(l.i64, 2, "i");
  i->addIncoming(begin, pre);
  std::vector<llvm::PHINode *> phis;
  std::vector<llvm::Value *> current;
  for (llvm::Value *v : carried) {
    phis.push_back(b.CreatePHI(v->getType(), 2));
    phis.back()->addIncoming(v, pre);
    current.push_back(phis.back());
  }
  b.CreateCondBr(b.CreateICmpSLT(i, end), bodyBlock, exit);
  b.SetInsertPoint(bodyBlock);
  std::vector<llvm::Value *> next = body(i, current);
  NNC_CHECK(next.size() == phis.size(), "a loop body gives back as many values as it carries");
  llvm::Value *nextI = b.CreateAdd(i, step, "", true, true);
  llvm::BranchInst *latch = b.CreateBr(header);
  i->addIncoming(nextI, b.GetInsertBlock());
  for (size_t k = 0; k < phis.size(); ++k)
    phis[k]->addIncoming(next[k], b.GetInsertBlock());
  attachHints(l, latch, hints);
  b.SetInsertPoint(exit);
  return current;
}

void buildLoop(Lowering &l, llvm::Value *begin, llvm::Value *end,
               const std::function<void(llvm::Value *)> &body, LoopHints hints) {
  buildLoop(
      l, begin, end, l.constI64(1), {},
      [&](llvm::Value *i, const std::vector<llvm::Value *> &) {
        body(i);
        return std::vector<llvm::Value *>{};
      },
      hints);
}

} // namespace nnc
