/// Lowering of batchnorm (x [N, C, ...], statistics per channel over every
/// other axis) in inference and training mode, of the running statistics'
/// updates and of the gradients. The channels are parallel tasks (each
/// channel's result is its own, so any thread count gives the same bits);
/// a channel's sums are taken in f64 by reassociable adds over each
/// sample's contiguous run of S elements, which the vectorizer takes. Every
/// node reads its x (and dy) once for all its sums (ChannelMoments), then
/// once more where it writes a tensor: 2 passes for batchnorm_train and
/// batchnorm_grad, 1 for the running statistics and gamma's gradient.
#include "codegen/Loop.h"
#include "codegen/Lowering.h"
#include "ir/InternalError.h"
#include "ir/NodeAttrs.h"

namespace nnc {

namespace {

using V = llvm::Value *;

/// Elements per channel below which the channels run on one thread.
constexpr int64_t kParallelMinElements = 1 << 15;

/// x [N, C, ...] as (n, c, s): element s of sample n of channel c is at
/// (n C + c) S + s.
struct Channels {
  V n, c, s;
};

Channels channelsOf(Lowering &l, ValueId x) {
  std::vector<V> extents = l.shape(x);
  V s = l.constI64(1);
  for (size_t a = 2; a < extents.size(); ++a)
    s = l.b.CreateMul(s, extents[a]);
  return {extents[0], extents[1], s};
}

/// The f64 sums of each term(index) over channel c's elements, in one pass.
std::vector<V> channelSums(Lowering &l, const Channels &ch, V c,
                           const std::vector<std::function<V(V)>> &terms) {
  auto &b = l.b;
  std::vector<V> zeros(terms.size(), llvm::ConstantFP::get(l.f64, 0.0));
  return buildLoop(
      l, l.constI64(0), ch.n, l.constI64(1), zeros, [&](V sample, const std::vector<V> &totals) {
        V base = b.CreateMul(b.CreateAdd(b.CreateMul(sample, ch.c), c), ch.s);
        std::vector<V> runs = buildLoop(
            l, l.constI64(0), ch.s, l.constI64(1), zeros, [&](V k, const std::vector<V> &acc) {
              std::vector<V> next;
              for (size_t t = 0; t < terms.size(); ++t) {
                V sum = b.CreateFAdd(acc[t], terms[t](b.CreateAdd(base, k)));
                llvm::cast<llvm::Instruction>(sum)->setHasAllowReassoc(true);
                next.push_back(sum);
              }
              return next;
            });
        std::vector<V> next;
        for (size_t t = 0; t < terms.size(); ++t)
          next.push_back(b.CreateFAdd(totals[t], runs[t]));
        return next;
      });
}

/// f(index) for each of channel c's elements (the inner loop vectorized).
void forChannel(Lowering &l, const Channels &ch, V c, const std::function<void(V)> &f) {
  auto &b = l.b;
  l.forRange(
      ch.n,
      [&](V sample) {
        V base = b.CreateMul(b.CreateAdd(b.CreateMul(sample, ch.c), c), ch.s);
        l.forRange(ch.s, [&](V k) { f(b.CreateAdd(base, k)); });
      },
      false);
}

/// One task per channel.
void forEachChannel(Lowering &l, const Channels &ch, const std::function<void(V)> &body) {
  V elements = l.b.CreateMul(ch.n, ch.s);
  V worthIt = l.b.CreateICmpUGE(l.b.CreateMul(elements, ch.c), l.constI64(kParallelMinElements));
  parallelFor(l, ch.c, worthIt, body);
}

V toF32(Lowering &l, V x) { return l.b.CreateFPTrunc(x, l.f32); }
V toF64(Lowering &l, V x) { return l.b.CreateFPExt(x, l.f64); }

/// What one pass over a channel gives (f64): its mean and biased variance,
/// and with dy also sum(dy) and sum(dy (x - mean)). The sums are of x less
/// the channel's first element K (the shifted-data algorithm: var =
/// E[(x - K)^2] - E[x - K]^2 loses nothing to cancellation when the mean is
/// far from zero, as it would with K = 0; x's spread sets the error, as in
/// the two-pass form).
struct ChannelMoments {
  V count, mean, var, sumDy, sumDyCentered;
};

ChannelMoments momentsOf(Lowering &l, ValueId x, const ValueId *dy, const Channels &ch, V c) {
  auto &b = l.b;
  V zero = llvm::ConstantFP::get(l.f64, 0.0);
  V elements = b.CreateMul(ch.n, ch.s);
  // K = x[0, c, 0], read only when the channel has elements.
  V first = b.CreateMul(c, ch.s);
  V shift = l.reduceRange(b.CreateBinaryIntrinsic(llvm::Intrinsic::umin, elements, l.constI64(1)),
                          zero, [&](V, V) { return toF64(l, l.load(x, first)); });
  auto shifted = [&](V i) { return b.CreateFSub(toF64(l, l.load(x, i)), shift); };
  std::vector<std::function<V(V)>> terms = {shifted, [&](V i) {
                                              V d = shifted(i);
                                              return b.CreateFMul(d, d);
                                            }};
  if (dy) {
    terms.push_back([&](V i) { return toF64(l, l.load(*dy, i)); });
    terms.push_back([&](V i) { return b.CreateFMul(toF64(l, l.load(*dy, i)), shifted(i)); });
  }
  std::vector<V> sums = channelSums(l, ch, c, terms);
  V count = b.CreateSIToFP(elements, l.f64);
  V meanShifted = b.CreateFDiv(sums[0], count);
  V var = b.CreateFSub(b.CreateFDiv(sums[1], count), b.CreateFMul(meanShifted, meanShifted));
  var = b.CreateSelect(b.CreateFCmpOGT(var, zero), var, zero); // rounding below 0
  ChannelMoments m{count, b.CreateFAdd(shift, meanShifted), var, nullptr, nullptr};
  if (dy) {
    // sum(dy (x - mean)) = sum(dy (x - K)) - (mean - K) sum(dy).
    m.sumDy = sums[2];
    m.sumDyCentered = b.CreateFSub(sums[3], b.CreateFMul(meanShifted, sums[2]));
  }
  return m;
}

V rstdOf(Lowering &l, V var, double eps) {
  V one = llvm::ConstantFP::get(l.f64, 1.0);
  return l.b.CreateFDiv(one, l.sqrt(l.b.CreateFAdd(var, llvm::ConstantFP::get(l.f64, eps))));
}

/// y = (x - shift) scale + beta over channel c, scale and shift f32.
void normalize(Lowering &l, const Node &n, const Channels &ch, V c, V shift, V scale) {
  auto &b = l.b;
  V beta = l.load(n.operands[2], c);
  forChannel(l, ch, c, [&](V i) {
    V y = b.CreateFAdd(b.CreateFMul(b.CreateFSub(l.load(n.operands[0], i), shift), scale), beta);
    l.store(n.result, i, y);
  });
}

/// batchnorm (x, gamma, beta, running_mean, running_var): inference mode.
void lowerInference(Lowering &l, const Node &n) {
  Channels ch = channelsOf(l, n.operands[0]);
  double eps = attr::eps(n);
  forEachChannel(l, ch, [&](V c) {
    V rstd = rstdOf(l, toF64(l, l.load(n.operands[4], c)), eps);
    V scale = toF32(l, l.b.CreateFMul(rstd, toF64(l, l.load(n.operands[1], c))));
    normalize(l, n, ch, c, l.load(n.operands[3], c), scale);
  });
}

/// batchnorm_running_mean / _var (x, running) of channel c: (1 - m) running
/// + m stat, the variance unbiased (biased for one element per channel).
void storeRunning(Lowering &l, const Node &n, const ChannelMoments &st, V c) {
  auto &b = l.b;
  bool mean = n.op == OpKind::BatchNormRunningMean;
  double momentum = attr::momentum(n);
  V one = llvm::ConstantFP::get(l.f64, 1.0);
  V unbiased = b.CreateFDiv(b.CreateFMul(st.var, st.count), b.CreateFSub(st.count, one));
  V stat = mean ? st.mean : b.CreateSelect(b.CreateFCmpOGT(st.count, one), unbiased, st.var);
  V old = toF64(l, l.load(n.operands[1], c));
  V blended = b.CreateFAdd(b.CreateFMul(llvm::ConstantFP::get(l.f64, 1 - momentum), old),
                           b.CreateFMul(llvm::ConstantFP::get(l.f64, momentum), stat));
  l.store(n.result, c, toF32(l, blended));
}

/// batchnorm_train (x, gamma, beta): the batch's statistics; the running
/// statistics' updates it hosts (passes/schedule/BatchNormGuests.h) from
/// the same moments.
void lowerTraining(Lowering &l, const Node &n) {
  ValueId x = n.operands[0];
  Channels ch = channelsOf(l, x);
  double eps = attr::eps(n);
  const Node *runningMean = l.guestNode(n, {OpKind::BatchNormRunningMean});
  const Node *runningVar = l.guestNode(n, {OpKind::BatchNormRunningVar});
  forEachChannel(l, ch, [&](V c) {
    ChannelMoments st = momentsOf(l, x, nullptr, ch, c);
    V scale = toF32(l, l.b.CreateFMul(rstdOf(l, st.var, eps), toF64(l, l.load(n.operands[1], c))));
    normalize(l, n, ch, c, toF32(l, st.mean), scale);
    for (const Node *guest : {runningMean, runningVar})
      if (guest)
        storeRunning(l, *guest, st, c);
  });
}

/// batchnorm_running_mean / _var (x, running), in a kernel of its own.
void lowerRunning(Lowering &l, const Node &n) {
  ValueId x = n.operands[0];
  Channels ch = channelsOf(l, x);
  forEachChannel(l, ch, [&](V c) { storeRunning(l, n, momentsOf(l, x, nullptr, ch, c), c); });
}

/// batchnorm_grad (x, gamma, dy) -> dx = rstd (g - mean(g) - xhat mean(g xhat))
/// with g = dy gamma; batchnorm_gamma_grad (x, dy) -> sum(dy xhat); and the
/// gamma gradient and dy's channel sum (beta's) that they host.
void lowerGradients(Lowering &l, const Node &n) {
  auto &b = l.b;
  ValueId x = n.operands[0], dy = n.operands.back();
  bool dx = n.op == OpKind::BatchNormGrad;
  Channels ch = channelsOf(l, x);
  double eps = attr::eps(n);
  const Node *gammaGuest = l.guestNode(n, {OpKind::BatchNormGammaGrad});
  const Node *betaGuest = l.guestNode(n, {OpKind::Sum});
  forEachChannel(l, ch, [&](V c) {
    ChannelMoments st = momentsOf(l, x, &dy, ch, c);
    V rstd = rstdOf(l, st.var, eps);
    V sumDyXhat = b.CreateFMul(st.sumDyCentered, rstd);
    // Guests (passes/schedule/BatchNormGuests.h): gamma's gradient, beta's.
    if (gammaGuest)
      l.store(gammaGuest->result, c, toF32(l, sumDyXhat));
    if (betaGuest)
      l.store(betaGuest->result, c, toF32(l, st.sumDy));
    if (!dx) {
      l.store(n.result, c, toF32(l, sumDyXhat));
      return;
    }
    V sumDy = st.sumDy;
    V gamma = toF64(l, l.load(n.operands[1], c));
    V meanG = toF32(l, b.CreateFDiv(b.CreateFMul(gamma, sumDy), st.count));
    V meanGXhat = toF32(l, b.CreateFDiv(b.CreateFMul(gamma, sumDyXhat), st.count));
    V meanF = toF32(l, st.mean), rstdF = toF32(l, rstd), gammaF = toF32(l, gamma);
    forChannel(l, ch, c, [&](V i) {
      V xh = b.CreateFMul(b.CreateFSub(l.load(x, i), meanF), rstdF);
      V g = b.CreateFMul(l.load(dy, i), gammaF);
      V d = b.CreateFSub(b.CreateFSub(g, meanG), b.CreateFMul(xh, meanGXhat));
      l.store(n.result, i, b.CreateFMul(rstdF, d));
    });
  });
}

} // namespace

void lowerBatchNorm(Lowering &l, const Node &n) {
  switch (n.op) {
  case OpKind::BatchNorm:
    return lowerInference(l, n);
  case OpKind::BatchNormTrain:
    return lowerTraining(l, n);
  case OpKind::BatchNormRunningMean:
  case OpKind::BatchNormRunningVar:
    return lowerRunning(l, n);
  case OpKind::BatchNormGrad:
  case OpKind::BatchNormGammaGrad:
    return lowerGradients(l, n);
  default:
    NNC_UNHANDLED_OP(n, "lowering");
  }
}

} // namespace nnc
