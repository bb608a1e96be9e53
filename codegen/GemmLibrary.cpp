/// The GEMM library (codegen/GemmLibrary.h): its kernels, their symbols,
/// which of them a target may call, and the build step that compiles them.
#include "codegen/GemmLibrary.h"

#include "codegen/Lowering.h"
#include "codegen/ParallelCompile.h"
#include "codegen/StackProbes.h"
#include "codegen/Target.h"
#include "codegen/lower/Gemm.h"
#include "runtime/io/AtomicFile.h"

#include <llvm/ADT/StringExtras.h>
#include <llvm/IR/Verifier.h>
#include <llvm/Support/raw_ostream.h>
#include <llvm/TargetParser/Host.h>
#include <llvm/TargetParser/Triple.h>
#include <llvm/TargetParser/X86TargetParser.h>

#include <algorithm>
#include <cstdint>
#include <set>

namespace nnc {

/// One kernel in the linked library's table (the object the build writes).
struct GemmLibraryEntry {
  const char *name;
  void *function;
  const char *cpu;
};

} // namespace nnc

// Weak: a program linked without the library sees null and compiles its
// GEMMs into each module.
extern "C" {
__attribute__((weak)) extern const nnc::GemmLibraryEntry nnc_gemm_library_table[];
__attribute__((weak)) extern const uint64_t nnc_gemm_library_size;
}

