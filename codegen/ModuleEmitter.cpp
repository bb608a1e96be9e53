/// The module emitter: ABI functions around the lowered graphs.
#include "codegen/ModuleEmitter.h"

#include "codegen/GemmLibrary.h"
#include "codegen/InitializerCode.h"
#include "codegen/Lowering.h"
#include "codegen/Parallel.h"
#include "codegen/StackProbes.h"
#include "codegen/Target.h"
#include "ir/InternalError.h"
#include "passes/MixedPrecision.h"
#include "passes/schedule/MemoryPlan.h"
#include "runtime/Initializers.h"

#include <llvm/IR/InlineAsm.h>
#include <llvm/IR/Verifier.h>
#include <llvm/TargetParser/Host.h>

#include <cstring>

namespace nnc {

namespace {

/// Copies from this size on run as parallel chunks of kCopyChunkBytes.
constexpr int64_t kParallelCopyBytes = int64_t{1} << 18;
constexpr int64_t kCopyChunkBytes = int64_t{1} << 16;

class ModuleEmitter {
public:
  ModuleEmitter(llvm::Module &m, llvm::TargetMachine &machine, std::string prefix,
                const PlannedModel &model, std::string gemmLibraryCpu)
      : m_(m), machine_(machine), prefix_(std::move(prefix)),
        gemmLibraryCpu_(std::move(gemmLibraryCpu)), infer_(model.infer.graph),
        train_(model.trainGraph()), layout_(layoutState(infer_, train_)),
        inferPlan_(model.infer.plan), trainPlan_(model.train ? &model.train->plan : nullptr),
        split_(model.split ? &*model.split : nullptr), b_(m.getContext()) {
    for (const Graph *g : model.graphs())
      usesBf16_ = usesBf16_ || firstBf16Node(*g);
    if (split_)
      gradientLayout_ = layoutGradients(split_->gradients.graph, split_->params);
  }

  void emit() {
    emitCpuSupported();
    emitStateSize();
    emitWorkspaceSize();
    emitInit();
    emitParamOffset();
    emitSetParallelRunner(
        declare(prefix_ + "_set_parallel_runner", b_.getVoidTy(), {ptr(), ptr()}));
    emitGraphFunction(prefix_ + "_infer", infer_, inferPlan_, false);
    if (train_)
      emitGraphFunction(prefix_ + "_train_step", *train_, *trainPlan_, true);
    if (split_) {
      emitGradientsSize();
      emitGradientOffset();
      emitComputeGradients();
      emitApplyGradients();
    }
  }

private:
  llvm::Function *declare(const std::string &name, llvm::Type *ret,
                          std::vector<llvm::Type *> args) {
    auto *type = llvm::FunctionType::get(ret, args, false);
    auto *f = llvm::Function::Create(type, llvm::Function::ExternalLinkage, name, m_);
    f->addFnAttr(llvm::Attribute::NoUnwind);
    // Frames past a page touch each page in order (outlined tasks copy it):
    // the packing areas make frames of hundreds of KiB, and a thread with
    // too small a stack must fault on its guard page, not write past it.
    f->addFnAttr("probe-stack", "inline-asm");
    f->addFnAttr("target-cpu", machine_.getTargetCPU());
    llvm::StringRef features = machine_.getTargetFeatureString();
    if (!features.empty())
      f->addFnAttr("target-features", features);
    // Use the full AVX-512 width: LLVM otherwise prefers 256-bit vectors.
    if (features.contains("+avx512f"))
      f->addFnAttr("prefer-vector-width", "512");
    return f;
  }
  llvm::Type *i32() { return b_.getInt32Ty(); }
  llvm::Type *i64() { return b_.getInt64Ty(); }
  llvm::Type *ptr() { return b_.getPtrTy(); }

