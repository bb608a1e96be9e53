/// Target machines and the optimization pipeline.
#include "codegen/Target.h"

#include <llvm/MC/MCSubtargetInfo.h>
#include "ir/InternalError.h"

#include <llvm/Analysis/TargetLibraryInfo.h>
#include <llvm/IR/DiagnosticInfo.h>
#include <llvm/IR/DiagnosticPrinter.h>
#include <llvm/MC/TargetRegistry.h>
#include <llvm/Passes/PassBuilder.h>
#include <llvm/Support/CommandLine.h>
#include <llvm/Transforms/IPO/MergeFunctions.h>
#include <llvm/Support/TargetSelect.h>
#include <llvm/TargetParser/Host.h>
#include <llvm/TargetParser/Triple.h>
#include <llvm/TargetParser/X86TargetParser.h>

#include <mutex>

namespace nnc {

namespace {

/// Turns off codegen's loop strength reduction (an LLVM option, so for the
/// whole process). On our kernels it took a third of instruction
/// selection's time (35% of the MLP step's codegen: GEMM loops address many
/// streams with different strides, and LSR's search grows with them), and
/// step times with and without it were the same (min of 300-3000 calls of
/// the MLP, residual block and both matmul benchmarks).
void disableLoopStrengthReduction() {
  llvm::StringMap<llvm::cl::Option *> &options = llvm::cl::getRegisteredOptions();
  auto it = options.find("disable-lsr");
  bool set = it != options.end() && !it->second->addOccurrence(0, "disable-lsr", "true");
  NNC_CHECK(set, "LLVM's -disable-lsr option is gone: compile times will grow");
  (void)set;
}

} // namespace

/// Turns off the loop vectorizer's second, narrower vector loop for the
/// remainder of a vectorized loop (an LLVM option, so for the whole
/// process): 8% of a model's IR after optimization, for at most VF - 1
/// elements of each loop, which the scalar remainder does as well.
void disableEpilogueVectorization() {
  llvm::StringMap<llvm::cl::Option *> &options = llvm::cl::getRegisteredOptions();
  auto it = options.find("enable-epilogue-vectorization");
  bool set = it != options.end() &&
             !it->second->addOccurrence(0, "enable-epilogue-vectorization", "false");
  NNC_CHECK(set, "LLVM's -enable-epilogue-vectorization option is gone");
  (void)set;
}

void initializeLlvm() {
  static std::once_flag once;
  std::call_once(once, [] {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
    llvm::InitializeNativeTargetAsmParser();
    disableLoopStrengthReduction();
    disableEpilogueVectorization();
  });
}

void reportOnlyErrors(llvm::LLVMContext &ctx) {
  ctx.setDiagnosticHandlerCallBack(
      [](const llvm::DiagnosticInfo *info, void *) {
        if (info->getSeverity() == llvm::DS_Error) {
          llvm::DiagnosticPrinterRawOStream printer(llvm::errs());
          info->print(printer);
          llvm::errs() << "\n";
        }
      },
      nullptr);
}

std::string cpuFeatures(const std::string &cpu) {
  if (!cpu.empty())
    return "";
  std::string features;
  for (const auto &f : llvm::sys::getHostCPUFeatures())
    features +=
        (features.empty() ? "" : ",") + std::string(f.getValue() ? "+" : "-") + f.getKey().str();
  return features;
}

bool targetHas(const llvm::TargetMachine &machine, const char *feature) {
  return machine.getMCSubtargetInfo()->checkFeatures(std::string("+") + feature);
}

Result<std::unique_ptr<llvm::TargetMachine>> createTargetMachine(const std::string &cpu) {
  using R = Result<std::unique_ptr<llvm::TargetMachine>>;
  initializeLlvm();
  std::string triple = llvm::sys::getProcessTriple();
  std::string error;
  const llvm::Target *target = llvm::TargetRegistry::lookupTarget(triple, error);
  if (!target)
    return R::fail("no LLVM target for {}: {}", triple, error);
  std::string cpuName = cpu.empty() ? llvm::sys::getHostCPUName().str() : cpu;
  // Checked before LLVM sees it: LLVM would print its own warning and go on.
  if (!cpu.empty() && llvm::Triple(triple).isX86() &&
      llvm::X86::parseArchX86(cpu, /*Only64Bit=*/true) == llvm::X86::CK_None)
    return R::fail("unknown CPU '{}' for {} (try haswell, skylake-avx512, znver4, x86-64-v3)", cpu,
                   triple);
  llvm::TargetOptions options; // no fast-math: results must match the reference
  std::unique_ptr<llvm::TargetMachine> machine(
      target->createTargetMachine(triple, cpuName, cpuFeatures(cpu), options, llvm::Reloc::PIC_,
                                  std::nullopt, llvm::CodeGenOptLevel::Aggressive));
  if (!machine)
    return R::fail("LLVM cannot target CPU '{}'", cpuName);
  return R(std::move(machine));
}

std::vector<llvm::VecDesc> extraVectorFunctions(const llvm::TargetMachine &machine) {
  // glibc 2.35+ libmvec has AVX2 ('d', 8 lanes) and AVX-512 ('e', 16 lanes)
  // versions of these; LLVM 19's table lists only the AVX2 ones of exp,
  // log, sin, cos and pow (`llvmHasAvx2`), and no AVX-512 variants.
  struct MathFunction {
    const char *scalar;
    const char *params;    ///< one 'v' per vector argument
    const char *intrinsic; ///< the LLVM intrinsic it also serves, or ""
    bool llvmHasAvx2;
  };
  static const MathFunction functions[] = {
      {"expf", "v", "llvm.exp.f32", true},
      {"logf", "v", "llvm.log.f32", true},
      {"sinf", "v", "llvm.sin.f32", true},
      {"cosf", "v", "llvm.cos.f32", true},
      {"powf", "vv", "llvm.pow.f32", true},
      {"tanhf", "v", "", false},
      {"erff", "v", "", false},
      {"expm1f", "v", "", false},
      {"log1pf", "v", "", false},
  };
  std::vector<llvm::VecDesc> out;
  llvm::StringRef features = machine.getTargetFeatureString();
  bool avx2 = features.contains("+avx2"), avx512 = features.contains("+avx512f");
  static std::vector<std::string> names; // VecDesc keeps StringRefs: own the text
  static std::once_flag once;
  std::call_once(once, [] {
    for (const MathFunction &f : functions) {
      names.push_back(std::string("_ZGVdN8") + f.params + "_" + f.scalar);
      names.push_back(std::string("_ZGVeN16") + f.params + "_" + f.scalar);
      names.push_back(std::string("_ZGV_LLVM_N8") + f.params);
      names.push_back(std::string("_ZGV_LLVM_N16") + f.params);
    }
  });
  for (size_t i = 0; i < std::size(functions); ++i) {
    const MathFunction &f = functions[i];
    auto add = [&](llvm::StringRef vectorName, unsigned lanes, llvm::StringRef abi) {
      out.emplace_back(f.scalar, vectorName, llvm::ElementCount::getFixed(lanes), false, abi);
      if (*f.intrinsic)
        out.emplace_back(f.intrinsic, vectorName, llvm::ElementCount::getFixed(lanes), false, abi);
    };
    if (avx2 && !f.llvmHasAvx2)
      add(names[4 * i], 8, names[4 * i + 2]);
    if (avx512)
      add(names[4 * i + 1], 16, names[4 * i + 3]);
  }
  return out;
}

namespace {

/// The analysis managers of one pipeline run, registered and cross-wired.
struct Analyses {
  llvm::LoopAnalysisManager lam;
  llvm::FunctionAnalysisManager fam;
  llvm::CGSCCAnalysisManager cgam;
  llvm::ModuleAnalysisManager mam;

