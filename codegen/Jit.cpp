/// The JIT (ORC LLJIT) and object-file emission: a model's module, optimized
/// for the target, then either linked in memory or written as an object.
#include "codegen/Compiler.h"

#include "codegen/GemmLibrary.h"
#include "codegen/ModuleEmitter.h"
#include "codegen/ObjectCache.h"
#include "codegen/ParallelCompile.h"
#include "ir/Printer.h"
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

/// Options for code that must not call into nnc: objects and their text.
CompileOptions selfContained(CompileOptions options) {
  options.gemmLibrary = false;
  return options;
}

/// Builds the module and merges its identical functions; reports a
/// verifier failure as an internal error (a bug in a lowering).
Result<std::unique_ptr<llvm::Module>> buildModule(llvm::LLVMContext &ctx, llvm::TargetMachine &tm,
                                                  const Graph &infer, const Graph *train,
                                                  const CompileOptions &options,
                                                  CompileTimes &times) {
  using R = Result<std::unique_ptr<llvm::Module>>;
  reportOnlyErrors(ctx);
  auto start = Clock::now();
  std::unique_ptr<llvm::Module> module =
      emitModelModule(ctx, tm, prefixOf(infer, options), infer, train, gemmLibraryCpu(options, tm));
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

std::string errorText(llvm::Error e) {
  std::string s;
  llvm::raw_string_ostream os(s);
  os << e;
  return os.str();
}

/// Identifies this build of nnc (its code generator included): the size
/// and modification time of the running executable, which links nnc.
std::string buildIdentity() {
  struct stat st = {};
  if (::stat("/proc/self/exe", &st) != 0)
    return NNC_VERSION;
  return fmt::format("{}:{}:{}", NNC_VERSION, st.st_size, st.st_mtim.tv_sec);
}

/// The cache key: everything the object depends on.
std::string cacheKey(const Graph &infer, const Graph *train, const CompileOptions &options,
                     llvm::TargetMachine &tm, unsigned parts) {
  llvm::SHA256 hash;
  for (const std::string &part :
       {printGraph(infer), train ? printGraph(*train) : std::string("-"), prefixOf(infer, options),
        gemmLibraryCpu(options, tm), tm.getTargetCPU().str(), tm.getTargetFeatureString().str(),
        buildIdentity(), std::string(LLVM_VERSION_STRING), std::to_string(parts)}) {
    hash.update(part);
    hash.update(llvm::StringRef("\0", 1));
  }
  return llvm::toHex(hash.final(), true);
}

/// The objects of a model, in `parts` partitions compiled side by side
/// (codegen/ParallelCompile.h): from the cache, or compiled (and then
/// cached). `key` gets the cache key ("" without the cache); `readCache`
/// false compiles even when the cache holds an entry (and replaces it).
Result<std::vector<std::string>> modelObjects(const Graph &infer, const Graph *train,
                                              const CompileOptions &options,
                                              llvm::TargetMachine &tm, unsigned parts,
                                              CompileTimes &times, std::string &key,
                                              bool readCache = true) {
  using R = Result<std::vector<std::string>>;
  key.clear();
  if (options.useCache) {
    key = cacheKey(infer, train, options, tm, parts);
    if (readCache)
      if (auto cached = readCachedObjects(key, parts)) {
        times.fromCache = true;
        return std::move(*cached);
      }
  }
  times.fromCache = false;
  llvm::LLVMContext ctx;
  auto module = buildModule(ctx, tm, infer, train, options, times);
  if (!module)
    return R(module.takeDiags());
  auto objects = compilePartitions(std::move(module).value(), options.cpu, parts, times);
  if (objects && options.useCache)
    storeCachedObjects(key, *objects);
  return objects;
}

class LlJitModel : public JitModel {
public:
  Status load(const Graph &infer, const Graph *train, const CompileOptions &options) {
    auto tm = createTargetMachine(options.cpu);
    if (!tm)
      return Status(tm.takeDiags());
    // The JIT compiles on as many threads as the model will run on, at
    // most one per core.
    int cores = ThreadPool::defaultThreads();
    auto parts = static_cast<unsigned>(
        std::clamp(options.threads > 0 ? options.threads : cores, 1, cores));
    std::string key;
    auto objects = modelObjects(infer, train, options, **tm, parts, times_, key);
    if (!objects)
      return Status(objects.takeDiags());
    Status linked = link(*objects, infer, train, options);
    if (!linked && times_.fromCache) {
      // Cached code that checks out but does not load: replace it.
      discardCachedObjects(key, static_cast<unsigned>(objects->size()), linked.errorText());
      objects = modelObjects(infer, train, options, **tm, parts, times_, key, false);
      if (!objects)
        return Status(objects.takeDiags());
      linked = link(*objects, infer, train, options);
    }
    if (linked)
      setThreads(options.threads);
    return linked;
  }

private:
  /// Links the objects into a new JIT and finds the model's functions.
  Status link(const std::vector<std::string> &objects, const Graph &infer, const Graph *train,
              const CompileOptions &options) {
    auto start = Clock::now();
    // glibc's vector math (libmvec) serves the vectorized exp, log, tanh, erf.
    llvm::sys::DynamicLibrary::LoadLibraryPermanently("libmvec.so.1");
    auto builder = llvm::orc::JITTargetMachineBuilder::detectHost();
    if (!builder)
      return Status::fail("JIT: {}", errorText(builder.takeError()));
    auto jit = llvm::orc::LLJITBuilder().setJITTargetMachineBuilder(std::move(*builder)).create();
    if (!jit)
      return Status::fail("JIT: {}", errorText(jit.takeError()));
    jit_ = std::move(*jit);
    auto generator = llvm::orc::DynamicLibrarySearchGenerator::GetForCurrentProcess(
        jit_->getDataLayout().getGlobalPrefix());
    if (!generator)
      return Status::fail("JIT: {}", errorText(generator.takeError()));
    jit_->getMainJITDylib().addGenerator(std::move(*generator));
    if (Status defined = defineGemmLibrary(); !defined)
      return defined;
    for (const std::string &object : objects)
      if (auto e = jit_->addObjectFile(llvm::MemoryBuffer::getMemBufferCopy(object, infer.name)))
        return Status::fail("JIT: {}", errorText(std::move(e)));
    Status found = lookupAll(prefixOf(infer, options), train != nullptr);
    times_.linkMs = msSince(start);
    return found;
  }

  /// The GEMM library's kernels, which the modules may call.
  Status defineGemmLibrary() {
    llvm::orc::SymbolMap symbols;
    for (const auto &[name, address] : gemmLibrarySymbols())
      symbols[jit_->mangleAndIntern(name)] = {llvm::orc::ExecutorAddr::fromPtr(address),
                                              llvm::JITSymbolFlags::Exported |
                                                  llvm::JITSymbolFlags::Callable};
    if (symbols.empty())
      return Ok{};
    if (auto e = jit_->getMainJITDylib().define(llvm::orc::absoluteSymbols(std::move(symbols))))
      return Status::fail("JIT: {}", errorText(std::move(e)));
    return Ok{};
  }

  template <typename F> Status lookup(const std::string &name, F &slot) {
    auto symbol = jit_->lookup(name);
    if (!symbol)
      return Status::fail("JIT: {}", errorText(symbol.takeError()));
    slot = symbol->toPtr<F>();
    return Ok{};
  }

  Status lookupAll(const std::string &p, bool training) {
    ModelFunctions &f = functions_;
    for (Status s :
         {lookup(p + "_cpu_supported", f.cpuSupported), lookup(p + "_state_size", f.stateSize),
          lookup(p + "_workspace_size", f.workspaceSize), lookup(p + "_init", f.init),
          lookup(p + "_infer", f.infer), lookup(p + "_param_offset", f.paramOffset),
          lookup(p + "_set_parallel_runner", f.setParallelRunner)})
      if (!s)
        return s;
    if (training)
      return lookup(p + "_train_step", f.trainStep);
    return Ok{};
  }

  std::unique_ptr<llvm::orc::LLJIT> jit_;
};

} // namespace