namespace nnc {

namespace {

/// The CPUs the library is compiled for, widest vectors first: each stands
/// for every CPU with its vector width and at least its features.
const std::vector<std::string> kLibraryCpus = {"skylake-avx512", "haswell", "x86-64"};
/// The CPU of the bf16 kernels: AVX-512 with AVX512_BF16 (and nothing newer).
const char *const kBf16LibraryCpu = "cooperlake";

/// The activations whose gradients the kernels apply to A or B.
const char *const kLibraryActivations[] = {"relu"};

/// The instruction set extensions that decide whether a kernel runs.
const std::vector<llvm::StringRef> kIsaFeatures = {
    "sse2",     "sse4.1",   "sse4.2",   "popcnt",  "avx",       "avx2",    "fma",
    "f16c",     "bmi",      "bmi2",     "lzcnt",   "movbe",     "avx512f", "avx512vl",
    "avx512bw", "avx512dq", "avx512cd", "evex512", "avx512bf16"};

std::set<std::string> featuresOfCpu(llvm::StringRef cpu) {
  llvm::SmallVector<llvm::StringRef, 64> features;
  llvm::X86::getFeaturesForCPU(cpu, features);
  return {features.begin(), features.end()};
}

/// The features of a target machine: its feature string (`+avx2,-avx512f,
/// ...`, the host's) or else its CPU's.
std::set<std::string> featuresOf(const llvm::TargetMachine &machine) {
  llvm::StringRef list = machine.getTargetFeatureString();
  if (list.empty())
    return featuresOfCpu(machine.getTargetCPU());
  llvm::SmallVector<llvm::StringRef, 128> items;
  list.split(items, ',');
  std::set<std::string> features;
  for (llvm::StringRef item : items)
    if (item.consume_front("+"))
      features.insert(item.str());
  return features;
}

/// The linked table (empty without the library).
llvm::ArrayRef<GemmLibraryEntry> linkedEntries() {
  if (&nnc_gemm_library_size == nullptr || &nnc_gemm_library_table == nullptr)
    return {};
  return {nnc_gemm_library_table, static_cast<size_t>(nnc_gemm_library_size)};
}

bool linked(const std::string &name) {
  auto same = [&](const GemmLibraryEntry &e) { return name == e.name; };
  return llvm::any_of(linkedEntries(), same);
}

llvm::FunctionType *kernelType(llvm::LLVMContext &ctx) {
  auto *ptr = llvm::PointerType::get(ctx, 0);
  auto *i64 = llvm::Type::getInt64Ty(ctx);
  return llvm::FunctionType::get(
      llvm::Type::getVoidTy(ctx),
      {ptr, ptr, ptr, ptr, ptr, ptr, i64, i64, i64, i64, i64, i64, i64, ptr, ptr}, false);
}

/// The library's symbols link into a program or libnnc.so but are not
/// exported from libnnc.so: the JIT finds the kernels through the table.
void hideFromDynamicSymbols(llvm::GlobalValue &symbol) {
  symbol.setVisibility(llvm::GlobalValue::HiddenVisibility);
}

/// A library kernel for `cpu`: the emitter's block of C (emitGemmKernelBody).
void defineKernel(llvm::Module &m, const std::string &cpu, const GemmKernelKey &key,
                  const Graph &noGraph) {
  llvm::LLVMContext &ctx = m.getContext();
  auto *fn = llvm::Function::Create(kernelType(ctx), llvm::GlobalValue::ExternalLinkage,
                                    gemmKernelName(cpu, key), m);
  hideFromDynamicSymbols(*fn);
  std::set<std::string> features = featuresOfCpu(cpu);
  std::vector<std::string> plus;
  for (const std::string &f : features)
    plus.push_back("+" + f);
  fn->addFnAttr(llvm::Attribute::NoUnwind);
  fn->addFnAttr("probe-stack", "inline-asm"); // as a model's functions (ModuleEmitter)
  fn->addFnAttr("target-cpu", cpu);
  fn->addFnAttr("target-features", llvm::join(plus, ","));
  if (features.count("avx512f"))
    fn->addFnAttr("prefer-vector-width", "512");
  // Not C (argument 2): the epilogue may write C through a pointer of its own.
  for (unsigned i : {0, 1, 3, 4, 5})
    fn->addParamAttr(i, llvm::Attribute::NoAlias);
  Lowering l(m, fn, noGraph, nullptr);
  l.b.SetInsertPoint(llvm::BasicBlock::Create(ctx, "entry", fn));
  auto arg = [&](unsigned i) { return fn->getArg(i); };
  GemmOperands g{arg(0), arg(1), arg(2), arg(6), arg(7), arg(8), key.ta, key.tb};
  g.bf16 = key.bf16;
  if (key.aPairs)
    g.aPairs = arg(0);
  if (!key.aMap.empty()) {
    g.aZ = arg(3);
    g.aMap = activationGradientMap(l, key.aMap, 0);
  }
  if (!key.bMap.empty()) {
    g.bZ = arg(4);
    g.bMap = activationGradientMap(l, key.bMap, 0);
  }
  if (key.bSums)
    g.bSums = arg(5);
  emitGemmKernelBody(l, g, GemmRange{arg(9), arg(10), arg(11), arg(12)}, arg(13), arg(14));
  l.b.CreateRetVoid();
}

llvm::Constant *cString(llvm::Module &m, const std::string &text) {
  llvm::Constant *data = llvm::ConstantDataArray::getString(m.getContext(), text);
  return new llvm::GlobalVariable(m, data->getType(), true, llvm::GlobalValue::PrivateLinkage,
                                  data);
}

/// nnc_gemm_library_table and nnc_gemm_library_size: what linkedEntries reads.
void defineTable(llvm::Module &m, const std::vector<std::pair<std::string, std::string>> &kernels) {
  llvm::LLVMContext &ctx = m.getContext();
  auto *ptr = llvm::PointerType::get(ctx, 0);
  auto *entryType = llvm::StructType::get(ctx, {ptr, ptr, ptr});
  std::vector<llvm::Constant *> entries;
  for (const auto &[name, cpu] : kernels)
    entries.push_back(llvm::ConstantStruct::get(
        entryType, {cString(m, name), m.getFunction(name), cString(m, cpu)}));
  auto *tableType = llvm::ArrayType::get(entryType, entries.size());
  hideFromDynamicSymbols(*new llvm::GlobalVariable(
      m, tableType, true, llvm::GlobalValue::ExternalLinkage,
      llvm::ConstantArray::get(tableType, entries), "nnc_gemm_library_table"));
  hideFromDynamicSymbols(*new llvm::GlobalVariable(
      m, llvm::Type::getInt64Ty(ctx), true, llvm::GlobalValue::ExternalLinkage,
      llvm::ConstantInt::get(llvm::Type::getInt64Ty(ctx), entries.size()),
      "nnc_gemm_library_size"));
}

} // namespace

std::vector<GemmKernelKey> gemmLibraryKeys() {
  std::vector<GemmKernelKey> keys;
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      keys.push_back({ta, tb, false, "", ""});
      for (const char *activation : kLibraryActivations)
        if (!ta) // fused grad-input: the activation's gradient on A
          keys.push_back({ta, tb, false, activation, ""});
      if (tb)
        continue;
      keys.push_back({ta, tb, true, "", ""}); // bias gradient riding along
      for (const char *activation : kLibraryActivations)
        for (bool sums : {false, true}) // fused grad-weight
          keys.push_back({ta, tb, sums, "", activation});
    }
  return keys;
}

unsigned gemmLibraryLanes(const std::string &cpu) {
  return vectorLanes("", cpu, llvm::Triple(llvm::sys::getProcessTriple()));
}

const char *gemmLibraryActivation(const std::string &name) {
  for (const char *activation : kLibraryActivations)
    if (name == activation)
      return activation;
  return nullptr;
}

