/// The lowering context: what a family's lowering (codegen/lower/<Family>.cpp)
/// uses to turn one node into LLVM IR: its operands' buffers and shapes,
/// loops the vectorizer understands, math functions that stay vectorized,
/// and run-time failures that return a C ABI status.
#pragma once

#include "codegen/Layout.h"
#include "ir/Graph.h"
#include "passes/schedule/KernelSchedule.h"

#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/Module.h>
#include <llvm/TargetParser/Triple.h>

#include <functional>
#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace nnc {

class Lowering {
public:
  /// Values of the graph live where `locate` says; dims are read from the
  /// function's `dims` argument.
  Lowering(llvm::Module &module, llvm::Function *fn, const Graph &graph, llvm::Value *dims);

  llvm::LLVMContext &ctx;
  llvm::Module &module;
  llvm::Function *fn;
  const Graph &graph;
  llvm::IRBuilder<> b;
  llvm::Type *f32, *f64, *i32, *i64, *ptr;
  /// The CPU of the GEMM library kernels (codegen/GemmLibrary.h) this
  /// module may call instead of compiling its own GEMMs; empty: none.
  std::string gemmLibraryCpu;
  /// The CPU of the library's bf16 kernels this module may call; empty: none.
  std::string gemmLibraryBf16Cpu;
  /// The kernel schedule of `graph` (passes/schedule/KernelSchedule.h): which
  /// nodes are computed inside other nodes' kernels. Set by the module emitter
  /// for the graph functions (the ABI helper functions never ask).
  const KernelSchedule *schedule = nullptr;
  /// The node being lowered, as "op.result" ("conv2d_grad_filter.grad.w1"):
  /// the suffix of the functions its kernel outlines, so a profiler names
  /// the kernel (perf report shows "P_train_step.task.conv2d.h1").
  std::string kernelName;
  const KernelSchedule &guests() const;
  /// The guest of node `n` whose op is one of `ops`, or nullptr.
  const Node *guestNode(const Node &n, std::initializer_list<OpKind> ops) const;
  /// Its result, or kNoValue.
  ValueId guestOf(const Node &n, std::initializer_list<OpKind> ops) const;

  // ---- values --------------------------------------------------------------------
  /// Sets the buffer of a value (done by the module emitter).
  void setBuffer(ValueId v, llvm::Value *pointer) { buffers_[v] = pointer; }
  /// The buffer of a value (a pointer to its first element).
  llvm::Value *data(ValueId v) const;
  bool isImmediate(ValueId v) const { return graph.value(v).kind == ValueKind::Immediate; }
  /// An immediate as a constant of its dtype.
  llvm::Value *immediate(ValueId v);
  /// The extent of a dim as an i64.
  llvm::Value *dim(const Dim &d);
  /// Loads every symbolic dim at the builder's position: call it once the
  /// dims pointer is known to be non-null (a load in the entry block would
  /// let LLVM delete that null check). Without it, dim() loads at entry.
  void loadDims();
  std::vector<llvm::Value *> shape(ValueId v);
  llvm::Value *numel(ValueId v);
  const Type &type(ValueId v) const { return graph.type(v); }

  // ---- loops ---------------------------------------------------------------------
  /// for (i = 0; i < n; ++i) body(i). The innermost loops carry vectorize
  /// metadata.
  void forRange(llvm::Value *n, const std::function<void(llvm::Value *)> &body,
                bool vectorize = true);
  /// Nested loops over `extents`, outermost first.
  void forNest(const std::vector<llvm::Value *> &extents,
               const std::function<void(const std::vector<llvm::Value *> &)> &body);
  /// Loops that carry a value: acc = init; for i < n: acc = body(i, acc).
  llvm::Value *reduceRange(llvm::Value *n, llvm::Value *init,
                           const std::function<llvm::Value *(llvm::Value *, llvm::Value *)> &body);

  // ---- memory --------------------------------------------------------------------
  llvm::Value *at(llvm::Value *base, llvm::Value *index, llvm::Type *elem);
  llvm::Value *load(ValueId v, llvm::Value *index);
  void store(ValueId v, llvm::Value *index, llvm::Value *x);
  llvm::Value *loadF32(llvm::Value *base, llvm::Value *index);
  void storeF32(llvm::Value *base, llvm::Value *index, llvm::Value *x);
  /// Sets n floats at `base` to zero.
  void zero(llvm::Value *base, llvm::Value *n);
  llvm::Value *constI64(int64_t v) { return llvm::ConstantInt::get(i64, static_cast<uint64_t>(v)); }
  llvm::Value *constF32(double v) { return llvm::ConstantFP::get(f32, v); }

  // ---- math (f32 scalars, vectorized by LLVM; exp, erf and sigmoid take vectors too) --
  llvm::Value *intrinsic(llvm::Intrinsic::ID id, std::vector<llvm::Value *> args);
  llvm::Value *exp(llvm::Value *x);
  /// exp(x) for x <= 0 (a softmax's x - max), flushed to 0 below -87. From
  /// when exp was libmvec's, whose vector expf took a slow scalar path for
  /// every such lane (a causal mask's -1e9 made half of them so); the
  /// inline exp has none, but such a term is below 1.6e-38, nothing next
  /// to the row max's 1, and the flush keeps the outputs' bits.
  llvm::Value *expNonPositive(llvm::Value *x);
  llvm::Value *log(llvm::Value *x);
  llvm::Value *sqrt(llvm::Value *x);
  llvm::Value *tanh(llvm::Value *x);
  llvm::Value *erf(llvm::Value *x);
  llvm::Value *sigmoid(llvm::Value *x);
  /// A call of a pure libm function of floats (tanhf, erff, powf, ...).
  llvm::Value *mathCall(const char *name, std::vector<llvm::Value *> args);