void JitModel::setThreads(int threads) {
  threads = threads > 0 ? threads : ThreadPool::defaultThreads();
  pool_ = threads > 1 ? ThreadPool::shared(threads) : nullptr;
  functions_.setParallelRunner(pool_ ? &ThreadPool::run : nullptr, pool_.get());
  threads_ = threads;
}

Result<std::unique_ptr<JitModel>> jitCompile(const Graph &infer, const Graph *train,
                                             const CompileOptions &options) {
  auto model = std::make_unique<LlJitModel>();
  Status loaded = model->load(infer, train, options);
  if (!loaded)
    return Result<std::unique_ptr<JitModel>>(loaded.takeDiags());
  return Result<std::unique_ptr<JitModel>>(std::unique_ptr<JitModel>(std::move(model)));
}

Result<std::string> compileObject(const Graph &infer, const Graph *train,
                                  const CompileOptions &options, CompileTimes *timesOut) {
  using R = Result<std::string>;
  CompileTimes times;
  auto tm = createTargetMachine(options.cpu);
  if (!tm)
    return R(tm.takeDiags());
  std::string key;
  auto objects = modelObjects(infer, train, selfContained(options), **tm, 1, times, key);
  if (!objects)
    return R(objects.takeDiags());
  if (timesOut)
    *timesOut = times;
  return std::move(objects->front());
}

Result<std::string> emitText(const Graph &infer, const Graph *train, const CompileOptions &options,
                             const std::string &what) {
  CompileTimes times;
  auto tm = createTargetMachine(options.cpu);
  if (!tm)
    return Result<std::string>(tm.takeDiags());
  llvm::LLVMContext ctx;
  auto module = buildModule(ctx, **tm, infer, train, selfContained(options), times);
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
