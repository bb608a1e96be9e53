/// Compiling one module on several threads: the module is split into
/// partitions of about equal size (LLVM's SplitModule, largest functions
/// dealt round-robin), and each thread optimizes and compiles one partition
/// to an object in a context and target machine of its own. The objects
/// link together like the whole module's one object would.
#pragma once

#include "codegen/Compiler.h"
#include "ir/Result.h"

#include <llvm/IR/Module.h>
#include <llvm/Target/TargetMachine.h>

#include <memory>
#include <string>
#include <vector>

namespace nnc {

/// Objects of `module` (verified, identical functions already merged) for
/// `cpu` (empty: the host), in `parts` partitions compiled on as many
/// threads; `parts` == 1 compiles the module as it is on this thread.
/// Adds the time of each phase to `times` (of the phases partitions run
/// side by side, the longest partition's).
Result<std::vector<std::string>> compilePartitions(std::unique_ptr<llvm::Module> module,
                                                   const std::string &cpu, unsigned parts,
                                                   CompileTimes &times);

/// The object code of an optimized module.
Result<std::string> objectCode(llvm::Module &module, llvm::TargetMachine &tm);

} // namespace nnc
