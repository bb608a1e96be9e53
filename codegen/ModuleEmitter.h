/// Builds the LLVM module of a compiled model: the C ABI functions of
/// IR.md section 6 (infer, train_step, init, sizes, param offsets, the CPU
/// check, and nnc's PREFIX_set_parallel_runner), each graph lowered node by
/// node into one function, with its parallel loops' bodies in task functions.
#pragma once

#include "codegen/Layout.h"
#include "ir/Graph.h"
#include "passes/Pipeline.h"

#include <llvm/IR/Module.h>
#include <llvm/Target/TargetMachine.h>

#include <memory>
#include <string>

namespace nnc {

/// A fresh module for `machine` holding PREFIX_* functions for the planned
/// inference graph and, when it has one, training step, each lowered as its
/// kernel schedule and memory plan say; its GEMMs call the GEMM library's
/// kernels for `gemmLibraryCpu` where it has them (codegen/GemmLibrary.h;
/// empty: never).
std::unique_ptr<llvm::Module> emitModelModule(llvm::LLVMContext &ctx, llvm::TargetMachine &machine,
                                              const std::string &prefix, const PlannedModel &model,
                                              const std::string &gemmLibraryCpu = "");

} // namespace nnc