  /// cpuid-based check of the features the code was compiled for (of the
  /// host's, or of a named CPU's: `nnc compile --cpu znver4`), and of
  /// AVX512_BF16 when a kernel multiplies in bf16.
  void emitCpuSupported() {
    llvm::Function *f = declare(prefix_ + "_cpu_supported", i32(), {});
    b_.SetInsertPoint(llvm::BasicBlock::Create(m_.getContext(), "entry", f));
    if (!machine_.getTargetTriple().isX86()) {
      b_.CreateRet(b_.getInt32(1));
      return;
    }
    // leaf 1 ecx: bit 12 fma; leaf 7 ebx: bit 5 avx2, bit 16 avx512f; leaf 7
    // subleaf 1 eax: bit 5 avx512_bf16.
    auto cpuid = [&](uint32_t leaf, uint32_t subleaf) {
      auto *type = llvm::FunctionType::get(llvm::StructType::get(i32(), i32(), i32(), i32()),
                                           {i32(), i32()}, false);
      auto *asmCall =
          llvm::InlineAsm::get(type, "cpuid", "={ax},={bx},={cx},={dx},{ax},{cx}", false);
      return b_.CreateCall(asmCall, {b_.getInt32(leaf), b_.getInt32(subleaf)});
    };
    llvm::Value *ok = b_.getTrue();
    auto need = [&](const char *feature, uint32_t leaf, uint32_t subleaf, unsigned reg, int bit) {
      if (!targetHas(machine_, feature))
        return;
      llvm::Value *value = b_.CreateExtractValue(cpuid(leaf, subleaf), reg);
      ok = b_.CreateAnd(
          ok, b_.CreateICmpNE(b_.CreateAnd(value, b_.getInt32(1u << bit)), b_.getInt32(0)));
    };
    need("fma", 1, 0, 2, 12);
    need("avx2", 7, 0, 1, 5);
    need("avx512f", 7, 0, 1, 16);
    if (usesBf16_)
      need("avx512bf16", 7, 1, 0, 5);
    b_.CreateRet(b_.CreateZExt(ok, i32()));
  }

  void emitStateSize() {
    llvm::Function *f = declare(prefix_ + "_state_size", i64(), {});
    b_.SetInsertPoint(llvm::BasicBlock::Create(m_.getContext(), "entry", f));
    b_.CreateRet(b_.getInt64(layout_.size));
  }

  /// Workspace bytes of one graph's memory plan for the dims in `l`: its
  /// buffers one after another, each 64-byte aligned.
  llvm::Value *workspaceBytes(Lowering &l, const MemoryPlan &plan) {
    llvm::Value *total = l.constI64(0);
    for (const PlannedBuffer &buffer : plan.buffers)
      total = l.b.CreateAdd(total, bufferBytes(l, buffer.size));
    return total;
  }

  llvm::Value *bufferBytes(Lowering &l, const SymbolicSize &size) {
    llvm::Value *bytes = l.constI64(size.coefficient);
    for (int32_t symbol : size.symbols)
      bytes = l.b.CreateMul(bytes, l.dim(Dim::sym(symbol)));
    return l.b.CreateAnd(l.b.CreateAdd(bytes, l.constI64(63)), l.constI64(~int64_t{63}));
  }

  void emitWorkspaceSize() {
    llvm::Function *f = declare(prefix_ + "_workspace_size", i64(), {ptr()});
    b_.SetInsertPoint(llvm::BasicBlock::Create(m_.getContext(), "entry", f));
    const Graph &g = train_ ? *train_ : infer_;
    Lowering l(m_, f, g, f->getArg(0));
    l.b.SetInsertPoint(b_.GetInsertBlock());
    if (!g.dims.empty()) {
      // No dims, no size: 0 (the functions that take a workspace refuse
      // null dims with a status).
      llvm::BasicBlock *none = llvm::BasicBlock::Create(m_.getContext(), "nodims", f);
      llvm::BasicBlock *some = llvm::BasicBlock::Create(m_.getContext(), "dims", f);
      l.b.CreateCondBr(l.b.CreateIsNull(f->getArg(0)), none, some);
      l.b.SetInsertPoint(none);
      l.b.CreateRet(l.constI64(0));
      l.b.SetInsertPoint(some);
      l.loadDims();
    }
    llvm::Value *size = workspaceBytes(l, inferPlan_);
    // The largest of every function's workspace.
    std::vector<std::pair<const Graph *, const MemoryPlan *>> others;
    if (train_)
      others.emplace_back(train_, trainPlan_);
    if (split_) {
      others.emplace_back(&split_->gradients.graph, &split_->gradients.plan);
      others.emplace_back(&split_->apply.graph, &split_->apply.plan);
    }
    llvm::BasicBlock *block = l.b.GetInsertBlock();
    for (const auto &[graph, plan] : others) {
      Lowering lt(m_, f, *graph, f->getArg(0));
      lt.b.SetInsertPoint(block);
      if (!graph->dims.empty())
        lt.loadDims();
      llvm::Value *t = workspaceBytes(lt, *plan);
      size = lt.b.CreateSelect(lt.b.CreateICmpUGT(t, size), t, size);
      block = lt.b.GetInsertBlock();
    }
    b_.SetInsertPoint(block);
    b_.CreateRet(size);
  }

