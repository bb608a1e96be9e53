/// Activations in generated code (codegen/lower/ActivationCode.h).
#include "codegen/lower/ActivationCode.h"

namespace nnc {

using V = llvm::Value *;

/// f(lanes of x (and of z)) lane by lane, for a vector x; f(x, z) for a scalar.
V perLane(Lowering &l, V x, V z, const std::function<V(V, V)> &f) {
  auto *vt = llvm::dyn_cast<llvm::FixedVectorType>(x->getType());
  if (!vt)
    return f(x, z);
  V out = llvm::PoisonValue::get(vt);
  for (unsigned i = 0; i < vt->getNumElements(); ++i) {
    V xi = l.b.CreateExtractElement(x, l.b.getInt32(i));
    V zi = z ? l.b.CreateExtractElement(z, l.b.getInt32(i)) : nullptr;
    out = l.b.CreateInsertElement(out, f(xi, zi), l.b.getInt32(i));
  }
  return out;
}

/// The activation on a scalar or a vector, as its element-wise kernel
/// computes it: relu and leaky_relu as vector selects, sigmoid on the
/// vector (its exp is inline code), the others lane by lane.
V applyActivation(Lowering &l, const Activation &act, double alpha, V x) {
  auto &b = l.b;
  if (act.none)
    return x;
  V zero = constantLike(x, 0);
  if (act.forward == OpKind::Relu)
    return b.CreateSelect(b.CreateFCmpOLE(x, zero), zero, x);
  if (act.forward == OpKind::LeakyRelu)
    return b.CreateSelect(b.CreateFCmpOGT(x, zero), x, b.CreateFMul(x, constantLike(x, alpha)));
  if (act.forward == OpKind::Sigmoid)
    return l.sigmoid(x);
  return perLane(l, x, nullptr,
                 [&](V xi, V) { return lowerUnaryScalar(l, act.forward, alpha, xi); });
}

} // namespace nnc
