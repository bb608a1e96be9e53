/// The code half of the compile pipeline (codegen/Compiler.h): a planned
/// model's LLVM module, optimized for the target, compiled to machine code
/// (through the disk cache), then linked in memory (codegen/JitLinker.h) or
/// returned as an object file.
#include "codegen/Compiler.h"

#include "codegen/GemmLibrary.h"
#include "codegen/JitLinker.h"
#include "codegen/ModuleEmitter.h"
#include "codegen/ObjectCache.h"
#include "codegen/ParallelCompile.h"
#include "ir/Printer.h"
#include "passes/MixedPrecision.h"

#include <fmt/ranges.h>
#include "codegen/Target.h"

#include <llvm/ExecutionEngine/Orc/ExecutionUtils.h>
#include <llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h>
#include <llvm/ExecutionEngine/Orc/LLJIT.h>
#include <llvm/IR/DiagnosticInfo.h>
#include <llvm/IR/DiagnosticPrinter.h>
#include <llvm/IR/LegacyPassManager.h>
#include <llvm/IR/Verifier.h>
#include <llvm/Config/llvm-config.h>
#include <llvm/Support/DynamicLibrary.h>
#include <llvm/Support/MemoryBuffer.h>
#include <llvm/Support/SHA256.h>
#include <llvm/ADT/StringExtras.h>
#include <llvm/Support/raw_ostream.h>
#include <llvm/TargetParser/Host.h>

#include "runtime/io/AtomicFile.h"
#include "runtime/ThreadPool.h"

#include <algorithm>
#include <chrono>
#include <dlfcn.h>
#include <sys/stat.h>