  /// The first values of every param and state: P_init zeroes the state,
  /// copies the literals (and baked checkpoints) from data, and computes the
  /// rest from their initializers (codegen/InitializerCode.h), so an object
  /// does not carry its random weights.
  void emitInit() {
    const Graph &g = train_ ? *train_ : infer_;
    llvm::Function *f = declare(prefix_ + "_init", i32(), {ptr()});
    b_.SetInsertPoint(llvm::BasicBlock::Create(m_.getContext(), "entry", f));
    Lowering l(m_, f, g, nullptr);
    l.b.SetInsertPoint(b_.GetInsertBlock());
    llvm::Value *state = f->getArg(0);
    checkBuffer(l, state);
    if (layout_.size)
      l.b.CreateMemSet(state, l.b.getInt8(0), layout_.size, llvm::Align(64));
    for (const auto &[name, offset] : layout_.entries) {
      ValueId id = g.findValue(name);
      llvm::Value *dest = l.b.CreateConstInBoundsGEP1_64(l.b.getInt8Ty(), state, offset);
      if (initializedByCode(g, id))
        emitInitializerCode(l, g, id, dest);
      else if (int64_t bytes = initialTensor(g, id).bytes(); bytes > 0)
        l.b.CreateMemCpy(dest, llvm::Align(64), constant(g, id), llvm::Align(64), bytes);
    }
    l.b.CreateRet(l.b.getInt32(kAbiOk));
  }

  void emitParamOffset() { emitNameLookup(prefix_ + "_param_offset", layout_.entries); }

  /// int64_t NAME(const char *name): the offset of `name` in `entries`, or -1.
  void emitNameLookup(const std::string &function,
                      const std::vector<std::pair<std::string, uint64_t>> &entries) {
    llvm::Function *f = declare(function, i64(), {ptr()});
    auto *strcmpType = llvm::FunctionType::get(i32(), {ptr(), ptr()}, false);
    llvm::FunctionCallee strcmpFn = m_.getOrInsertFunction("strcmp", strcmpType);
    b_.SetInsertPoint(llvm::BasicBlock::Create(m_.getContext(), "entry", f));
    llvm::Value *name = f->getArg(0);
    llvm::BasicBlock *missing = llvm::BasicBlock::Create(m_.getContext(), "missing", f);
    b_.CreateCondBr(b_.CreateIsNull(name), missing,
                    llvm::BasicBlock::Create(m_.getContext(), "lookup", f));
    b_.SetInsertPoint(&f->back());
    for (const auto &[entryName, offset] : entries) {
      llvm::Value *same = b_.CreateICmpEQ(
          b_.CreateCall(strcmpFn, {name, b_.CreateGlobalStringPtr(entryName)}), b_.getInt32(0));
      llvm::BasicBlock *found = llvm::BasicBlock::Create(m_.getContext(), "found", f);
      llvm::BasicBlock *next = llvm::BasicBlock::Create(m_.getContext(), "next", f);
      b_.CreateCondBr(same, found, next);
      b_.SetInsertPoint(found);
      b_.CreateRet(b_.getInt64(offset));
      b_.SetInsertPoint(next);
    }
    b_.CreateBr(missing);
    b_.SetInsertPoint(missing);
    b_.CreateRet(b_.getInt64(static_cast<uint64_t>(-1)));
  }

