/// Stack probes and where the prologue goes. The compiled functions carry
/// probe-stack=inline-asm: their frames hold packing areas of hundreds of
/// KiB, and a thread with too small a stack must fault on its guard page,
/// not write past it (IR.md section 6). LLVM 19's x86-64 probe loop counts
/// down in r11 without asking whether r11 is free, and shrink-wrapping may
/// move the prologue past the entry block's early exits (the C ABI's
/// argument checks), to a point where r11 holds a live value: a graph
/// function kept its batch size there and lost it to the probe (the bf16
/// GEMM's store ran past C). The same class of bug, fixed for other
/// targets: llvm-project #81676, #81879, #198699.
#pragma once

#include <llvm/IR/Module.h>

namespace nnc {

/// Keeps the prologue of every function of `m` that probes the stack in its
/// entry block (where only argument registers are live, and r11 is none):
/// a volatile store to a stack slot of its own as the block's first
/// instruction, which shrink-wrapping cannot move the prologue past.
void keepProloguesInEntryBlocks(llvm::Module &m);

} // namespace nnc