  // ---- failures --------------------------------------------------------------------
  /// Returns `status` from the function when `failed` holds.
  void failIf(llvm::Value *failed, int status);

  /// Index helpers for broadcasting: the flat offset into a value of rank r
  /// (its shape right-aligned against `outIndex`; dims of extent 1 use 0).
  llvm::Value *broadcastOffset(ValueId v, const std::vector<llvm::Value *> &outIndex);

private:
  llvm::Value *dims_;
  std::vector<llvm::Value *> dimValues_;
  std::map<ValueId, llvm::Value *> buffers_;
};

/// f32 lanes of the widest vector the function's target runs natively: from
/// its "target-features" (the host), else from its "target-cpu" (x86); 4
/// when neither says more. The GEMM and conv kernels size their tiles by it.
unsigned vectorLanes(const llvm::Function &fn);
/// The same for a target given by its feature string (may be empty), CPU
/// and triple (a target machine's, or a GEMM library CPU's).
unsigned vectorLanes(llvm::StringRef features, llvm::StringRef cpu, const llvm::Triple &triple);

/// The f32 constant v, or a vector of it, of the type of `like`.
llvm::Value *constantLike(llvm::Value *like, double v);

/// Lowers one node; each family's lowering is in codegen/lower/<Family>.cpp.
void lowerNode(Lowering &l, const Node &node);
void lowerElementwise(Lowering &l, const Node &node);
void lowerMatMul(Lowering &l, const Node &node);
void lowerAttention(Lowering &l, const Node &node);     // codegen/lower/Attention.cpp
void lowerAttentionGrad(Lowering &l, const Node &node); // codegen/lower/Attention.cpp
void lowerShapeOp(Lowering &l, const Node &node);
void lowerReduce(Lowering &l, const Node &node);
void lowerNorm(Lowering &l, const Node &node);
void lowerBatchNorm(Lowering &l, const Node &node); // codegen/lower/BatchNorm.cpp
void lowerConv(Lowering &l, const Node &node);
void lowerLoss(Lowering &l, const Node &node);

/// A stack array of `n` elements (64-byte aligned), allocated once in the
/// entry block of the function being emitted: inside a parallel body, the
/// task's own, never shared.
llvm::Value *stackArray(Lowering &l, llvm::Type *elem, int64_t n);

/// body(t) for every t in [0, tasks), each t a task that may run on its own
/// thread (codegen/Parallel.cpp): through the module's runner when one is set
/// and `worthIt` (i1) holds at run time, else in order on this thread; the
/// decomposition must not depend on the thread count. The body runs in
/// another function: its scratch (entry-block allocas) is per task, and it
/// must not fail (no failIf). Nested inside a task, a plain loop.
void parallelFor(Lowering &l, llvm::Value *tasks, llvm::Value *worthIt,
                 const std::function<void(llvm::Value *)> &body);

/// Whether the function being lowered is a task (a parallel loop's body,
/// which may run on a runner's thread: its frame stays small).
bool insideParallelTask(const Lowering &l);

/// body(row) for each of `rows` independent rows of `rowElements` elements:
/// parallel tasks of a fixed number of rows once there are 2^15 elements
/// (each row one task's, so any thread count gives the same bits), else a
/// plain loop on this thread.
void parallelRows(Lowering &l, llvm::Value *rows, llvm::Value *rowElements,
                  const std::function<void(llvm::Value *)> &body);

/// A function of its own, `void NAME.SUFFIX(ptr context, args...)`, whose
/// body uses values of the function being lowered: `body` emits it (its
/// entry-block allocas are its own), and the values it uses from outside
/// arrive through a context struct, which is filled on the caller's stack
/// at the builder's position. A task (parallelFor's body) runs its own
/// parallel loops as plain loops.
struct Outlined {
  llvm::Function *fn;
  llvm::Value *context;
};
Outlined outline(Lowering &l, const std::string &suffix, const std::vector<llvm::Type *> &args,
                 const std::function<void(llvm::Function *)> &body, bool task = false);

/// One unary element-wise op (relu, sigmoid, ...) on an f32 scalar, as its
/// kernel computes it (codegen/lower/Elementwise.cpp); for fused epilogues.
llvm::Value *lowerUnaryScalar(Lowering &l, OpKind op, double alpha, llvm::Value *x);
/// One (forward value, dy) gradient op (relu_grad, ...) on f32 scalars.
llvm::Value *lowerUnaryGradScalar(Lowering &l, OpKind op, double alpha, llvm::Value *v,
                                  llvm::Value *dy);
/// The value of element-wise node `n` (one op, or a fused_elementwise
/// program) at one element, given its operands' values there.
llvm::Value *elementwiseValue(Lowering &l, const Node &n, const std::vector<llvm::Value *> &args);

} // namespace nnc