  /// Null or not 64-byte aligned: the ABI's "bad buffer".
  void checkBuffer(Lowering &l, llvm::Value *p) {
    llvm::Value *address = l.b.CreatePtrToInt(p, l.i64);
    l.failIf(l.b.CreateOr(l.b.CreateIsNull(p),
                          l.b.CreateICmpNE(l.b.CreateAnd(address, l.constI64(63)), l.constI64(0))),
             kAbiBadBuffer);
  }

  /// `int NAME(void *state, void *workspace, ...)`: `args` pointers in all,
  /// the first two never aliased, and its entry block to emit into.
  llvm::Function *declareGraphFunction(const std::string &name, size_t args) {
    llvm::Function *f = declare(name, i32(), std::vector<llvm::Type *>(args, ptr()));
    for (unsigned i = 0; i < 2; ++i)
      f->addParamAttr(i, llvm::Attribute::NoAlias);
    b_.SetInsertPoint(llvm::BasicBlock::Create(m_.getContext(), "entry", f));
    return f;
  }

  /// A graph function's lowering set up at its entry, with its state and
  /// workspace (arguments 0 and 1) checked.
  void enterGraphFunction(Lowering &l, const MemoryPlan &plan) {
    l.gemmLibraryCpu = gemmLibraryCpu_;
    l.gemmLibraryBf16Cpu = gemmLibraryCpu_.empty() ? "" : gemmLibraryBf16CpuFor(machine_);
    l.schedule = &plan.schedule;
    l.b.SetInsertPoint(b_.GetInsertBlock());
    checkBuffer(l, l.fn->getArg(0));
    checkBuffer(l, l.fn->getArg(1));
  }

  void emitGraphFunction(const std::string &name, const Graph &g, const MemoryPlan &plan,
                         bool training) {
    llvm::Function *f = declareGraphFunction(name, 5);
    Lowering l(m_, f, g, f->getArg(2));
    enterGraphFunction(l, plan);
    llvm::Value *state = f->getArg(0), *workspace = f->getArg(1), *inputs = f->getArg(3);
    checkDims(l, g, f->getArg(2));
    bindDeclarations(l, g, state, inputs);
    bindResults(l, g, plan, workspace);
    std::vector<llvm::Value *> outputs =
        training ? std::vector<llvm::Value *>{} : outputPointers(l, g, f->getArg(4));
    std::vector<bool> direct = training ? std::vector<bool>{} : outputsInPlace(l, g, outputs);
    for (const Node &n : g.nodes)
      lowerNode(l, n);
    if (training)
      finishTrainStep(l, g, plan, f->getArg(4));
    else
      copyOutputs(l, g, outputs, direct);
    l.b.CreateRet(l.b.getInt32(kAbiOk));
  }

  /// The planned buffers, laid out in the workspace from the dims at entry,
  /// and each node's result in its buffer. Values sharing a buffer get the
  /// same pointer, so an in-place loop has no alias check.
  void bindResults(Lowering &l, const Graph &g, const MemoryPlan &plan, llvm::Value *workspace) {
    std::vector<llvm::Value *> buffers;
    llvm::Value *offset = l.constI64(0);
    for (const PlannedBuffer &buffer : plan.buffers) {
      buffers.push_back(l.b.CreateInBoundsGEP(l.b.getInt8Ty(), workspace, offset));
      offset = l.b.CreateAdd(offset, bufferBytes(l, buffer.size));
    }
    for (const Node &n : g.nodes) {
      // An update's value may be computed straight into its param or state.
      ValueId target = plan.stateOf[static_cast<size_t>(n.result)];
      int32_t buffer = plan.bufferOf[static_cast<size_t>(n.result)];
      l.setBuffer(n.result,
                  target != kNoValue ? l.data(target) : buffers[static_cast<size_t>(buffer)]);
    }
  }

