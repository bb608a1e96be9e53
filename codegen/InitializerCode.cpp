/// P_init's code for IR.md's initializers. The arithmetic is the
/// description in runtime/Initializers.h, step by step in IEEE double (no
/// fast-math flags, so no FMA contraction), with libm's log and cos called
/// as plain functions (never vectorized: libmvec's variants round
/// differently) and llvm.sqrt (correctly rounded, as std::sqrt).
#include "codegen/InitializerCode.h"

#include "runtime/Initializers.h"

#include <cmath>

namespace nnc {

namespace {

using V = llvm::Value *;

constexpr double kTwoPi = 6.283185307179586;

/// Draw k of SplitMix64 from `seed` (runtime/Initializers.h, step 1).
V randomBits(Lowering &l, uint64_t seed, V k) {
  auto &b = l.b;
  auto c = [&](uint64_t v) { return llvm::ConstantInt::get(l.i64, v); };
  V z = b.CreateAdd(c(seed), b.CreateMul(b.CreateAdd(k, c(1)), c(0x9E3779B97F4A7C15ull)));
  z = b.CreateMul(b.CreateXor(z, b.CreateLShr(z, 30)), c(0xBF58476D1CE4E5B9ull));
  z = b.CreateMul(b.CreateXor(z, b.CreateLShr(z, 27)), c(0x94D049BB133111EBull));
  return b.CreateXor(z, b.CreateLShr(z, 31));
}

V f64(Lowering &l, double v) { return llvm::ConstantFP::get(l.f64, v); }

/// A libm function of one double, as a plain call: never a builtin the
/// vectorizer may swap for a vector variant.
V libmCall(Lowering &l, const char *name, V x) {
  auto *type = llvm::FunctionType::get(l.f64, {l.f64}, false);
  llvm::CallInst *call = l.b.CreateCall(l.module.getOrInsertFunction(name, type), {x});
  call->addFnAttr(llvm::Attribute::NoBuiltin);
  return call;
}

/// Step 2: the uniform float of one draw.
V uniformValue(Lowering &l, V bits, double lo, double hi) {
  auto &b = l.b;
  V u = b.CreateFMul(b.CreateUIToFP(b.CreateLShr(bits, 40), l.f64), f64(l, 0x1p-24));
  V v = b.CreateFAdd(f64(l, lo), b.CreateFMul(f64(l, hi - lo), u));
  V r = b.CreateFPTrunc(v, l.f32);
  if (!(hi > lo))
    return r;
  // The float just below r (toward -inf) when r rounded up to hi.
  auto *nextType = llvm::FunctionType::get(l.f32, {l.f32, l.f32}, false);
  llvm::CallInst *below = b.CreateCall(l.module.getOrInsertFunction("nextafterf", nextType),
                                       {r, l.constF32(-INFINITY)});
  below->addFnAttr(llvm::Attribute::NoBuiltin);
  return b.CreateSelect(b.CreateFCmpOGE(b.CreateFPExt(r, l.f64), f64(l, hi)), below, r);
}

/// Step 3: the normal float of draws 2i and 2i + 1.
V normalValue(Lowering &l, uint64_t seed, V i, double mean, double std) {
  auto &b = l.b;
  V k = b.CreateMul(i, l.constI64(2));
  V b1 = randomBits(l, seed, k), b2 = randomBits(l, seed, b.CreateAdd(k, l.constI64(1)));
  V u1 = b.CreateFMul(b.CreateUIToFP(b.CreateAdd(b.CreateLShr(b1, 11), l.constI64(1)), l.f64),
                      f64(l, 0x1p-53));
  V u2 = b.CreateFMul(b.CreateUIToFP(b.CreateLShr(b2, 11), l.f64), f64(l, 0x1p-53));
  V radius =
      l.intrinsic(llvm::Intrinsic::sqrt, {b.CreateFMul(f64(l, -2.0), libmCall(l, "log", u1))});
  V z = b.CreateFMul(radius, libmCall(l, "cos", b.CreateFMul(f64(l, kTwoPi), u2)));
  return b.CreateFPTrunc(b.CreateFAdd(f64(l, mean), b.CreateFMul(f64(l, std), z)), l.f32);
}

/// for i < n: dest[i] = value(i), in a loop the vectorizer leaves alone.
void fill(Lowering &l, V dest, int64_t n, llvm::Type *elem, const std::function<V(V)> &value) {
  l.forRange(l.constI64(n), [&](V i) { l.b.CreateStore(value(i), l.at(dest, i, elem)); }, false);
}

int64_t elementsOf(const Type &t) {
  int64_t n = 1;
  for (const Dim &d : t.shape)
    n *= d.size;
  return n;
}

} // namespace

bool initializedByCode(const Graph &g, ValueId id) {
  const Value &v = g.value(id);
  if (v.kind != ValueKind::Param && v.kind != ValueKind::State)
    return false;
  for (const char *name :
       {"", "zeros", "ones", "fill", "arange", "uniform", "normal", "glorot_uniform", "he_normal"})
    if (v.init.name == name)
      return v.type.dtype == DType::F32 || v.init.name == "" || v.init.name == "zeros" ||
             v.init.name == "ones" || v.init.name == "fill" || v.init.name == "arange";
  return false; // literals, and anything else, are data
}

void emitInitializerCode(Lowering &l, const Graph &g, ValueId id, V dest) {
  const Value &v = g.value(id);
  const Initializer &init = v.init;
  int64_t n = elementsOf(v.type);
  if (n == 0 || init.name.empty() || init.name == "zeros")
    return; // the state is zeroed first
  llvm::Type *elem = v.type.dtype == DType::I32 ? l.i32 : l.f32;
  auto constant = [&](double c) -> V {
    return v.type.dtype == DType::I32
               ? static_cast<V>(llvm::ConstantInt::get(l.i32, static_cast<int64_t>(c)))
               : l.constF32(c);
  };
  if (init.name == "ones" || init.name == "fill") {
    double c = init.name == "ones" ? 1.0 : initializerNumber(init, 0, 0.0);
    return fill(l, dest, n, elem, [&](V) { return constant(c); });
  }
  if (init.name == "arange") // i < 2^31 for i32; f32 rounds above 2^24, as the interpreter
    return fill(l, dest, n, elem, [&](V i) {
      return v.type.dtype == DType::I32 ? l.b.CreateTrunc(i, l.i32) : l.b.CreateSIToFP(i, l.f32);
    });
  std::vector<int64_t> shape;
  for (const Dim &d : v.type.shape)
    shape.push_back(d.size);
  Fans fans = fansOf(shape);
  if (init.name == "uniform" || init.name == "glorot_uniform") {
    double lo = initializerNumber(init, 0, 0.0), hi = initializerNumber(init, 1, 1.0);
    uint64_t seed = initializerSeed(init, 2);
    if (init.name == "glorot_uniform") {
      hi = std::sqrt(6.0 / static_cast<double>(fans.in + fans.out));
      lo = -hi;
      seed = initializerSeed(init, 0);
    }
    return fill(l, dest, n, l.f32,
                [&](V i) { return uniformValue(l, randomBits(l, seed, i), lo, hi); });
  }
  // normal or he_normal (initializedByCode() admits nothing else).
  double mean = initializerNumber(init, 0, 0.0), std = initializerNumber(init, 1, 1.0);
  uint64_t seed = initializerSeed(init, 2);
  if (init.name == "he_normal") {
    mean = 0;
    std = std::sqrt(2.0 / static_cast<double>(fans.in));
    seed = initializerSeed(init, 0);
  }
  fill(l, dest, n, l.f32, [&](V i) { return normalValue(l, seed, i, mean, std); });
}

} // namespace nnc