  void registerWith(llvm::PassBuilder &builder) {
    builder.registerModuleAnalyses(mam);
    builder.registerCGSCCAnalyses(cgam);
    builder.registerFunctionAnalyses(fam);
    builder.registerLoopAnalyses(lam);
    builder.crossRegisterProxies(lam, fam, cgam, mam);
  }
};

} // namespace

void mergeIdenticalFunctions(llvm::Module &module) {
  llvm::PassBuilder builder;
  Analyses analyses;
  analyses.registerWith(builder);
  llvm::ModulePassManager merge;
  merge.addPass(llvm::MergeFunctionsPass());
  merge.run(module, analyses.mam);
}

void optimizeModule(llvm::Module &module, llvm::TargetMachine &machine, Pipeline pipeline) {
  const bool library = pipeline == Pipeline::Library;
  llvm::PipelineTuningOptions tuning;
  tuning.LoopVectorization = true;
  tuning.SLPVectorization = true;
  tuning.LoopUnrolling = library;
  tuning.LoopInterleaving = library;
  llvm::PassBuilder builder(&machine, tuning);
  llvm::Triple triple(module.getTargetTriple());
  llvm::TargetLibraryInfoImpl libraryInfo(triple);
  libraryInfo.addVectorizableFunctionsFromVecLib(llvm::TargetLibraryInfoImpl::LIBMVEC_X86, triple);
  libraryInfo.addVectorizableFunctions(extraVectorFunctions(machine));
  Analyses analyses;
  analyses.fam.registerPass([&] { return llvm::TargetLibraryAnalysis(libraryInfo); });
  analyses.registerWith(builder);
  llvm::ModulePassManager passes = builder.buildPerModuleDefaultPipeline(
      library ? llvm::OptimizationLevel::O3 : llvm::OptimizationLevel::O1);
  passes.run(module, analyses.mam);
}

} // namespace nnc