  // ---- the training step cut at the gradients (data parallelism) ----------

  void emitGradientsSize() {
    llvm::Function *f = declare(prefix_ + "_gradients_size", i64(), {});
    b_.SetInsertPoint(llvm::BasicBlock::Create(m_.getContext(), "entry", f));
    b_.CreateRet(b_.getInt64(gradientLayout_.size));
  }

  void emitGradientOffset() {
    emitNameLookup(prefix_ + "_gradient_offset", gradientLayout_.entries);
  }

  /// PREFIX_compute_gradients(state, workspace, dims, inputs, gradients,
  /// loss, ready, ready_ctx): the forward and backward passes, each
  /// gradient computed straight into its place in `gradients`; as soon as
  /// one is final, ready(ready_ctx, i) for the i-th trained param (when
  /// `ready` is not null), so that its reduction can start while the rest
  /// of the backward pass runs.
  void emitComputeGradients() {
    const Graph &g = split_->gradients.graph;
    const MemoryPlan &plan = split_->gradients.plan;
    llvm::Function *f = declareGraphFunction(prefix_ + "_compute_gradients", 8);
    Lowering l(m_, f, g, f->getArg(2));
    enterGraphFunction(l, plan);
    llvm::Value *state = f->getArg(0), *workspace = f->getArg(1), *gradients = f->getArg(4);
    l.failIf(l.b.CreateIsNull(gradients), kAbiBadBuffer);
    checkDims(l, g, f->getArg(2));
    bindDeclarations(l, g, state, f->getArg(3));
    bindResults(l, g, plan, workspace);
    // Gradients that nodes compute go straight into the caller's buffer.
    size_t count = split_->params.size();
    std::vector<llvm::Value *> places;
    std::vector<bool> direct(count, false), placed(g.values.size(), false);
    std::vector<std::vector<size_t>> readyAfter(g.nodes.size());
    for (size_t i = 0; i < count; ++i) {
      places.push_back(l.b.CreateConstInBoundsGEP1_64(l.b.getInt8Ty(), gradients,
                                                      gradientLayout_.entries[i].second));
      ValueId v = g.outputs[i].value;
      if (g.value(v).kind != ValueKind::Op || placed[static_cast<size_t>(v)])
        continue;
      l.setBuffer(v, places[i]);
      placed[static_cast<size_t>(v)] = direct[i] = true;
      NodeId def = g.value(v).def;
      NodeId host =
          plan.schedule.isGuest(def) ? plan.schedule.hostOf[static_cast<size_t>(def)] : def;
      readyAfter[static_cast<size_t>(host)].push_back(i);
    }
    // A gradient that is another's value too (two params, one gradient)
    // is copied from the first's place before either is reported ready:
    // once it is, the caller may change that place (scale it, sum it).
    std::vector<std::vector<size_t>> copiesOf(count);
    std::vector<bool> copied(count, false);
    for (size_t i = 0; i < count; ++i)
      for (size_t j = 0; j < i && !direct[i]; ++j)
        if (direct[j] && g.outputs[j].value == g.outputs[i].value && !copied[i]) {
          copiesOf[j].push_back(i);
          copied[i] = true;
        }
    llvm::Value *ready = f->getArg(6), *readyCtx = f->getArg(7);
    for (const Node &n : g.nodes) {
      lowerNode(l, n);
      for (size_t j : readyAfter[static_cast<size_t>(&n - g.nodes.data())]) {
        for (size_t i : copiesOf[j])
          copyValue(l, g.outputs[j].value, places[i]);
        signalReady(l, ready, readyCtx, j);
        for (size_t i : copiesOf[j])
          signalReady(l, ready, readyCtx, i);
      }
    }
    for (size_t i = 0; i < count; ++i)
      if (!direct[i] && !copied[i]) { // a constant or an input: not in the caller's buffer
        copyValue(l, g.outputs[i].value, places[i]);
        signalReady(l, ready, readyCtx, i);
      }
    finishTrainStep(l, g, plan, f->getArg(5));
    l.b.CreateRet(l.b.getInt32(kAbiOk));
  }

