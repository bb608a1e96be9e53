/// The module side of parallel loops (the loops themselves: parallelFor in
/// codegen/Lowering.h). A module keeps an internal runner and pool pointer,
/// null until the host sets them through PREFIX_set_parallel_runner; with
/// no runner every parallel loop runs its tasks in order on the calling
/// thread, so an AOT object needs no thread library (DESIGN.md, "Threads").
#pragma once

#include <llvm/IR/Function.h>

namespace nnc {

/// Fills `setter`, declared as void (ptr run, ptr pool), with the stores of
/// its arguments into the module's runner and pool.
void emitSetParallelRunner(llvm::Function *setter);

} // namespace nnc
