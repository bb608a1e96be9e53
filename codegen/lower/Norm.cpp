/// Lowering of layernorm over the last axis and of its gradient ops. Per
/// row: the mean, then the biased variance around it (two passes, summed
/// in f64 by reassociable adds, so the vectorizer takes them), then one
/// vectorized f32 pass over the row. The fused forms (fused_add_layernorm
/// and its gradients) read x + r wherever the plain ones read x. The f64 mean is split into two f32
/// halves so that x - mean keeps its precision when x is far from 0.
#include "codegen/Lowering.h"
#include "ir/NodeAttrs.h"
#include "ir/InternalError.h"

namespace nnc {

namespace {

using V = llvm::Value *;

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

/// A value seen as [rows, width] around its last axis.
struct Rows {
  V rows, width;
};

Rows rowsOf(Lowering &l, ValueId x) {
  const Shape &s = l.type(x).shape;
  V rows = l.constI64(1);
  for (size_t i = 0; i + 1 < s.size(); ++i)
    rows = l.b.CreateMul(rows, l.dim(s[i]));
  return {rows, l.dim(s.back())};
}

/// One row's statistics: the mean (f64, and as f32 hi + lo) and 1 / sqrt(var + eps).
struct RowStats {
  V mean, rstd;            ///< f64
  V meanHi, meanLo, rstdF; ///< f32
};

/// Element i of the normalized input: x, or x + r for the fused ops (the
/// sum is never stored).
using Load = std::function<V(V)>;

Load inputOf(Lowering &l, const Node &n) {
  ValueId x = n.operands[0];
  if (!n.info().has(kFused))
    return [&l, x](V i) { return l.load(x, i); };
  ValueId r = n.operands[1];
  return [&l, x, r](V i) { return l.b.CreateFAdd(l.load(x, i), l.load(r, i)); };
}

/// The operand after x (and r, for the fused ops).
ValueId operandAfterInput(const Node &n, size_t k) {
  return n.operands[k + (n.info().has(kFused) ? 1 : 0)];
}

RowStats rowStats(Lowering &l, const Load &x, V base, V width, double eps) {
  auto &b = l.b;
  V w = b.CreateSIToFP(width, l.f64);
  auto elem = [&](V k) { return b.CreateFPExt(x(b.CreateAdd(base, k)), l.f64); };
  V mean = b.CreateFDiv(sumF64(l, width, elem), w);
  V var = b.CreateFDiv(sumF64(l, width,
                              [&](V k) {
                                V d = b.CreateFSub(elem(k), mean);
                                return b.CreateFMul(d, d);
                              }),
                       w);
  V one = llvm::ConstantFP::get(l.f64, 1.0);
  V rstd = b.CreateFDiv(one, l.sqrt(b.CreateFAdd(var, llvm::ConstantFP::get(l.f64, eps))));
  V hi = b.CreateFPTrunc(mean, l.f32);
  V lo = b.CreateFPTrunc(b.CreateFSub(mean, b.CreateFPExt(hi, l.f64)), l.f32);
  return {mean, rstd, hi, lo, b.CreateFPTrunc(rstd, l.f32)};
}

/// (x - mean) rstd in f32.
V xhat(Lowering &l, const RowStats &s, V x) {
  return l.b.CreateFMul(l.b.CreateFSub(l.b.CreateFSub(x, s.meanHi), s.meanLo), s.rstdF);
}

/// for each row of x: body(first element's index, the row's statistics),
/// in row order (the gradients add the rows' gamma and beta terms in that
/// order), or as parallel tasks of rows where each row writes its own
/// output alone (`independent`: the forward).
void forEachRow(Lowering &l, const Node &n, const Load &x, const Rows &r,
                const std::function<void(V, const RowStats &)> &body, bool independent = false) {
  auto row = [&](V row) {
    V base = l.b.CreateMul(row, r.width);
    body(base, rowStats(l, x, base, r.width, attr::eps(n)));
  };
  if (independent)
    parallelRows(l, r.rows, r.width, row);
  else
    l.forRange(r.rows, row, false);
}

/// The gamma (sum of dy xhat) and beta (sum of dy) gradients, summed over
/// the rows inside another kernel's row loop; either may be absent
/// (kNoValue). The rows are cut into kGradChunks chunks of consecutive rows,
/// a number that does not depend on the thread count: each chunk adds its
/// rows in order into its own partial sums (a stack buffer of the kernel),
/// the chunks run as parallel tasks, and the partials are then added in
/// chunk order, so every thread count gives the same bits.
constexpr int64_t kGradChunks = 16;
/// The largest width whose partial sums (2 x kGradChunks rows of it) live
/// on the kernel's stack; wider layernorms sum their rows on one thread.
constexpr int64_t kMaxChunkedWidth = 2048;

struct ParamGradSums {
  ValueId gamma, beta;
  V partials = nullptr;  ///< [kGradChunks][2][width] f32, when chunked
  V chunkBase = nullptr; ///< this task's [2][width] in `partials`