namespace nnc {

namespace {

using Clock = std::chrono::steady_clock;

double msSince(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

std::string prefixOf(const Graph &infer, const CompileOptions &options) {
  return options.prefix.empty() ? infer.name : options.prefix;
}

/// The GEMM library CPU a module compiled with `options` calls, or empty.
std::string gemmLibraryCpu(const CompileOptions &options, const llvm::TargetMachine &tm) {
  return options.gemmLibrary ? gemmLibraryCpuFor(tm) : "";
}

/// "this CPU (znver3) does not have it" or "CPU 'skylake-avx512' does not have it".
std::string noBf16(const llvm::TargetMachine &tm) {
  return fmt::format("{} does not have it",
                     tm.getTargetFeatureString().empty()
                         ? fmt::format("CPU '{}'", tm.getTargetCPU().str())
                         : fmt::format("this CPU ({})", tm.getTargetCPU().str()));
}

/// The target machine of `options`, when it can run `model`: a node with
/// precision=bf16 needs AVX512_BF16 (the error is located at the node).
Result<std::unique_ptr<llvm::TargetMachine>> targetFor(const PlannedModel &model,
                                                       const CompileOptions &options) {
  using R = Result<std::unique_ptr<llvm::TargetMachine>>;
  auto tm = createTargetMachine(options.cpu);
  if (!tm || targetHas(**tm, "avx512bf16"))
    return tm;
  for (const Graph *g : model.graphs())
    if (const Node *n = firstBf16Node(*g)) {
      Diagnostics d;
      d.error(n->loc, "{} with precision=bf16 needs a CPU with AVX512_BF16 (vdpbf16ps); {}",
              n->info().name, noBf16(**tm));
      return R(std::move(d));
    }
  return tm;
}

/// Options for code that must not call into nnc: objects and their text.
CompileOptions selfContained(CompileOptions options) {
  options.gemmLibrary = false;
  return options;
}

/// Builds the module and merges its identical functions; reports a
/// verifier failure as an internal error (a bug in a lowering).
Result<std::unique_ptr<llvm::Module>> buildModule(llvm::LLVMContext &ctx, llvm::TargetMachine &tm,
                                                  const PlannedModel &model,
                                                  const CompileOptions &options,
                                                  CompileTimes &times) {
  const Graph &infer = model.infer.graph;
  using R = Result<std::unique_ptr<llvm::Module>>;
  reportOnlyErrors(ctx);
  auto start = Clock::now();
  std::unique_ptr<llvm::Module> module =
      emitModelModule(ctx, tm, prefixOf(infer, options), model, gemmLibraryCpu(options, tm));
  std::string problems;
  llvm::raw_string_ostream os(problems);
  if (llvm::verifyModule(*module, &os))
    return R::fail("internal error: invalid LLVM IR for model '{}': {}", infer.name, os.str());
  for (const llvm::Function &f : *module)
    if (f.isDeclaration() && f.getName().starts_with("nnc_gemm_"))
      times.gemmLibraryCalls += static_cast<int>(f.getNumUses());
  mergeIdenticalFunctions(*module);
  times.lowerMs = msSince(start);
  return R(std::move(module));
}

/// Identifies this build of nnc (its code generator included): the size
/// and modification time of the file that holds this code: libnnc.so for a
/// program that links it, else the executable nnc is linked into. (It was
/// the executable: a Python process's is python3, which says nothing about
/// the libnnc it loaded, so code cached by an older libnnc was served to a
/// newer one.)
std::string buildIdentity() {
  Dl_info self = {};
  const char *file = "/proc/self/exe";
  if (::dladdr(reinterpret_cast<void *>(&buildIdentity), &self) && self.dli_fname &&
      self.dli_fname[0] == '/')
    file = self.dli_fname;
  struct stat st = {};
  if (::stat(file, &st) != 0 && ::stat("/proc/self/exe", &st) != 0)
    return NNC_VERSION;
  return fmt::format("{}:{}:{}:{}", NNC_VERSION, st.st_size, st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
}

LinkedFunctions linkedFunctions(const PlannedModel &model) {
  return LinkedFunctions{model.train.has_value(), model.split.has_value()};
}

/// The cache key: everything the object depends on.
std::string cacheKey(const PlannedModel &model, const CompileOptions &options,
                     llvm::TargetMachine &tm, unsigned parts) {
  const Graph &infer = model.infer.graph;
  const Graph *train = model.trainGraph();
  llvm::SHA256 hash;
  std::string split = "-";
  if (model.split)
    split = printGraph(model.split->gradients.graph) + printGraph(model.split->apply.graph) +
            fmt::format("{}", fmt::join(model.split->params, ","));
  for (const std::string &part :
       {printGraph(infer), train ? printGraph(*train) : std::string("-"), split,
        prefixOf(infer, options), gemmLibraryCpu(options, tm), tm.getTargetCPU().str(),
        tm.getTargetFeatureString().str(), buildIdentity(), std::string(LLVM_VERSION_STRING),
        std::to_string(parts)}) {
    hash.update(part);
    hash.update(llvm::StringRef("\0", 1));
  }
  return llvm::toHex(hash.final(), true);
}

/// The objects of a model, in `parts` partitions compiled side by side
/// (codegen/ParallelCompile.h): from the cache, or compiled (and then
/// cached). `key` gets the cache key ("" without the cache); `readCache`
/// false compiles even when the cache holds an entry (and replaces it).
Result<std::vector<std::string>>
modelObjects(const PlannedModel &model, const CompileOptions &options, llvm::TargetMachine &tm,
             unsigned parts, CompileTimes &times, std::string &key, bool readCache = true) {
  using R = Result<std::vector<std::string>>;
  key.clear();
  if (options.useCache) {
    key = cacheKey(model, options, tm, parts);
    if (readCache)
      if (auto cached = readCachedObjects(key, parts)) {
        times.fromCache = true;
        return std::move(*cached);
      }
  }
  times.fromCache = false;
  llvm::LLVMContext ctx;
  auto module = buildModule(ctx, tm, model, options, times);
  if (!module)
    return R(module.takeDiags());
  auto objects = compilePartitions(std::move(module).value(), options.cpu, parts, times);
  if (objects && options.useCache)
    storeCachedObjects(key, *objects);
  return objects;
}

} // namespace

Result<bool> bf16Products(const CompileOptions &options) {
  if (options.precision == Precision::F32)
    return false;
  auto tm = createTargetMachine(options.cpu);
  if (!tm)
    return Result<bool>(tm.takeDiags());
  bool has = targetHas(**tm, "avx512bf16");
  if (options.precision == Precision::BF16 && !has)
    return Result<bool>::fail("bf16 precision needs a CPU with AVX512_BF16 (vdpbf16ps); {}",
                              noBf16(**tm));
  return has;
}

Result<std::unique_ptr<JitModel>> jitCompile(const PlannedModel &model,
                                             const CompileOptions &options) {
  using R = Result<std::unique_ptr<JitModel>>;
  auto tm = targetFor(model, options);
  if (!tm)
    return R(tm.takeDiags());
  // The JIT compiles on as many threads as the model will run on, at most
  // one per core.
  int cores = ThreadPool::defaultThreads();
  auto parts =
      static_cast<unsigned>(std::clamp(options.threads > 0 ? options.threads : cores, 1, cores));
  CompileTimes times;
  std::string key;
  auto objects = modelObjects(model, options, **tm, parts, times, key);
  if (!objects)
    return R(objects.takeDiags());
  const Graph &infer = model.infer.graph;
  auto linked = linkJitModel(*objects, prefixOf(infer, options), linkedFunctions(model), times);
  if (!linked && times.fromCache) {
    // Cached code that checks out but does not load: replace it.
    discardCachedObjects(key, static_cast<unsigned>(objects->size()), linked.errorText());
    objects = modelObjects(model, options, **tm, parts, times, key, false);
    if (!objects)
      return R(objects.takeDiags());
    linked = linkJitModel(*objects, prefixOf(infer, options), linkedFunctions(model), times);
  }
  if (linked)
    (*linked)->setThreads(options.threads);
  return linked;
}

Result<std::unique_ptr<JitModel>> jitCompile(const Graph &infer, const Graph *train,
                                             const CompileOptions &options) {
  PassContext ctx;
  return jitCompile(planOptimized(infer, train, ctx), options);
}

Result<std::string> compileObject(const PlannedModel &model, const CompileOptions &options,
                                  CompileTimes *timesOut) {
  using R = Result<std::string>;
  CompileTimes times;
  auto tm = targetFor(model, options);
  if (!tm)
    return R(tm.takeDiags());
  std::string key;
  auto objects = modelObjects(model, selfContained(options), **tm, 1, times, key);
  if (!objects)
    return R(objects.takeDiags());
  if (timesOut)
    *timesOut = times;
  return std::move(objects->front());
}

Result<std::string> emitText(const PlannedModel &model, const CompileOptions &options,
                             const std::string &what) {
  CompileTimes times;
  auto tm = targetFor(model, options);
  if (!tm)
    return Result<std::string>(tm.takeDiags());
  llvm::LLVMContext ctx;
  auto module = buildModule(ctx, **tm, model, selfContained(options), times);
  if (!module)
    return Result<std::string>(module.takeDiags());
  optimizeModule(**module, **tm);
  std::string text;
  llvm::raw_string_ostream os(text);
  if (what == "llvm") {
    (*module)->print(os, nullptr);
    return os.str();
  }
  llvm::SmallVector<char, 0> buffer;
  llvm::raw_svector_ostream asmOut(buffer);
  llvm::legacy::PassManager emit;
  if ((*tm)->addPassesToEmitFile(emit, asmOut, nullptr, llvm::CodeGenFileType::AssemblyFile))
    return Result<std::string>::fail("LLVM cannot emit assembly for this target");
  emit.run(**module);
  return std::string(buffer.data(), buffer.size());
}

} // namespace nnc
