/// Lowering of the losses (sse, mse, bce, softmax_cross_entropy) and their
/// gradient ops. A loss is one reduction, summed in f64 by reassociable
/// adds (so the vectorizer takes it). softmax_cross_entropy checks every
/// label before it reads any logit, and returns kAbiBadLabel from the
/// generated function for a label outside [0, K).
#include "codegen/Lowering.h"
#include "ir/InternalError.h"

#include <limits>

namespace nnc {

namespace {

using V = llvm::Value *;

/// PyTorch's BCELoss clamps each log term at -100.
constexpr double kLogClamp = -100.0;
/// PyTorch's BCELoss backward divides by max(p (1 - p), this).
constexpr double kBceGradEps = 1e-12;

V sumF64(Lowering &l, V n, const std::function<V(V)> &body) {
  return l.reduceRange(n, llvm::ConstantFP::get(l.f64, 0.0), [&](V k, V acc) {
    V x = body(k);
    if (x->getType() != l.f64)
      x = l.b.CreateFPExt(x, l.f64);
    V sum = l.b.CreateFAdd(acc, x);
    llvm::cast<llvm::Instruction>(sum)->setHasAllowReassoc(true);
    return sum;
  });
}

V maxF32(Lowering &l, V n, const std::function<V(V)> &body) {
  return l.reduceRange(n, l.constF32(-std::numeric_limits<double>::infinity()), [&](V k, V acc) {
    return l.intrinsic(llvm::Intrinsic::maximum, {acc, body(k)});
  });
}

/// max(a, floor) as std::max(a, floor): a NaN `a` stays.
V clampBelow(Lowering &l, V a, V floor) {
  return l.b.CreateSelect(l.b.CreateFCmpOLT(a, floor), floor, a);
}

/// sse, mse, bce: one f64 sum over the elements.
void lowerElementwiseLoss(Lowering &l, const Node &n) {
  auto &b = l.b;
  ValueId pred = n.operands[0], target = n.operands[1], out = n.result;
  V count = l.numel(pred);
  V one = l.constF32(1), clamp = l.constF32(kLogClamp);
  V sum = sumF64(l, count, [&](V i) -> V {
    V p = l.load(pred, i), t = l.load(target, i);
    if (n.op != OpKind::Bce) {
      V d = b.CreateFSub(b.CreateFPExt(p, l.f64), b.CreateFPExt(t, l.f64));
      return b.CreateFMul(d, d);
    }
    V logP = clampBelow(l, l.log(p), clamp);
    V log1mP = clampBelow(l, l.log(b.CreateFSub(one, p)), clamp);
    V term = b.CreateFAdd(
        b.CreateFMul(b.CreateFPExt(t, l.f64), b.CreateFPExt(logP, l.f64)),
        b.CreateFMul(b.CreateFPExt(b.CreateFSub(one, t), l.f64), b.CreateFPExt(log1mP, l.f64)));
    return b.CreateFNeg(term);
  });
  V r = n.op == OpKind::Sse ? b.CreateFMul(sum, llvm::ConstantFP::get(l.f64, 0.5))
                            : b.CreateFDiv(sum, b.CreateSIToFP(count, l.f64)); // 0 / 0: NaN
  l.store(out, l.constI64(0), b.CreateFPTrunc(r, l.f32));
}

/// sse_grad, mse_grad, bce_grad (pred, target, dloss) -> d/dpred.
void lowerElementwiseLossGrad(Lowering &l, const Node &n) {
  auto &b = l.b;
  ValueId pred = n.operands[0], target = n.operands[1], out = n.result;
  V dl = l.load(n.operands[2], l.constI64(0));
  V count = l.numel(pred);
  V countF = b.CreateSIToFP(count, l.f32);
  V one = l.constF32(1);
  l.forRange(count, [&](V i) {
    V p = l.load(pred, i), t = l.load(target, i);
    V r = b.CreateFMul(dl, b.CreateFSub(p, t));
    if (n.op == OpKind::MseGrad)
      r = b.CreateFDiv(b.CreateFMul(r, l.constF32(2)), countF);
    else if (n.op == OpKind::BceGrad)
      r = b.CreateFDiv(b.CreateFDiv(r, clampBelow(l, b.CreateFMul(p, b.CreateFSub(one, p)),
                                                  l.constF32(kBceGradEps))),
                       countF);
    l.store(out, i, r);
  });
}

/// Returns kAbiBadLabel from the function when a label is outside [0, K);
/// reads only the labels.
void checkLabels(Lowering &l, ValueId labels, V rows, V classes) {
  auto &b = l.b;
  V bad = l.reduceRange(rows, b.getFalse(), [&](V r, V acc) {
    V label = b.CreateSExt(l.load(labels, r), l.i64);
    V outside = b.CreateOr(b.CreateICmpSLT(label, l.constI64(0)), b.CreateICmpSGE(label, classes));
    return b.CreateOr(acc, outside);
  });
  l.failIf(bad, kAbiBadLabel);
}

/// softmax_cross_entropy (logits [..., K], labels [...]): the mean over rows of
/// -log softmax(row)[label].
void lowerSoftmaxCrossEntropy(Lowering &l, const Node &n) {
  auto &b = l.b;
  ValueId logits = n.operands[0], labels = n.operands[1], out = n.result;
  V rows = l.numel(labels), classes = l.shape(logits).back(); // rows: the leading dims
  checkLabels(l, labels, rows, classes);
  V total = l.reduceRange(rows, llvm::ConstantFP::get(l.f64, 0.0), [&](V r, V acc) {
    V base = b.CreateMul(r, classes);
    auto elem = [&](V k) { return l.load(logits, b.CreateAdd(base, k)); };
    V m = maxF32(l, classes, elem);
    V sum = sumF64(l, classes, [&](V k) { return l.exp(b.CreateFSub(elem(k), m)); });
    V label = b.CreateSExt(l.load(labels, r), l.i64);
    V picked = b.CreateFSub(b.CreateFPExt(elem(label), l.f64), b.CreateFPExt(m, l.f64));
    return b.CreateFSub(acc, b.CreateFSub(picked, l.log(sum)));
  });
  V r = b.CreateFDiv(total, b.CreateSIToFP(rows, l.f64));
  l.store(out, l.constI64(0), b.CreateFPTrunc(r, l.f32));
}

/// softmax_cross_entropy_grad (logits, labels, dloss):
/// dloss (softmax(row) - onehot(label)) / N.
void lowerSoftmaxCrossEntropyGrad(Lowering &l, const Node &n) {
  auto &b = l.b;
  ValueId logits = n.operands[0], labels = n.operands[1], out = n.result;
  V rows = l.numel(labels), classes = l.shape(logits).back(); // rows: the leading dims
  checkLabels(l, labels, rows, classes);
  V dl = l.load(n.operands[2], l.constI64(0));
  V scale = b.CreateFDiv(dl, b.CreateSIToFP(rows, l.f32));
  parallelRows(l, rows, classes, [&](V r) {
    V base = b.CreateMul(r, classes);
    auto elem = [&](V k) { return l.load(logits, b.CreateAdd(base, k)); };
    V m = maxF32(l, classes, elem);
    V sum = b.CreateFPTrunc(sumF64(l, classes,
                                   [&](V k) {
                                     V e = l.exp(b.CreateFSub(elem(k), m));
                                     l.store(out, b.CreateAdd(base, k), e);
                                     return e;
                                   }),
                            l.f32);
    V label = b.CreateSExt(l.load(labels, r), l.i64);
    l.forRange(classes, [&](V k) {
      V at = b.CreateAdd(base, k);
      V p = b.CreateFDiv(l.load(out, at), sum);
      p = b.CreateFSub(p, b.CreateSelect(b.CreateICmpEQ(k, label), l.constF32(1), l.constF32(0)));
      l.store(out, at, b.CreateFMul(p, scale));
    });
  });
}

} // namespace

void lowerLoss(Lowering &l, const Node &n) {
  switch (n.op) {
  case OpKind::Sse:
  case OpKind::Mse:
  case OpKind::Bce:
    return lowerElementwiseLoss(l, n);
  case OpKind::SseGrad:
  case OpKind::MseGrad:
  case OpKind::BceGrad:
    return lowerElementwiseLossGrad(l, n);
  case OpKind::SoftmaxCrossEntropy:
    return lowerSoftmaxCrossEntropy(l, n);
  case OpKind::SoftmaxCrossEntropyGrad:
    return lowerSoftmaxCrossEntropyGrad(l, n);
  default:
    NNC_UNHANDLED_OP(n, "lowering");
  }
}

} // namespace nnc