  bool any() const { return gamma != kNoValue || beta != kNoValue; }
  void zero(Lowering &l, V width) const {
    for (ValueId sum : {gamma, beta})
      if (sum != kNoValue)
        l.zero(l.data(sum), width);
  }
  /// Adds element i of one row: dy and its xhat (into the task's partials
  /// when chunked).
  void add(Lowering &l, V i, V width, V dy, V xh) const {
    auto &b = l.b;
    if (chunkBase) {
      V g = b.CreateGEP(l.f32, chunkBase, i),
        be = b.CreateGEP(l.f32, chunkBase, b.CreateAdd(width, i));
      b.CreateStore(b.CreateFAdd(b.CreateLoad(l.f32, g), b.CreateFMul(dy, xh)), g);
      b.CreateStore(b.CreateFAdd(b.CreateLoad(l.f32, be), dy), be);
      return;
    }
    if (gamma != kNoValue)
      l.store(gamma, i, b.CreateFAdd(l.load(gamma, i), b.CreateFMul(dy, xh)));
    if (beta != kNoValue)
      l.store(beta, i, b.CreateFAdd(l.load(beta, i), dy));
  }
  /// The chunks' partials added, in chunk order, into gamma and beta.
  void gather(Lowering &l, V width) const {
    auto &b = l.b;
    zero(l, width);
    l.forRange(
        l.constI64(kGradChunks),
        [&](V c) {
          V base = b.CreateGEP(l.f32, partials, b.CreateMul(c, b.CreateMul(width, l.constI64(2))));
          l.forRange(width, [&](V i) {
            if (gamma != kNoValue)
              l.store(
                  gamma, i,
                  b.CreateFAdd(l.load(gamma, i), b.CreateLoad(l.f32, b.CreateGEP(l.f32, base, i))));
            if (beta != kNoValue)
              l.store(beta, i,
                      b.CreateFAdd(
                          l.load(beta, i),
                          b.CreateLoad(l.f32, b.CreateGEP(l.f32, base, b.CreateAdd(width, i)))));
          });
        },
        false);
  }
};

/// for each row of a gradient kernel: body(first element's index, the row's
/// statistics, the sums to add the row's gamma and beta terms to). With
/// sums to take and a static width, the rows run as kGradChunks parallel
/// chunks with partial sums (ParamGradSums); without sums, as independent
/// rows; else in row order on this thread.
void forEachGradientRow(
    Lowering &l, const Node &n, const Load &x, const Rows &r, ParamGradSums sums,
    const std::function<void(V, const RowStats &, const ParamGradSums &)> &body) {
  auto &b = l.b;
  const Dim &last = l.type(n.operands[0]).shape.back();
  if (!sums.any())
    return forEachRow(l, n, x, r, [&](V base, const RowStats &s) { body(base, s, sums); }, true);
  if (last.isSymbolic() || last.size > kMaxChunkedWidth) {
    sums.zero(l, r.width);
    return forEachRow(l, n, x, r, [&](V base, const RowStats &s) { body(base, s, sums); });
  }
  sums.partials = stackArray(l, l.f32, kGradChunks * 2 * last.size);
  l.zero(sums.partials, l.constI64(kGradChunks * 2 * last.size));
  V perChunk =
      b.CreateUDiv(b.CreateAdd(r.rows, l.constI64(kGradChunks - 1)), l.constI64(kGradChunks));
  V worthIt = b.CreateICmpUGE(b.CreateMul(r.rows, r.width), l.constI64(int64_t{1} << 15));
  parallelFor(l, l.constI64(kGradChunks), worthIt, [&](V c) {
    ParamGradSums mine = sums;
    mine.chunkBase = b.CreateGEP(l.f32, sums.partials, b.CreateMul(c, l.constI64(2 * last.size)));
    V first = b.CreateMul(c, perChunk);
    V end = b.CreateAdd(first, perChunk);
    end = b.CreateSelect(b.CreateICmpULT(end, r.rows), end, r.rows);
    V count = b.CreateSelect(b.CreateICmpULT(first, end), b.CreateSub(end, first), l.constI64(0));
    l.forRange(
        count,
        [&](V k) {
          V base = b.CreateMul(b.CreateAdd(first, k), r.width);
          body(base, rowStats(l, x, base, r.width, attr::eps(n)), mine);
        },
        false);
  });
  sums.gather(l, r.width);
}

void lowerLayerNorm(Lowering &l, const Node &n) {
  auto &b = l.b;
  ValueId gamma = operandAfterInput(n, 1), beta = operandAfterInput(n, 2), out = n.result;
  Load x = inputOf(l, n);
  Rows r = rowsOf(l, n.operands[0]);
  forEachRow(
      l, n, x, r,
      [&](V base, const RowStats &s) {
        l.forRange(r.width, [&](V i) {
          V at = b.CreateAdd(base, i);
          V y = b.CreateFAdd(b.CreateFMul(xhat(l, s, x(at)), l.load(gamma, i)), l.load(beta, i));
          l.store(out, at, y);
        });
      },
      true);
}

/// layernorm_grad (x, gamma, dy): with g = dy gamma,
/// dx = rstd (g - mean(g) - xhat mean(g xhat)).
void lowerLayerNormGrad(Lowering &l, const Node &n) {
  auto &b = l.b;
  ValueId gamma = operandAfterInput(n, 1), dy = operandAfterInput(n, 2), out = n.result;
  // The gamma and beta gradients may ride along (passes/schedule/RowSums.h):
  // then this one pass over the rows gives all three.
  ParamGradSums sums{l.guestOf(n, {OpKind::LayerNormGammaGrad, OpKind::FusedAddLayerNormGammaGrad}),
                     l.guestOf(n, {OpKind::Sum})};
  Load x = inputOf(l, n);
  Rows r = rowsOf(l, n.operands[0]);
  forEachGradientRow(l, n, x, r, sums, [&](V base, const RowStats &s, const ParamGradSums &row) {
    auto g64 = [&](V k) {
      return b.CreateFMul(b.CreateFPExt(l.load(dy, b.CreateAdd(base, k)), l.f64),
                          b.CreateFPExt(l.load(gamma, k), l.f64));
    };
    V w = b.CreateSIToFP(r.width, l.f64);
    V meanG = b.CreateFPTrunc(b.CreateFDiv(sumF64(l, r.width, g64), w), l.f32);
    V meanGXhat = b.CreateFPTrunc(
        b.CreateFDiv(sumF64(l, r.width,
                            [&](V k) {
                              V xh = b.CreateFMul(
                                  b.CreateFSub(b.CreateFPExt(x(b.CreateAdd(base, k)), l.f64),
                                               s.mean),
                                  s.rstd);
                              return b.CreateFMul(g64(k), xh);
                            }),
                     w),
        l.f32);
    l.forRange(r.width, [&](V i) {
      V at = b.CreateAdd(base, i);
      V d0 = l.load(dy, at), xh = xhat(l, s, x(at));
      V g = b.CreateFMul(d0, l.load(gamma, i));
      V d = b.CreateFSub(b.CreateFSub(g, meanG), b.CreateFMul(xh, meanGXhat));
      l.store(out, at, b.CreateFMul(s.rstdF, d));
      row.add(l, i, r.width, d0, xh);
    });
  });
}

/// layernorm_gamma_grad (x, dy) -> [D]: the sum over rows of dy xhat,
/// accumulated across rows with the feature loop vectorized. When the beta
/// gradient (the sum over rows of dy) rides along (passes/schedule/RowSums.h),
/// it accumulates in the same loop.
void lowerLayerNormGammaGrad(Lowering &l, const Node &n) {
  auto &b = l.b;
  ValueId dy = operandAfterInput(n, 1);
  ParamGradSums sums{n.result, l.guestOf(n, {OpKind::Sum})};
  Load x = inputOf(l, n);
  Rows r = rowsOf(l, n.operands[0]);
  forEachGradientRow(l, n, x, r, sums, [&](V base, const RowStats &s, const ParamGradSums &row) {
    l.forRange(r.width, [&](V i) {
      V at = b.CreateAdd(base, i);
      row.add(l, i, r.width, l.load(dy, at), xhat(l, s, x(at)));
    });
  });
}

} // namespace

void lowerNorm(Lowering &l, const Node &n) {
  switch (n.op) {
  case OpKind::LayerNorm:
  case OpKind::FusedAddLayerNorm:
    return lowerLayerNorm(l, n);
  case OpKind::LayerNormGrad:
  case OpKind::FusedAddLayerNormGrad:
    return lowerLayerNormGrad(l, n);
  case OpKind::LayerNormGammaGrad:
  case OpKind::FusedAddLayerNormGammaGrad:
    return lowerLayerNormGammaGrad(l, n);
  case OpKind::BatchNorm:
  case OpKind::BatchNormTrain:
  case OpKind::BatchNormRunningMean:
  case OpKind::BatchNormRunningVar:
  case OpKind::BatchNormGrad:
  case OpKind::BatchNormGammaGrad:
    return lowerBatchNorm(l, n);
  default:
    NNC_UNHANDLED_OP(n, "lowering");
  }
}

} // namespace nnc
