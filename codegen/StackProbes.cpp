/// Prologues in entry blocks (codegen/StackProbes.h).
#include "codegen/StackProbes.h"

#include <llvm/IR/IRBuilder.h>

namespace nnc {

void keepProloguesInEntryBlocks(llvm::Module &m) {
  for (llvm::Function &f : m) {
    if (f.isDeclaration() || !f.hasFnAttribute("probe-stack"))
      continue;
    llvm::BasicBlock &entry = f.getEntryBlock();
    llvm::IRBuilder<> b(&entry, entry.getFirstInsertionPt());
    llvm::AllocaInst *slot = b.CreateAlloca(b.getInt8Ty(), nullptr, "prologue.here");
    b.CreateStore(b.getInt8(0), slot, /*isVolatile=*/true);
  }
}

} // namespace nnc