  void signalReady(Lowering &l, llvm::Value *ready, llvm::Value *readyCtx, size_t param) {
    llvm::BasicBlock *call = llvm::BasicBlock::Create(m_.getContext(), "ready", l.fn);
    llvm::BasicBlock *next = llvm::BasicBlock::Create(m_.getContext(), "readydone", l.fn);
    l.b.CreateCondBr(l.b.CreateIsNull(ready), next, call);
    l.b.SetInsertPoint(call);
    auto *type = llvm::FunctionType::get(b_.getVoidTy(), {ptr(), i64()}, false);
    l.b.CreateCall(type, ready, {readyCtx, l.constI64(static_cast<int64_t>(param))});
    l.b.CreateBr(next);
    l.b.SetInsertPoint(next);
  }

  /// PREFIX_apply_gradients(state, workspace, gradients): the optimizer's
  /// update from the gradients in `gradients` (laid out as
  /// PREFIX_compute_gradients writes them).
  void emitApplyGradients() {
    const Graph &g = split_->apply.graph;
    const MemoryPlan &plan = split_->apply.plan;
    llvm::Function *f = declareGraphFunction(prefix_ + "_apply_gradients", 3);
    // The update's values have the params' static shapes; the dims the
    // graph still declares (for the model's inputs, unused here) are 0.
    for (const Node &n : g.nodes)
      NNC_CHECK(g.type(n.result).isStatic(), "apply gradients: '{}' has a symbolic shape",
                g.value(n.result).name);
    llvm::Value *dims = b_.CreateAlloca(i64(), b_.getInt64(std::max<size_t>(g.dims.size(), 1)));
    for (size_t i = 0; i < g.dims.size(); ++i)
      b_.CreateStore(b_.getInt64(0), b_.CreateConstGEP1_64(i64(), dims, i));
    Lowering l(m_, f, g, dims);
    enterGraphFunction(l, plan);
    if (!g.dims.empty())
      l.loadDims();
    llvm::Value *state = f->getArg(0), *workspace = f->getArg(1), *gradients = f->getArg(2);
    l.failIf(l.b.CreateIsNull(gradients), kAbiBadBuffer);
    bindStateAndConsts(l, g, state);
    for (size_t i = 0; i < split_->gradientInputs.size(); ++i) {
      ValueId input = g.findValue(split_->gradientInputs[i]);
      if (input != kNoValue)
        l.setBuffer(input, l.b.CreateConstInBoundsGEP1_64(l.b.getInt8Ty(), gradients,
                                                          gradientLayout_.entries[i].second));
    }
    bindResults(l, g, plan, workspace);
    for (const Node &n : g.nodes)
      lowerNode(l, n);
    for (const Update &u : g.updates)
      if (plan.stateOf[static_cast<size_t>(u.value)] != u.target)
        copyValue(l, u.value, l.data(u.target));
    l.b.CreateRet(l.b.getInt32(kAbiOk));
  }

  void checkDims(Lowering &l, const Graph &g, llvm::Value *dims) {
    if (g.dims.empty())
      return;
    l.failIf(l.b.CreateIsNull(dims), kAbiBadDim);
    l.loadDims(); // after the null check, which a load at entry would void
    for (size_t i = 0; i < g.dims.size(); ++i) {
      llvm::Value *d = l.dim(Dim::sym(static_cast<int32_t>(i)));
      l.failIf(l.b.CreateICmpUGE(d, l.constI64(int64_t{1} << 31)), kAbiBadDim);
    }
  }

  void bindDeclarations(Lowering &l, const Graph &g, llvm::Value *state, llvm::Value *inputs) {
    bindInputs(l, g, inputs);
    bindStateAndConsts(l, g, state);
  }

