/// Parallel loops in generated code. The body of a loop over [0, tasks) is
/// lowered into its own function, `void task(ptr ctx, i64 t)`; the values it
/// uses from the enclosing function (buffers, dims, extents) are captured in
/// a context struct that the caller fills on its stack. The caller then
/// hands (tasks, task, ctx) to the module's runner, or, without one (or when
/// the loop is too small to pay for waking threads), calls the task for
/// t = 0, 1, ... itself. Both ways run the same task code on the same
/// decomposition, so the result does not depend on the number of threads.
#include "codegen/Parallel.h"

#include "codegen/Lowering.h"

#include <llvm/ADT/SetVector.h>

namespace nnc {

namespace {

using V = llvm::Value *;

/// Marks task functions: a parallel loop inside a task runs as a plain loop.
constexpr const char *kTaskAttribute = "nnc-parallel-task";

/// The module's runner or pool: an internal pointer, null at load time.
llvm::GlobalVariable *pointerGlobal(llvm::Module &m, const char *name) {
  if (llvm::GlobalVariable *g = m.getNamedGlobal(name))
    return g;
  auto *ptr = llvm::PointerType::get(m.getContext(), 0);
  return new llvm::GlobalVariable(m, ptr, false, llvm::GlobalValue::InternalLinkage,
                                  llvm::ConstantPointerNull::get(ptr), name);
}
llvm::GlobalVariable *runnerGlobal(llvm::Module &m) {
  return pointerGlobal(m, "nnc.parallel.runner");
}
llvm::GlobalVariable *poolGlobal(llvm::Module &m) { return pointerGlobal(m, "nnc.parallel.pool"); }

/// An empty `void NAME(ptr ctx, args...)` with the target attributes of
/// `parent`; kept out of line (a task: the serial loop and the runner share it).
llvm::Function *createOutlined(llvm::Function *parent, const std::string &suffix,
                               const std::vector<llvm::Type *> &args) {
  llvm::LLVMContext &ctx = parent->getContext();
  std::vector<llvm::Type *> params{llvm::PointerType::get(ctx, 0)};
  params.insert(params.end(), args.begin(), args.end());
  auto *type = llvm::FunctionType::get(llvm::Type::getVoidTy(ctx), params, false);
  auto *fn = llvm::Function::Create(type, llvm::GlobalValue::InternalLinkage,
                                    parent->getName() + suffix, parent->getParent());
  fn->addFnAttrs(llvm::AttrBuilder(ctx, parent->getAttributes().getFnAttrs()));
  fn->addFnAttr(llvm::Attribute::NoInline);
  fn->addParamAttr(0, llvm::Attribute::NoAlias);
  fn->addParamAttr(0, llvm::Attribute::NoCapture);
  fn->addParamAttr(0, llvm::Attribute::ReadOnly);
  return fn;
}

/// The values of other functions (instructions, arguments) that `task` uses.
std::vector<V> capturesOf(llvm::Function *task) {
  llvm::SetVector<V> captures;
  for (llvm::BasicBlock &block : *task)
    for (llvm::Instruction &inst : block)
      for (V operand : inst.operands()) {
        auto *i = llvm::dyn_cast<llvm::Instruction>(operand);
        auto *a = llvm::dyn_cast<llvm::Argument>(operand);
        if ((i && i->getFunction() != task) || (a && a->getParent() != task))
          captures.insert(operand);
      }
  return {captures.begin(), captures.end()};
}

llvm::StructType *contextType(llvm::LLVMContext &ctx, const std::vector<V> &captures) {
  std::vector<llvm::Type *> fields;
  for (V v : captures)
    fields.push_back(v->getType());
  return llvm::StructType::get(ctx, fields);
}

/// Inside `task`, replaces each capture by its load from the context.
void unpackCaptures(llvm::Function *task, llvm::StructType *type, const std::vector<V> &captures) {
  llvm::BasicBlock &entry = task->getEntryBlock();
  llvm::IRBuilder<> b(&entry, entry.begin());
  for (unsigned k = 0; k < captures.size(); ++k) {
    V field = b.CreateStructGEP(type, task->getArg(0), k);
    V value = b.CreateLoad(captures[k]->getType(), field, captures[k]->getName() + ".in");
    captures[k]->replaceUsesWithIf(value, [task](llvm::Use &use) {
      auto *user = llvm::dyn_cast<llvm::Instruction>(use.getUser());
      return user && user->getFunction() == task;
    });
  }
}

/// The context struct of a call, on the caller's stack, filled at the
/// builder's position.
V packCaptures(Lowering &l, llvm::StructType *type, const std::vector<V> &captures) {
  llvm::BasicBlock &entry = l.fn->getEntryBlock();
  llvm::IRBuilder<> eb(&entry, entry.begin());
  llvm::AllocaInst *context = eb.CreateAlloca(type, nullptr, "task.ctx");
  for (unsigned k = 0; k < captures.size(); ++k)
    l.b.CreateStore(captures[k], l.b.CreateStructGEP(type, context, k));
  return context;
}

/// runner(pool, tasks, task, context) when there is a runner and the loop
/// is worth it; else task(context, t) for t = 0, 1, ..., tasks - 1.
void dispatch(Lowering &l, llvm::Function *task, V context, V tasks, V worthIt) {
  auto &b = l.b;
  V runner = b.CreateLoad(l.ptr, runnerGlobal(l.module), "runner");
  V parallel = b.CreateAnd(b.CreateAnd(b.CreateIsNotNull(runner), worthIt),
                           b.CreateICmpSGT(tasks, l.constI64(1)));
  llvm::BasicBlock *threads = llvm::BasicBlock::Create(l.ctx, "par.threads", l.fn);
  llvm::BasicBlock *serial = llvm::BasicBlock::Create(l.ctx, "par.serial", l.fn);
  llvm::BasicBlock *done = llvm::BasicBlock::Create(l.ctx, "par.done", l.fn);
  b.CreateCondBr(parallel, threads, serial);
  b.SetInsertPoint(threads);
  auto *runnerType = llvm::FunctionType::get(b.getVoidTy(), {l.ptr, l.i64, l.ptr, l.ptr}, false);
  b.CreateCall(runnerType, runner,
               {b.CreateLoad(l.ptr, poolGlobal(l.module), "pool"), tasks, task, context});
  b.CreateBr(done);
  b.SetInsertPoint(serial);
  auto callTask = [&](V t) { b.CreateCall(task, {context, t}); };
  l.forRange(tasks, callTask, false);
  b.CreateBr(done);
  b.SetInsertPoint(done);
}

} // namespace

Outlined outline(Lowering &l, const std::string &suffix, const std::vector<llvm::Type *> &args,
                 const std::function<void(llvm::Function *)> &body, bool task) {
  if (!l.graph.dims.empty())
    l.dim(Dim::sym(0)); // dims load in the caller, never lazily inside the function
  llvm::Function *parent = l.fn;
  llvm::Function *fn =
      createOutlined(parent, l.kernelName.empty() ? suffix : suffix + "." + l.kernelName, args);
  if (task)
    fn->addFnAttr(kTaskAttribute);
  llvm::IRBuilderBase::InsertPoint callSite = l.b.saveIP();
  l.fn = fn; // the body's blocks and entry-block allocas go to the function
  l.b.SetInsertPoint(llvm::BasicBlock::Create(l.ctx, "entry", fn));
  body(fn);
  l.b.CreateRetVoid();
  l.fn = parent;
  l.b.restoreIP(callSite);

  std::vector<V> captures = capturesOf(fn);
  llvm::StructType *type = contextType(l.ctx, captures);
  unpackCaptures(fn, type, captures);
  return {fn, packCaptures(l, type, captures)};
}

void parallelFor(Lowering &l, V tasks, V worthIt, const std::function<void(V)> &body) {
  if (l.fn->hasFnAttribute(kTaskAttribute)) { // nested: the enclosing loop is parallel
    l.forRange(tasks, body, false);
    return;
  }
  auto taskBody = [&](llvm::Function *task) { body(task->getArg(1)); };
  Outlined task = outline(l, ".task", {l.i64}, taskBody, true);
  dispatch(l, task.fn, task.context, tasks, worthIt);
}

bool insideParallelTask(const Lowering &l) { return l.fn->hasFnAttribute(kTaskAttribute); }

/// Rows per task of parallelRows.
constexpr int64_t kRowsPerTask = 16;

void parallelRows(Lowering &l, V rows, V rowElements, const std::function<void(V)> &body) {
  auto &b = l.b;
  V tasks = b.CreateUDiv(b.CreateAdd(rows, l.constI64(kRowsPerTask - 1)), l.constI64(kRowsPerTask));
  V worthIt = b.CreateICmpUGE(b.CreateMul(rows, rowElements), l.constI64(int64_t{1} << 15));
  parallelFor(l, tasks, worthIt, [&](V t) {
    V first = b.CreateMul(t, l.constI64(kRowsPerTask));
    V end = b.CreateBinaryIntrinsic(llvm::Intrinsic::umin, rows,
                                    b.CreateAdd(first, l.constI64(kRowsPerTask)));
    auto row = [&](V r) { body(b.CreateAdd(first, r)); };
    l.forRange(b.CreateSub(end, first), row, false);
  });
}

void emitSetParallelRunner(llvm::Function *setter) {
  llvm::Module &m = *setter->getParent();
  llvm::IRBuilder<> b(llvm::BasicBlock::Create(m.getContext(), "entry", setter));
  b.CreateStore(setter->getArg(1), poolGlobal(m));
  b.CreateStore(setter->getArg(0), runnerGlobal(m));
  b.CreateRetVoid();
}

} // namespace nnc
