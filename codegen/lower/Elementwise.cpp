/// Lowering of the element-wise ops (and their gradients): one loop over
/// the result, flat when no operand broadcasts, else a loop nest whose
/// innermost loop the vectorizer takes.
#include "codegen/Lowering.h"
#include "ir/NodeAttrs.h"
#include "ir/InternalError.h"
#include "ir/DropoutMask.h"
#include "ir/ElementwiseProgram.h"

#include <algorithm>
#include <cmath>

namespace nnc {

namespace {

using V = llvm::Value *;

/// Elements per parallel task of a flat loop, and the fewest elements for
/// which a loop goes to the thread pool (a wake-up costs some microseconds),
/// both for an element of a few cycles; an element that takes a costly op
/// (kCostly: a division, a square root, a transcendental function) weighs
/// kCostlyWeight times as much (Fashion's pixel standardization, 50K
/// elements of a subtraction and a division, took 21 us of the MLP's step
/// on the calling thread alone while the other thread waited).
constexpr int64_t kParallelChunk = 32768;
constexpr int64_t kParallelMinElements = 4 * kParallelChunk;
constexpr int64_t kCostlyWeight = 8;

V unary(Lowering &l, const Node &n, V x) {
  auto &b = l.b;
  V zero = l.constF32(0), one = l.constF32(1);
  switch (n.op) {
  case OpKind::Neg:
    return b.CreateFNeg(x);
  case OpKind::Abs:
    return l.intrinsic(llvm::Intrinsic::fabs, {x});
  case OpKind::Exp:
    return l.exp(x);
  case OpKind::Log:
    return l.log(x);
  case OpKind::Sqrt:
    return l.sqrt(x);
  case OpKind::Sigmoid:
    return l.sigmoid(x);
  case OpKind::Tanh:
    return l.tanh(x);
  case OpKind::Relu: // NaN stays NaN, as in PyTorch
    return b.CreateSelect(b.CreateFCmpOLE(x, zero), zero, x);
  case OpKind::LeakyRelu:
    return b.CreateSelect(b.CreateFCmpOGT(x, zero), x, b.CreateFMul(x, l.constF32(attr::alpha(n))));
  case OpKind::Gelu:
    return b.CreateFMul(b.CreateFMul(l.constF32(0.5), x),
                        b.CreateFAdd(one, l.erf(b.CreateFMul(x, l.constF32(M_SQRT1_2)))));
  case OpKind::Softplus:
    return b.CreateSelect(b.CreateFCmpOGT(x, l.constF32(20)), x,
                          l.log(b.CreateFAdd(one, l.exp(x))));
  case OpKind::Erf:
    return l.erf(x);
  case OpKind::Sin:
    return l.mathCall("sinf", {x});
  case OpKind::Cos:
    return l.mathCall("cosf", {x});
  case OpKind::Clip: // as torch.clamp; a NaN fails both tests and stays
    if (std::optional<double> lo = attr::clipMin(n))
      x = b.CreateSelect(b.CreateFCmpOLT(x, l.constF32(*lo)), l.constF32(*lo), x);
    if (std::optional<double> hi = attr::clipMax(n))
      x = b.CreateSelect(b.CreateFCmpOGT(x, l.constF32(*hi)), l.constF32(*hi), x);
    return x;
  case OpKind::Step:
    return b.CreateSelect(b.CreateFCmpOGE(x, zero), one, zero);
  case OpKind::Dropout: // inference mode
    return x;
  default:
    NNC_UNHANDLED_OP(n, "lowering");
  }
}

/// Gradient ops of the form (x or y, dy).
V unaryGrad(Lowering &l, const Node &n, V x, V dy) {
  auto &b = l.b;
  V zero = l.constF32(0), one = l.constF32(1);
  switch (n.op) {
  case OpKind::SigmoidGrad:
    return b.CreateFMul(dy, b.CreateFMul(x, b.CreateFSub(one, x)));
  case OpKind::TanhGrad:
    return b.CreateFMul(dy, b.CreateFSub(one, b.CreateFMul(x, x)));
  case OpKind::ReluGrad: // a NaN x passes dy, as PyTorch's threshold backward
    return b.CreateSelect(b.CreateFCmpOLE(x, zero), zero, dy);
  case OpKind::LeakyReluGrad:
    return b.CreateSelect(b.CreateFCmpOGT(x, zero), dy,
                          b.CreateFMul(dy, l.constF32(attr::alpha(n))));
  case OpKind::GeluGrad: {
    V cdf = b.CreateFMul(l.constF32(0.5),
                         b.CreateFAdd(one, l.erf(b.CreateFMul(x, l.constF32(M_SQRT1_2)))));
    V pdf = b.CreateFMul(l.constF32(0.3989422804014327),
                         l.exp(b.CreateFMul(l.constF32(-0.5), b.CreateFMul(x, x))));
    return b.CreateFMul(dy, b.CreateFAdd(cdf, b.CreateFMul(x, pdf)));
  }
  case OpKind::AbsGrad:
    return b.CreateSelect(b.CreateFCmpOGT(x, zero), dy,
                          b.CreateSelect(b.CreateFCmpOLT(x, zero), b.CreateFNeg(dy), zero));
  case OpKind::ClipGrad: { // dy where min <= x <= max (ordered: NaN gives 0)
    V inside = b.CreateFCmpORD(x, x);
    if (std::optional<double> lo = attr::clipMin(n))
      inside = b.CreateAnd(inside, b.CreateFCmpOGE(x, l.constF32(*lo)));
    if (std::optional<double> hi = attr::clipMax(n))
      inside = b.CreateAnd(inside, b.CreateFCmpOLE(x, l.constF32(*hi)));
    return b.CreateSelect(inside, dy, zero);
  }
  default:
    NNC_UNHANDLED_OP(n, "lowering");
  }
}

V binary(Lowering &l, const Node &n, V a, V c) {
  auto &b = l.b;
  bool integer = a->getType()->isIntegerTy();
  switch (n.op) {
  case OpKind::Add:
    return integer ? b.CreateAdd(a, c) : b.CreateFAdd(a, c);
  case OpKind::Sub:
    return integer ? b.CreateSub(a, c) : b.CreateFSub(a, c);
  case OpKind::Mul:
    return integer ? b.CreateMul(a, c) : b.CreateFMul(a, c);
  case OpKind::Div:
    return b.CreateFDiv(a, c);
  case OpKind::Maximum: // NaN-propagating, as torch.maximum
    return l.intrinsic(llvm::Intrinsic::maximum, {a, c});
  case OpKind::Minimum:
    return l.intrinsic(llvm::Intrinsic::minimum, {a, c});
  case OpKind::Eq:
    return b.CreateUIToFP(integer ? b.CreateICmpEQ(a, c) : b.CreateFCmpOEQ(a, c), l.f32);
  case OpKind::Pow:
    return l.mathCall("powf", {a, c});
  default:
    NNC_UNHANDLED_OP(n, "lowering");
  }
}

/// The gradient ops of (a, b, dy).
V ternaryGrad(Lowering &l, const Node &n, V a, V c, V dy) {
  auto &b = l.b;
  V zero = l.constF32(0);
  switch (n.op) {
  case OpKind::MaximumGrad: // dy where a wins, half on ties
  case OpKind::MinimumGrad: {
    V wins = n.op == OpKind::MaximumGrad ? b.CreateFCmpOGT(a, c) : b.CreateFCmpOLT(a, c);
    V tie = b.CreateFCmpOEQ(a, c);
    return b.CreateSelect(wins, dy, b.CreateSelect(tie, b.CreateFMul(dy, l.constF32(0.5)), zero));
  }
  case OpKind::PowBaseGrad: { // dy * b * a^(b-1), 0 where b == 0
    V d =
        b.CreateFMul(dy, b.CreateFMul(c, l.mathCall("powf", {a, b.CreateFSub(c, l.constF32(1))})));
    return b.CreateSelect(b.CreateFCmpOEQ(c, zero), zero, d);
  }
  case OpKind::PowExponentGrad: { // dy * a^b * log(a), 0 where a == 0 <= b
    V d = b.CreateFMul(dy, b.CreateFMul(l.mathCall("powf", {a, c}), l.log(a)));
    V masked = b.CreateAnd(b.CreateFCmpOEQ(a, zero), b.CreateFCmpOGE(c, zero));
    return b.CreateSelect(masked, zero, d);
  }
  default:
    NNC_UNHANDLED_OP(n, "lowering");
  }
}

/// where(cond, a, b): cond is non-zero (an f32 NaN is non-zero).
V where(Lowering &l, V cond, V a, V c) {
  auto &b = l.b;
  V holds = cond->getType()->isIntegerTy() ? b.CreateICmpNE(cond, b.getInt32(0))
                                           : b.CreateFCmpUNE(cond, l.constF32(0));
  return b.CreateSelect(holds, a, c);
}

V apply(Lowering &l, const Node &n, const std::vector<V> &args) {
  const OpInfo &info = n.info();
  if (n.op == OpKind::Where)
    return where(l, args[0], args[1], args[2]);
  if (info.has(kGradientOp) && args.size() == 3)
    return ternaryGrad(l, n, args[0], args[1], args[2]);
  if (info.has(kGradientOp))
    return unaryGrad(l, n, args[0], args[1]);
  if (info.has(kUnary))
    return unary(l, n, args[0]);
  return binary(l, n, args[0], args[1]);
}

/// fused_elementwise: the program's instructions on the loaded inputs, as
/// the unfused ops would compute them, in one loop body.
V applyProgram(Lowering &l, const ElementwiseProgram &program, std::vector<V> values) {
  for (const ElementwiseInstruction &inst : program) {
    Node proto;
    proto.op = inst.op;
    proto.attrs = inst.attrs;
    std::vector<V> args;
    for (int k : inst.operands)
      args.push_back(values[static_cast<size_t>(k)]);
    values.push_back(apply(l, proto, args));
  }
  return values.back();
}

/// The program of a fused_elementwise node (nullopt for another op).
std::optional<ElementwiseProgram> programOf(const Node &n) {
  if (n.op != OpKind::FusedElementwise)
    return std::nullopt;
  std::string why;
  std::optional<ElementwiseProgram> program =
      decodeProgram(attr::program(n), n.operands.size(), why);
  NNC_CHECK(program, "the verifier checks programs");
  return program;
}

/// How many plain elements one element of `n` weighs (kParallelChunk):
/// 1, and kCostlyWeight more for each costly op it computes.
int64_t elementWeight(const Node &n, const std::optional<ElementwiseProgram> &program) {
  int64_t weight = 1;
  if (!program)
    return opInfo(n.op).has(kCostly) ? weight + kCostlyWeight : weight;
  for (const ElementwiseInstruction &inst : *program)
    if (opInfo(inst.op).has(kCostly))
      weight += kCostlyWeight;
  return weight;
}

/// The fewest elements of weight `weight` worth the thread pool.
int64_t parallelMinElements(int64_t weight) { return kParallelMinElements / weight; }

/// Elements per task for elements of weight `weight`: whole cache lines
/// (chunks never share one), at least kMinChunk.
constexpr int64_t kMinChunk = 1024;
int64_t chunkElements(int64_t weight) {
  return std::max(kParallelChunk / weight / 16 * 16, kMinChunk);
}

/// body(begin, end) for chunks [begin, end) of [0, count) of a fixed size
/// (never a function of the thread count; elements of `weight` each), on
/// threads when there are enough of them to pay for waking the pool.
void forChunks(Lowering &l, V count, const std::function<void(V, V)> &body, int64_t weight = 1) {
  auto &b = l.b;
  const int64_t perChunk = chunkElements(weight);
  V chunk = l.constI64(perChunk);
  V tasks = b.CreateUDiv(b.CreateAdd(count, l.constI64(perChunk - 1)), chunk);
  V worthIt = b.CreateICmpUGE(count, l.constI64(parallelMinElements(weight)));
  parallelFor(l, tasks, worthIt, [&](V t) {
    V begin = b.CreateMul(t, chunk);
    V end = b.CreateAdd(begin, chunk);
    body(begin, b.CreateSelect(b.CreateICmpULT(end, count), end, count));
  });
}

/// mixBits of ir/DropoutMask.h on i32 values.
V mixBits(Lowering &l, V x) {
  auto &b = l.b;
  x = b.CreateXor(x, b.CreateLShr(x, 16));
  x = b.CreateMul(x, b.getInt32(0x7feb352dU));
  x = b.CreateXor(x, b.CreateLShr(x, 15));
  x = b.CreateMul(x, b.getInt32(0x846ca68bU));
  return b.CreateXor(x, b.CreateLShr(x, 16));
}

/// dropout_train (x, step): x / (1 - p) where ir/DropoutMask.h keeps the
/// element, else 0; the same bits as the interpreter's.
void lowerDropoutTrain(Lowering &l, const Node &n) {
  auto &b = l.b;
  ValueId x = n.operands[0];
  float p = static_cast<float>(attr::dropP(n));
  uint32_t seedBits = dropoutSeedBits(attr::seed(n));
  V scale = l.constF32(p < 1 ? 1.0f / (1.0f - p) : 0.0f);
  forChunks(l, l.numel(x), [&](V begin, V end) {
    V step = l.load(n.operands[1], l.constI64(0));
    V key = mixBits(l, b.CreateAdd(b.getInt32(seedBits * 0x9e3779b9U), mixBits(l, step)));
    l.forRange(b.CreateSub(end, begin), [&](V j) {
      V i = b.CreateAdd(begin, j);
      V low = b.CreateTrunc(i, l.i32), high = b.CreateTrunc(b.CreateLShr(i, 32), l.i32);
      V index = b.CreateXor(low, mixBits(l, high));
      V bits = mixBits(l, b.CreateAdd(mixBits(l, b.CreateXor(index, key)), key));
      V u = b.CreateFMul(b.CreateUIToFP(b.CreateLShr(bits, 8), l.f32), l.constF32(0x1p-24));
      V kept = b.CreateFCmpOGE(u, l.constF32(p));
      l.store(n.result, i, b.CreateSelect(kept, b.CreateFMul(l.load(x, i), scale), l.constF32(0)));
    });
  });
}

} // namespace

V elementwiseValue(Lowering &l, const Node &n, const std::vector<V> &args) {
  std::optional<ElementwiseProgram> program = programOf(n);
  return program ? applyProgram(l, *program, args) : apply(l, n, args);
}

void lowerElementwise(Lowering &l, const Node &n) {
  if (n.op == OpKind::DropoutTrain)
    return lowerDropoutTrain(l, n);
  std::optional<ElementwiseProgram> program = programOf(n);
  auto compute = [&](const std::vector<V> &args) {
    return program ? applyProgram(l, *program, args) : apply(l, n, args);
  };
  ValueId out = n.result;
  const Shape &outShape = l.type(out).shape;
  // Flat: every operand is read at the result's index, or is a scalar
  // (an immediate, or a rank-0 tensor such as the learning rate).
  bool flat = true;
  for (ValueId v : n.operands)
    flat = flat && (l.graph.isScalar(v) || l.type(v).shape == outShape);
  // Scalars are loaded before the loop: the store to the result could
  // alias them as far as LLVM knows, which would keep the loop scalar.
  auto loadScalars = [&] {
    std::vector<V> scalars;
    for (ValueId v : n.operands)
      scalars.push_back(l.graph.isScalar(v) ? l.load(v, l.constI64(0)) : nullptr);
    return scalars;
  };
  auto body = [&](const std::vector<V> &scalars, V i) {
    std::vector<V> args;
    for (size_t k = 0; k < n.operands.size(); ++k)
      args.push_back(scalars[k] ? scalars[k] : l.load(n.operands[k], i));
    l.store(out, i, compute(args));
  };
  const Type &type = l.type(out);
  const int64_t weight = elementWeight(n, program);
  if (flat && type.isStatic() && type.staticElements() < parallelMinElements(weight)) {
    std::vector<V> scalars = loadScalars(); // small for sure: no task function to compile
    l.forRange(l.numel(out), [&](V i) { body(scalars, i); });
    return;
  }
  if (flat) {
    auto chunk = [&](V begin, V end) {
      std::vector<V> scalars = loadScalars();
      l.forRange(l.b.CreateSub(end, begin), [&](V j) { body(scalars, l.b.CreateAdd(begin, j)); });
    };
    forChunks(l, l.numel(out), chunk, weight);
    return;
  }
  std::vector<V> extents = l.shape(out);
  l.forNest(extents, [&](const std::vector<V> &index) {
    std::vector<V> args;
    for (ValueId v : n.operands)
      args.push_back(l.isImmediate(v) ? l.immediate(v) : l.load(v, l.broadcastOffset(v, index)));
    l.store(out, l.broadcastOffset(out, index), compute(args));
  });
}

} // namespace nnc

namespace nnc {

namespace {

/// A node of `op` with leaky_relu's `alpha` as its only attribute (the
/// attribute layout of every unary op and gradient op that has one).
Node scalarNode(OpKind op, double alpha) {
  Node n;
  n.op = op;
  if (!opInfo(op).attrs.empty())
    n.attrs = {AttrValue::num(alpha)};
  return n;
}

} // namespace

V lowerUnaryScalar(Lowering &l, OpKind op, double alpha, V x) {
  return unary(l, scalarNode(op, alpha), x);
}

V lowerUnaryGradScalar(Lowering &l, OpKind op, double alpha, V v, V dy) {
  return unaryGrad(l, scalarNode(op, alpha), v, dy);
}

} // namespace nnc
