/// Linking compiled objects in memory (ORC LLJIT).
#include "codegen/JitLinker.h"

#include "codegen/GemmLibrary.h"
#include "runtime/ThreadPool.h"

#include <llvm/ExecutionEngine/Orc/ExecutionUtils.h>
#include <llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h>
#include <llvm/ExecutionEngine/Orc/LLJIT.h>
#include <llvm/Support/DynamicLibrary.h>
#include <llvm/Support/MemoryBuffer.h>
#include <llvm/Support/raw_ostream.h>

#include <chrono>

namespace nnc {

namespace {

std::string errorText(llvm::Error e) {
  std::string s;
  llvm::raw_string_ostream os(s);
  os << e;
  return os.str();
}

class LlJitModel : public JitModel {
public:
  explicit LlJitModel(const CompileTimes &times) { times_ = times; }

  /// Links the objects into a new JIT and finds the model's functions.
  Status link(const std::vector<std::string> &objects, const std::string &prefix,
              LinkedFunctions which) {
    auto start = std::chrono::steady_clock::now();
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
      if (auto e = jit_->addObjectFile(llvm::MemoryBuffer::getMemBufferCopy(object, prefix)))
        return Status::fail("JIT: {}", errorText(std::move(e)));
    Status found = lookupAll(prefix, which);
    times_.linkMs =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    return found;
  }

private:
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

  Status lookupAll(const std::string &p, LinkedFunctions which) {
    ModelFunctions &f = functions_;
    for (Status s :
         {lookup(p + "_cpu_supported", f.cpuSupported), lookup(p + "_state_size", f.stateSize),
          lookup(p + "_workspace_size", f.workspaceSize), lookup(p + "_init", f.init),
          lookup(p + "_infer", f.infer), lookup(p + "_param_offset", f.paramOffset),
          lookup(p + "_set_parallel_runner", f.setParallelRunner)})
      if (!s)
        return s;
    if (which.trainStep)
      if (Status s = lookup(p + "_train_step", f.trainStep); !s)
        return s;
    if (which.splitStep)
      for (Status s : {lookup(p + "_gradients_size", f.gradientsSize),
                       lookup(p + "_gradient_offset", f.gradientOffset),
                       lookup(p + "_compute_gradients", f.computeGradients),
                       lookup(p + "_apply_gradients", f.applyGradients)})
        if (!s)
          return s;
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

Result<std::unique_ptr<JitModel>> linkJitModel(const std::vector<std::string> &objects,
                                               const std::string &prefix, LinkedFunctions which,
                                               const CompileTimes &times) {
  auto model = std::make_unique<LlJitModel>(times);
  if (Status linked = model->link(objects, prefix, which); !linked)
    return Result<std::unique_ptr<JitModel>>(linked.takeDiags());
  return Result<std::unique_ptr<JitModel>>(std::unique_ptr<JitModel>(std::move(model)));
}

} // namespace nnc