  void bindInputs(Lowering &l, const Graph &g, llvm::Value *inputs) {
    std::vector<ValueId> ins = g.valuesOfKind(ValueKind::Input);
    std::vector<int> uses = g.useCounts();
    if (!ins.empty())
      l.failIf(l.b.CreateIsNull(inputs), kAbiBadBuffer);
    for (size_t i = 0; i < ins.size(); ++i) {
      // An input nothing reads may be null (IR.md section 6).
      if (uses[static_cast<size_t>(ins[i])] == 0)
        continue;
      llvm::Value *p = l.b.CreateLoad(l.ptr, l.b.CreateConstGEP1_64(l.ptr, inputs, i));
      l.failIf(l.b.CreateIsNull(p), kAbiBadBuffer);
      l.setBuffer(ins[i], p);
    }
  }

  void bindStateAndConsts(Lowering &l, const Graph &g, llvm::Value *state) {
    std::vector<int> uses = g.useCounts();
    for (size_t i = 0; i < g.values.size(); ++i) {
      const Value &v = g.values[i];
      ValueId id = static_cast<ValueId>(i);
      if (v.kind == ValueKind::Param || v.kind == ValueKind::State) {
        // A half of a split step may declare what the training step's
        // passes dropped as unused (and so has no place in the state).
        auto at = layout_.offsetOf.find(v.name);
        if (at == layout_.offsetOf.end() && uses[i] == 0)
          continue;
        NNC_CHECK(at != layout_.offsetOf.end(), "'{}' has no place in the state", v.name);
        l.setBuffer(id, l.b.CreateConstInBoundsGEP1_64(l.b.getInt8Ty(), state, at->second));
      } else if (v.kind == ValueKind::Const) {
        l.setBuffer(id, constant(g, id));
      }
    }
  }

  llvm::Value *constant(const Graph &g, ValueId id) {
    Tensor t = initialTensor(g, id);
    std::vector<uint8_t> bytes(static_cast<size_t>(t.bytes()));
    if (!bytes.empty())
      std::memcpy(bytes.data(), t.data(), bytes.size());
    bytes.resize(std::max<size_t>(bytes.size(), 4));
    auto *data = llvm::ConstantDataArray::get(m_.getContext(), llvm::ArrayRef<uint8_t>(bytes));
    auto *global =
        new llvm::GlobalVariable(m_, data->getType(), true, llvm::GlobalValue::PrivateLinkage, data,
                                 prefix_ + ".const." + g.value(id).name);
    global->setAlignment(llvm::Align(64));
    return global;
  }

  /// Copies a value (4-byte elements) to `dest`; a large one as parallel
  /// chunks (copies of outputs and updates stream megabytes).
  void copyValue(Lowering &l, ValueId v, llvm::Value *dest) {
    if (l.isImmediate(v)) {
      l.b.CreateStore(l.immediate(v), dest);
      return;
    }
    llvm::Value *bytes = l.b.CreateMul(l.numel(v), l.constI64(4));
    auto *known = llvm::dyn_cast<llvm::ConstantInt>(bytes);
    if (known && known->getSExtValue() < kParallelCopyBytes) {
      l.b.CreateMemCpy(dest, llvm::Align(4), l.data(v), llvm::Align(4), bytes);
      return;
    }
    llvm::Value *chunk = l.constI64(kCopyChunkBytes), *src = l.data(v);
    llvm::Value *chunks =
        l.b.CreateUDiv(l.b.CreateAdd(bytes, l.constI64(kCopyChunkBytes - 1)), chunk);
    llvm::Value *worthIt = l.b.CreateICmpUGE(bytes, l.constI64(kParallelCopyBytes));
    parallelFor(l, chunks, worthIt, [&](llvm::Value *t) {
      llvm::Value *offset = l.b.CreateMul(t, chunk);
      llvm::Value *rest = l.b.CreateSub(bytes, offset);
      llvm::Value *n = l.b.CreateSelect(l.b.CreateICmpULT(rest, chunk), rest, chunk);
      l.b.CreateMemCpy(l.b.CreateGEP(l.b.getInt8Ty(), dest, offset), llvm::Align(4),
                       l.b.CreateGEP(l.b.getInt8Ty(), src, offset), llvm::Align(4), n);
    });
  }

