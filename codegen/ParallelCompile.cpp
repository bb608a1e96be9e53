/// Parallel compilation of a module's partitions (codegen/ParallelCompile.h).
#include "codegen/ParallelCompile.h"

#include "codegen/Target.h"

#include <llvm/Bitcode/BitcodeReader.h>
#include <llvm/Bitcode/BitcodeWriter.h>
#include <llvm/IR/LegacyPassManager.h>
#include <llvm/Support/MemoryBuffer.h>
#include <llvm/Support/raw_ostream.h>
#include <llvm/Transforms/Utils/SplitModule.h>

#include <algorithm>
#include <chrono>
#include <system_error>
#include <thread>

namespace nnc {

namespace {

using Clock = std::chrono::steady_clock;

double msSince(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

/// One partition's way from IR to object code, with its times.
struct PartitionResult {
  Result<std::string> object = Result<std::string>::fail("partition not compiled");
  double setupMs = 0; ///< reading the bitcode, creating the target machine
  double optimizeMs = 0, codegenMs = 0;
};

/// Optimizes and compiles `module` for `tm`.
PartitionResult compileModule(llvm::Module &module, llvm::TargetMachine &tm) {
  PartitionResult r;
  auto start = Clock::now();
  optimizeModule(module, tm);
  r.optimizeMs = msSince(start);
  start = Clock::now();
  r.object = objectCode(module, tm);
  r.codegenMs = msSince(start);
  return r;
}

/// Compiles one partition, given as bitcode, in a context and target
/// machine of its own (LLVM contexts and target machines are not shared
/// between threads).
PartitionResult compileBitcode(const std::string &bitcode, const std::string &cpu) {
  auto start = Clock::now();
  PartitionResult r;
  llvm::LLVMContext ctx;
  reportOnlyErrors(ctx);
  auto module =
      llvm::parseBitcodeFile(llvm::MemoryBufferRef(llvm::StringRef(bitcode), "partition"), ctx);
  if (!module) {
    llvm::consumeError(module.takeError());
    r.object = Result<std::string>::fail("internal error: a partition's bitcode does not parse");
    return r;
  }
  auto tm = createTargetMachine(cpu);
  if (!tm) {
    r.object = Result<std::string>(tm.takeDiags());
    return r;
  }
  double setupMs = msSince(start);
  r = compileModule(**module, **tm);
  r.setupMs = setupMs;
  return r;
}

/// Instructions (before optimization) a partition gets at least: the split
/// and each partition's bitcode round trip and target machine cost about
/// 30 ms, which a module pays back only when half of its compile is more.
/// The MLP step's module is 1627 instructions (one partition: 120-130 ms
/// alone, about as much split in two), the CNN's 3415 (two: 195 -> 140 ms).
constexpr size_t kMinPartitionInstructions = 1500;

/// SplitModule makes internal symbols that another partition uses external
/// and hidden, which the code generator then reaches PC-relative. The JIT
/// places each partition's object in memory of its own, not always within
/// the +-2 GiB such a reference spans, so they are made default-visibility
/// (reached through the GOT, which the JIT's linker lays out); one access per
/// parallel loop or kernel call, none in inner loops.
void reachableFromAnywhere(llvm::Module &part) {
  for (llvm::GlobalValue &gv : part.global_values())
    if (!gv.hasLocalLinkage() && gv.hasHiddenVisibility()) {
      gv.setVisibility(llvm::GlobalValue::DefaultVisibility);
      gv.setDSOLocal(false);
    }
}

/// The partitions of `module` as bitcode.
std::vector<std::string> split(llvm::Module &module, unsigned parts) {
  std::vector<std::string> bitcode;
  llvm::SplitModule(
      module, parts,
      [&](std::unique_ptr<llvm::Module> part) {
        reachableFromAnywhere(*part);
        std::string bytes;
        llvm::raw_string_ostream os(bytes);
        llvm::WriteBitcodeToFile(*part, os);
        bitcode.push_back(std::move(os.str()));
      },
      /*PreserveLocals=*/false, /*RoundRobin=*/true);
  return bitcode;
}

} // namespace

Result<std::string> objectCode(llvm::Module &module, llvm::TargetMachine &tm) {
  llvm::SmallVector<char, 0> buffer;
  llvm::raw_svector_ostream os(buffer);
  llvm::legacy::PassManager emit;
  if (tm.addPassesToEmitFile(emit, os, nullptr, llvm::CodeGenFileType::ObjectFile))
    return Result<std::string>::fail("LLVM cannot emit an object file for this target");
  emit.run(module);
  return std::string(buffer.data(), buffer.size());
}

Result<std::vector<std::string>> compilePartitions(std::unique_ptr<llvm::Module> module,
                                                   const std::string &cpu, unsigned parts,
                                                   CompileTimes &times) {
  using R = Result<std::vector<std::string>>;
  parts = std::min<unsigned>(
      parts, std::max<size_t>(1, module->getInstructionCount() / kMinPartitionInstructions));
  std::vector<PartitionResult> results;
  if (parts <= 1) {
    auto tm = createTargetMachine(cpu);
    if (!tm)
      return R(tm.takeDiags());
    results.push_back(compileModule(*module, **tm));
  } else {
    auto start = Clock::now();
    std::vector<std::string> bitcode = split(*module, parts);
    module.reset();
    times.splitMs += msSince(start);
    results.resize(bitcode.size());
    // Partitions 1.. on threads of their own (those a thread cannot be
    // started for, on this one), partition 0 here.
    std::vector<std::thread> threads;
    std::vector<size_t> here = {0};
    for (size_t i = 1; i < bitcode.size(); ++i) {
      try {
        threads.emplace_back([&, i] { results[i] = compileBitcode(bitcode[i], cpu); });
      } catch (const std::system_error &) {
        here.push_back(i);
      }
    }
    for (size_t i : here)
      results[i] = compileBitcode(bitcode[i], cpu);
    for (std::thread &t : threads)
      t.join();
  }
  // The partitions ran side by side: the longest of each phase is its time.
  std::vector<std::string> objects;
  double setup = 0, optimize = 0, codegen = 0;
  for (PartitionResult &r : results) {
    if (!r.object)
      return R(r.object.takeDiags());
    objects.push_back(std::move(r.object).value());
    setup = std::max(setup, r.setupMs);
    optimize = std::max(optimize, r.optimizeMs);
    codegen = std::max(codegen, r.codegenMs);
  }
  times.splitMs += setup;
  times.optimizeMs += optimize;
  times.codegenMs += codegen;
  return objects;
}

} // namespace nnc
