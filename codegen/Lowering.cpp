/// The lowering context: buffers, dims, loops, math, failures.
#include "codegen/Lowering.h"
#include "codegen/Loop.h"

#include "ir/InternalError.h"

#include <llvm/ADT/STLExtras.h>
#include <llvm/TargetParser/Triple.h>
#include <llvm/TargetParser/X86TargetParser.h>

#include <algorithm>

#include <llvm/IR/Intrinsics.h>
#include <llvm/IR/MDBuilder.h>

namespace nnc {

Lowering::Lowering(llvm::Module &module, llvm::Function *fn, const Graph &graph, llvm::Value *dims)
    : ctx(module.getContext()), module(module), fn(fn), graph(graph), b(module.getContext()),
      dims_(dims) {
  f32 = b.getFloatTy();
  f64 = b.getDoubleTy();
  i32 = b.getInt32Ty();
  i64 = b.getInt64Ty();
  ptr = b.getPtrTy();
}

llvm::Value *Lowering::data(ValueId v) const {
  auto it = buffers_.find(v);
  NNC_CHECK(it != buffers_.end(), "value has no buffer");
  return it->second;
}

llvm::Value *Lowering::immediate(ValueId v) {
  double x = graph.value(v).immediate();
  if (graph.type(v).dtype == DType::I32)
    return llvm::ConstantInt::get(i32, static_cast<uint64_t>(static_cast<int64_t>(x)));
  return llvm::ConstantFP::get(f32, x);
}

void Lowering::loadDims() {
  NNC_CHECK(dimValues_.empty(), "dims already loaded");
  for (size_t i = 0; i < graph.dims.size(); ++i)
    dimValues_.push_back(
        b.CreateLoad(i64, b.CreateConstGEP1_64(i64, dims_, i), "dim." + graph.dims[i].name));
}

llvm::Value *Lowering::dim(const Dim &d) {
  if (d.isStatic())
    return constI64(d.size);
  if (dimValues_.empty()) {
    // Loaded once, in the entry block, so every loop can use them.
    llvm::IRBuilder<> entry(&fn->getEntryBlock(), fn->getEntryBlock().begin());
    for (size_t i = 0; i < graph.dims.size(); ++i)
      dimValues_.push_back(entry.CreateLoad(i64, entry.CreateConstGEP1_64(i64, dims_, i),
                                            "dim." + graph.dims[i].name));
  }
  return dimValues_[static_cast<size_t>(d.symbol)];
}

std::vector<llvm::Value *> Lowering::shape(ValueId v) {
  std::vector<llvm::Value *> out;
  for (const Dim &d : graph.type(v).shape)
    out.push_back(dim(d));
  return out;
}

llvm::Value *Lowering::numel(ValueId v) {
  llvm::Value *n = constI64(1);
  for (const Dim &d : graph.type(v).shape)
    n = b.CreateMul(n, dim(d));
  return n;
}

void Lowering::forRange(llvm::Value *n, const std::function<void(llvm::Value *)> &body,
                        bool vectorize) {
  buildLoop(*this, constI64(0), n, body, vectorize ? LoopHints::vectorized() : LoopHints{});
}

void Lowering::forNest(const std::vector<llvm::Value *> &extents,
                       const std::function<void(const std::vector<llvm::Value *> &)> &body) {
  std::vector<llvm::Value *> index;
  std::function<void(size_t)> level = [&](size_t k) {
    if (k == extents.size()) {
      body(index);
      return;
    }
    forRange(
        extents[k],
        [&](llvm::Value *i) {
          index.push_back(i);
          level(k + 1);
          index.pop_back();
        },
        k + 1 == extents.size());
  };
  level(0);
}

llvm::Value *
Lowering::reduceRange(llvm::Value *n, llvm::Value *init,
                      const std::function<llvm::Value *(llvm::Value *, llvm::Value *)> &body) {
  return buildLoop(*this, constI64(0), n, constI64(1), {init},
                   [&](llvm::Value *i, const std::vector<llvm::Value *> &acc) {
                     return std::vector<llvm::Value *>{body(i, acc[0])};
                   })[0];
}

llvm::Value *Lowering::at(llvm::Value *base, llvm::Value *index, llvm::Type *elem) {
  return b.CreateInBoundsGEP(elem, base, index);
}

llvm::Value *Lowering::load(ValueId v, llvm::Value *index) {
  if (isImmediate(v))
    return immediate(v);
  llvm::Type *elem = graph.type(v).dtype == DType::I32 ? i32 : f32;
  return b.CreateLoad(elem, at(data(v), index, elem));
}

void Lowering::store(ValueId v, llvm::Value *index, llvm::Value *x) {
  llvm::Type *elem = graph.type(v).dtype == DType::I32 ? i32 : f32;
  b.CreateStore(x, at(data(v), index, elem));
}

llvm::Value *Lowering::loadF32(llvm::Value *base, llvm::Value *index) {
  return b.CreateLoad(f32, at(base, index, f32));
}

void Lowering::storeF32(llvm::Value *base, llvm::Value *index, llvm::Value *x) {
  b.CreateStore(x, at(base, index, f32));
}

llvm::Value *stackArray(Lowering &l, llvm::Type *elem, int64_t n) {
  llvm::BasicBlock &entry = l.fn->getEntryBlock();
  llvm::IRBuilder<> b(&entry, entry.begin());
  llvm::AllocaInst *a = b.CreateAlloca(elem, b.getInt64(static_cast<uint64_t>(n)));
  a->setAlignment(llvm::Align(64));
  return a;
}

void Lowering::zero(llvm::Value *base, llvm::Value *n) {
  b.CreateMemSet(base, b.getInt8(0), b.CreateMul(n, constI64(4)), llvm::MaybeAlign(4));
}

llvm::Value *Lowering::intrinsic(llvm::Intrinsic::ID id, std::vector<llvm::Value *> args) {
  llvm::Function *f = llvm::Intrinsic::getDeclaration(&module, id, {args[0]->getType()});
  return b.CreateCall(f, args);
}

/// exp of f32 inline (other types: LLVM's exp): x = n ln2 + r with n =
/// round(x / ln2) and |r| <= ln2 / 2 (ln2 in two parts, so r is exact), e^r
/// by Cephes' expf polynomial (relative error below 2e-7 on that range),
/// times 2^n as two powers of two built in the exponent bits (2^n alone
/// would leave the normal range for results in [2^-149, 2^-126], which
/// stay subnormal here, as in expf). x is clamped to [-104, 89] first: e^x is
/// 0 below and inf above in f32; a NaN is put back. A call of libmvec's
/// expf kept a softmax's f64 sum in memory around every call (the vector
/// registers are the callee's), half of the attention softmax's time.
llvm::Value *constantLike(llvm::Value *like, double v) {
  return llvm::ConstantFP::get(like->getType(), v);
}

llvm::Value *Lowering::exp(llvm::Value *x) {
  llvm::Type *type = x->getType();
  if (type->getScalarType() != f32)
    return intrinsic(llvm::Intrinsic::exp, {x});
  auto c = [&](double v) { return constantLike(x, v); };
  llvm::Type *ints = b.getInt32Ty();
  if (auto *vector = llvm::dyn_cast<llvm::VectorType>(type))
    ints = llvm::VectorType::get(ints, vector->getElementCount());
  // Fused where the target has FMA (a libm call for llvm.fma elsewhere).
  auto fma = [&](llvm::Value *m, llvm::Value *a, llvm::Value *add) {
    return intrinsic(llvm::Intrinsic::fmuladd, {m, a, add});
  };
  llvm::Value *clamped = intrinsic(llvm::Intrinsic::maxnum,
                                   {intrinsic(llvm::Intrinsic::minnum, {x, c(89.0)}), c(-104.0)});
  // round(x / ln2) to nearest even by adding and subtracting 1.5 2^23 (|x
  // / ln2| <= 151): llvm.roundeven is a libm call per lane without SSE4.1.
  llvm::Value *magic = c(12582912.0);
  llvm::Value *n = b.CreateFSub(b.CreateFAdd(b.CreateFMul(clamped, c(M_LOG2E)), magic), magic);
  llvm::Value *r = fma(n, c(-0.693359375), clamped); // ln2's high part: 9 significant bits
  r = fma(n, c(2.12194440e-4), r);                   // and the rest
  static const double poly[] = {1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3,
                                4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1};
  llvm::Value *p = c(poly[0]);
  for (size_t k = 1; k < std::size(poly); ++k)
    p = fma(p, r, c(poly[k]));
  p = fma(p, b.CreateFMul(r, r), b.CreateFAdd(r, c(1.0)));
  // 2^n = 2^h 2^(n - h), h = n / 2: each power a normal float.
  llvm::Value *ni = b.CreateFPToSI(n, ints);
  llvm::Value *half = b.CreateAShr(ni, llvm::ConstantInt::get(ints, 1));
  auto powerOfTwo = [&](llvm::Value *k) {
    llvm::Value *bits = b.CreateShl(b.CreateAdd(k, llvm::ConstantInt::get(ints, 127)),
                                    llvm::ConstantInt::get(ints, 23));
    return b.CreateBitCast(bits, type);
  };
  llvm::Value *e =
      b.CreateFMul(b.CreateFMul(p, powerOfTwo(half)), powerOfTwo(b.CreateSub(ni, half)));
  return b.CreateSelect(b.CreateFCmpUNO(x, x), x, e);
}

llvm::Value *Lowering::expNonPositive(llvm::Value *x) {
  llvm::Value *floor = constF32(-87.0), *below = b.CreateFCmpOLT(x, floor);
  llvm::Value *e = exp(b.CreateSelect(below, floor, x));
  return b.CreateSelect(below, constF32(0), e);
}
llvm::Value *Lowering::log(llvm::Value *x) { return intrinsic(llvm::Intrinsic::log, {x}); }
llvm::Value *Lowering::sqrt(llvm::Value *x) { return intrinsic(llvm::Intrinsic::sqrt, {x}); }

/// sigmoid with e = exp(-|x|): 1 / (1 + e) for x >= 0, e / (1 + e) below,
/// so large negative x keeps its tiny (subnormal) value instead of 0. On a
/// scalar or a vector of f32 (a GEMM epilogue's tile).
llvm::Value *Lowering::sigmoid(llvm::Value *x) {
  llvm::Value *one = constantLike(x, 1.0);
  llvm::Value *e = exp(b.CreateFNeg(intrinsic(llvm::Intrinsic::fabs, {x})));
  llvm::Value *denominator = b.CreateFAdd(one, e);
  llvm::Value *positive = b.CreateFCmpOGE(x, constantLike(x, 0.0));
  return b.CreateFDiv(b.CreateSelect(positive, one, e), denominator);
}

llvm::Value *Lowering::mathCall(const char *name, std::vector<llvm::Value *> args) {
  std::vector<llvm::Type *> params(args.size(), f32);
  llvm::FunctionCallee f =
      module.getOrInsertFunction(name, llvm::FunctionType::get(f32, params, false));
  auto *decl = llvm::cast<llvm::Function>(f.getCallee());
  // A pure function: the vectorizer may replace it with libmvec's vector form.
  decl->setDoesNotAccessMemory();
  decl->setDoesNotThrow();
  decl->addFnAttr(llvm::Attribute::WillReturn);
  auto *call = b.CreateCall(f, args);
  call->setDoesNotAccessMemory();
  return call;
}

/// glibc's tanhf (libmvec vectorizes it for AVX2 and AVX-512).
llvm::Value *Lowering::tanh(llvm::Value *x) { return mathCall("tanhf", {x}); }

/// erf as a rational function, x P(x^2) / Q(x^2) on x clamped to [-4, 4]
/// (beyond, erf is +-1 in f32), the result clamped to [-1, 1] (NaN stays NaN): the
/// approximation (and coefficients) of Eigen's generic_fast_erf_float. Its
/// largest error in f32 is 4.5e-7 (checked against erf in double over
/// [-6, 6]), well inside IR.md's 1e-5, and it is a dozen multiply-adds and
/// a division that vectorize inline, against ~90 cycles a vector for
/// libmvec's erff: GELU's forward and backward (the Transformer's MLPs)
/// spent 8% of a training step in erff.
llvm::Value *Lowering::erf(llvm::Value *x) {
  static const double numerator[] = {
      -2.72614225801306e-10, 2.77068142495902e-08,  -2.10102402082508e-06, -5.69250639462346e-05,
      -7.34990630326855e-04, -2.95459980854025e-03, -1.60960333262415e-02};
  static const double denominator[] = {-1.45660718464996e-05, -2.13374055278905e-04,
                                       -1.68282697438203e-03, -7.37332916720468e-03,
                                       -1.42647390514189e-02};
  auto clampTo = [&](llvm::Value *v, double bound) {
    return intrinsic(llvm::Intrinsic::maxnum,
                     {intrinsic(llvm::Intrinsic::minnum, {v, constF32(bound)}), constF32(-bound)});
  };
  auto horner = [&](llvm::Value *t, const double *c, size_t n) {
    llvm::Value *acc = constF32(c[0]);
    for (size_t k = 1; k < n; ++k)
      acc = b.CreateFAdd(b.CreateFMul(acc, t), constF32(c[k]));
    return acc;
  };
  llvm::Value *xc = clampTo(x, 4.0), *t = b.CreateFMul(xc, xc);
  llvm::Value *p = b.CreateFMul(xc, horner(t, numerator, std::size(numerator)));
  llvm::Value *q = horner(t, denominator, std::size(denominator));
  // minnum and maxnum drop a NaN: it is put back (erf(NaN) is NaN).
  return b.CreateSelect(b.CreateFCmpUNO(x, x), x, clampTo(b.CreateFDiv(p, q), 1.0));
}

void Lowering::failIf(llvm::Value *failed, int status) {
  llvm::BasicBlock *fail = llvm::BasicBlock::Create(ctx, "fail", fn);
  llvm::BasicBlock *cont = llvm::BasicBlock::Create(ctx, "ok", fn);
  b.CreateCondBr(failed, fail, cont, llvm::MDBuilder(ctx).createBranchWeights(1, 1000));
  b.SetInsertPoint(fail);
  b.CreateRet(b.getInt32(static_cast<uint32_t>(status)));
  b.SetInsertPoint(cont);
}

llvm::Value *Lowering::broadcastOffset(ValueId v, const std::vector<llvm::Value *> &outIndex) {
  const Shape &s = graph.type(v).shape;
  size_t lead = outIndex.size() - s.size();
  llvm::Value *offset = constI64(0);
  for (size_t k = 0; k < s.size(); ++k) {
    offset = b.CreateMul(offset, dim(s[k]));
    if (!s[k].isOne())
      offset = b.CreateAdd(offset, outIndex[lead + k]);
  }
  return offset;
}

unsigned vectorLanes(const llvm::Function &fn) {
  return vectorLanes(fn.getFnAttribute("target-features").getValueAsString(),
                     fn.getFnAttribute("target-cpu").getValueAsString(),
                     llvm::Triple(fn.getParent()->getTargetTriple()));
}

unsigned vectorLanes(llvm::StringRef features, llvm::StringRef cpu, const llvm::Triple &triple) {
  auto has = [](llvm::StringRef list, llvm::StringRef feature) {
    llvm::SmallVector<llvm::StringRef, 64> items;
    list.split(items, ',');
    return llvm::is_contained(items, feature);
  };
  if (!features.empty()) {
    if (has(features, "+avx512f"))
      return 16;
    return has(features, "+avx2") || has(features, "+avx") ? 8 : 4;
  }
  if (cpu.empty() || !triple.isX86())
    return 4;
  llvm::SmallVector<llvm::StringRef, 64> cpuFeatures;
  llvm::X86::getFeaturesForCPU(cpu, cpuFeatures);
  bool avx512 = llvm::is_contained(cpuFeatures, "avx512f");
  bool avx = llvm::is_contained(cpuFeatures, "avx") || llvm::is_contained(cpuFeatures, "avx2");
  return avx512 ? 16 : avx ? 8 : 4;
}

const KernelSchedule &Lowering::guests() const {
  NNC_CHECK(schedule != nullptr, "lowering graph '{}' without its kernel schedule", graph.name);
  return *schedule;
}

const Node *Lowering::guestNode(const Node &n, std::initializer_list<OpKind> ops) const {
  for (NodeId guest : guests().guestsOf[static_cast<size_t>(&n - graph.nodes.data())])
    if (std::find(ops.begin(), ops.end(), graph.node(guest).op) != ops.end())
      return &graph.node(guest);
  return nullptr;
}

ValueId Lowering::guestOf(const Node &n, std::initializer_list<OpKind> ops) const {
  const Node *guest = guestNode(n, ops);
  return guest ? guest->result : kNoValue;
}

void lowerNode(Lowering &l, const Node &node) {
  if (l.guests().isGuest(static_cast<NodeId>(&node - l.graph.nodes.data())))
    return; // its host's kernel computes it
  const std::string &result = l.graph.value(node.result).name;
  l.kernelName = std::string(node.info().name) + "." +
                 (result.empty() ? "t" + std::to_string(node.result) : result);
  switch (node.info().family) {
  case OpFamily::Elementwise:
    return lowerElementwise(l, node);
  case OpFamily::MatMul:
    return lowerMatMul(l, node);
  case OpFamily::Shape:
    return lowerShapeOp(l, node);
  case OpFamily::Reduce:
    return lowerReduce(l, node);
  case OpFamily::Norm:
    return lowerNorm(l, node);
  case OpFamily::Conv:
    return lowerConv(l, node);
  case OpFamily::Loss:
    return lowerLoss(l, node);
  }
  NNC_UNHANDLED_OP(node, "lowering");
}

} // namespace nnc