std::string gemmKernelName(const std::string &cpu, const GemmKernelKey &key) {
  std::string name = "nnc_gemm_" + cpu + "_a" + (key.ta ? "T" : "N") + "_b" + (key.tb ? "T" : "N");
  if (!key.aMap.empty())
    name += "_a" + key.aMap;
  if (!key.bMap.empty())
    name += "_b" + key.bMap;
  if (key.bSums)
    name += "_sums";
  if (key.bf16)
    name += "_bf16";
  if (key.aPairs)
    name += "_apairs";
  std::replace(name.begin(), name.end(), '-', '_');
  return name;
}

namespace {

/// The first of `cpus` whose kernels code for `machine` may call.
std::string libraryCpuAmong(const std::vector<std::string> &cpus,
                            const llvm::TargetMachine &machine) {
  if (!machine.getTargetTriple().isX86() || linkedEntries().empty())
    return "";
  std::set<std::string> target = featuresOf(machine);
  unsigned targetLanes = vectorLanes(machine.getTargetFeatureString(), machine.getTargetCPU(),
                                     machine.getTargetTriple());
  for (const std::string &cpu : cpus) {
    std::set<std::string> needed = featuresOfCpu(cpu);
    auto present = [&](llvm::StringRef f) {
      return !needed.count(f.str()) || target.count(f.str());
    };
    if (gemmLibraryLanes(cpu) == targetLanes &&
        std::all_of(kIsaFeatures.begin(), kIsaFeatures.end(), present))
      return cpu;
  }
  return "";
}

} // namespace

std::string gemmLibraryCpuFor(const llvm::TargetMachine &machine) {
  return libraryCpuAmong(kLibraryCpus, machine);
}

std::string gemmLibraryBf16CpuFor(const llvm::TargetMachine &machine) {
  return libraryCpuAmong({kBf16LibraryCpu}, machine);
}

llvm::Function *declareGemmKernel(llvm::Module &module, const std::string &cpu,
                                  const GemmKernelKey &key) {
  std::string name = gemmKernelName(cpu, key);
  if (!linked(name))
    return nullptr;
  llvm::FunctionCallee callee = module.getOrInsertFunction(name, kernelType(module.getContext()));
  auto *fn = llvm::cast<llvm::Function>(callee.getCallee());
  fn->addFnAttr(llvm::Attribute::NoUnwind);
  return fn;
}

std::vector<std::string> linkedGemmKernels() {
  std::vector<std::string> names;
  for (const GemmLibraryEntry &e : linkedEntries())
    names.emplace_back(e.name);
  return names;
}

std::vector<std::pair<std::string, void *>> gemmLibrarySymbols() {
  std::vector<std::pair<std::string, void *>> symbols;
  for (const GemmLibraryEntry &e : linkedEntries())
    symbols.emplace_back(e.name, e.function);
  return symbols;
}

Status writeGemmLibrary(const std::string &objectPath) {
  initializeLlvm();
  llvm::Triple host(llvm::sys::getProcessTriple());
  auto tm = createTargetMachine(host.isX86() ? "x86-64" : "");
  if (!tm)
    return Status(tm.takeDiags());
  llvm::LLVMContext ctx;
  reportOnlyErrors(ctx);
  llvm::Module m("nnc_gemm_library", ctx);
  m.setTargetTriple((*tm)->getTargetTriple().str());
  m.setDataLayout((*tm)->createDataLayout());
  Graph noGraph;
  std::vector<std::pair<std::string, std::string>> kernels;
  auto define = [&](const std::string &cpu, const GemmKernelKey &key) {
    defineKernel(m, cpu, key, noGraph);
    kernels.emplace_back(gemmKernelName(cpu, key), cpu);
  };
  for (const std::string &cpu : host.isX86() ? kLibraryCpus : std::vector<std::string>{})
    for (const GemmKernelKey &key : gemmLibraryKeys())
      define(cpu, key);
  for (GemmKernelKey key : host.isX86() ? gemmLibraryKeys() : std::vector<GemmKernelKey>{}) {
    key.bf16 = true;
    define(kBf16LibraryCpu, key);
    if (!key.ta && key.aMap.empty()) { // the same kernel reading A's pairs (aPairs)
      key.aPairs = true;
      define(kBf16LibraryCpu, key);
    }
  }
  keepProloguesInEntryBlocks(m);
  defineTable(m, kernels);
  std::string problems;
  llvm::raw_string_ostream os(problems);
  if (llvm::verifyModule(m, &os))
    return Status::fail("internal error: invalid GEMM library IR: {}", os.str());
  optimizeModule(m, **tm, Pipeline::Library);
  auto object = objectCode(m, **tm);
  if (!object)
    return Status(object.takeDiags());
  return writeFileAtomically(objectPath, *object);
}

} // namespace nnc