  /// The caller's output buffers, checked before anything is computed.
  std::vector<llvm::Value *> outputPointers(Lowering &l, const Graph &g, llvm::Value *outputs) {
    if (!g.outputs.empty())
      l.failIf(l.b.CreateIsNull(outputs), kAbiBadBuffer);
    std::vector<llvm::Value *> pointers;
    for (size_t i = 0; i < g.outputs.size(); ++i) {
      pointers.push_back(l.b.CreateLoad(l.ptr, l.b.CreateConstGEP1_64(l.ptr, outputs, i)));
      l.failIf(l.b.CreateIsNull(pointers.back()), kAbiBadBuffer);
    }
    return pointers;
  }

  /// Op results that are outputs are computed straight into the caller's
  /// buffer (the first, when one value is output twice), which saves a copy
  /// of each after the graph; returns which outputs were placed so.
  std::vector<bool> outputsInPlace(Lowering &l, const Graph &g,
                                   const std::vector<llvm::Value *> &pointers) {
    std::vector<bool> direct(g.outputs.size(), false), placed(g.values.size(), false);
    for (size_t i = 0; i < g.outputs.size(); ++i) {
      ValueId v = g.outputs[i].value;
      if (g.value(v).kind != ValueKind::Op || placed[static_cast<size_t>(v)])
        continue;
      l.setBuffer(v, pointers[i]);
      placed[static_cast<size_t>(v)] = direct[i] = true;
    }
    return direct;
  }

  void copyOutputs(Lowering &l, const Graph &g, const std::vector<llvm::Value *> &pointers,
                   const std::vector<bool> &direct) {
    for (size_t i = 0; i < g.outputs.size(); ++i)
      if (!direct[i])
        copyValue(l, g.outputs[i].value, pointers[i]);
  }

  /// The loss, then every `<-` update not computed in place (the memory plan
  /// wrote those into their target once no node read the old value; the
  /// others are in the workspace, so the order of the copies does not matter).
  void finishTrainStep(Lowering &l, const Graph &g, const MemoryPlan &plan, llvm::Value *loss) {
    ValueId lossValue = g.outputs.back().value; // autodiff appends the loss
    llvm::BasicBlock *skip = llvm::BasicBlock::Create(m_.getContext(), "noloss", l.fn);
    llvm::BasicBlock *write = llvm::BasicBlock::Create(m_.getContext(), "loss", l.fn);
    l.b.CreateCondBr(l.b.CreateIsNull(loss), skip, write);
    l.b.SetInsertPoint(write);
    l.b.CreateStore(l.load(lossValue, l.constI64(0)), loss);
    l.b.CreateBr(skip);
    l.b.SetInsertPoint(skip);
    for (const Update &u : g.updates)
      if (plan.stateOf[static_cast<size_t>(u.value)] != u.target)
        copyValue(l, u.value, l.data(u.target));
  }

  llvm::Module &m_;
  llvm::TargetMachine &machine_;
  std::string prefix_;
  std::string gemmLibraryCpu_;
  const Graph &infer_;
  const Graph *train_;
  StateLayout layout_;
  const MemoryPlan &inferPlan_;
  const MemoryPlan *trainPlan_;      ///< null without a training step
  const PlannedModel::Split *split_; ///< null unless the split step was asked for
  bool usesBf16_ = false;            ///< a kernel multiplies in bf16 (vdpbf16ps)
  GradientLayout gradientLayout_;
  llvm::IRBuilder<> b_;
};

} // namespace

std::unique_ptr<llvm::Module> emitModelModule(llvm::LLVMContext &ctx, llvm::TargetMachine &machine,
                                              const std::string &prefix, const PlannedModel &model,
                                              const std::string &gemmLibraryCpu) {
  auto module = std::make_unique<llvm::Module>(prefix, ctx);
  module->setTargetTriple(machine.getTargetTriple().str());
  module->setDataLayout(machine.createDataLayout());
  ModuleEmitter(*module, machine, prefix, model, gemmLibraryCpu).emit();
  keepProloguesInEntryBlocks(*module);
  return module;
}

} // namespace nnc
