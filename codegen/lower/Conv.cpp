/// Lowering of the Conv family: conv2d (NCHW input, [F, C, KH, KW] filters,
/// cross-correlation with stride and zero padding) and its gradient ops, as
/// direct loop nests (no im2col); the pools are in Pool.cpp.
///
/// conv2d, and its gradients when the strides allow, run register-tiled
/// kernels with explicit vectors (the host's width): the input planes are
/// copied into a zero-padded stack buffer, so no tap needs a bounds check,
/// and each tile of output vectors (rows x columns x output channels) keeps
/// its sums in registers over every channel and tap, fed by one load of
/// input per vector and one broadcast weight per output channel. conv2d and
/// its input gradient (stride 1: dy correlated with the flipped filters)
/// share the kernel (Correlation); the filter gradient has its own, adding
/// in double.
///
/// The other nests (other strides, planes too big for the buffer)
/// keep the output width innermost, so the vectorizer takes the loop over
/// contiguous output (or dy) columns. Padding never reaches their innermost
/// loop: for each kernel row kh (column kw) the nest runs only over the
/// output rows (columns) whose tap falls inside the input, a range computed
/// once per kh (kw).
///
/// Each kernel runs as parallel tasks over what owns its outputs (forPlanes),
/// a split of the sizes alone: blocks of output channels of one image for
/// the tiled conv2d and input gradient (planes (n, f) or (n, c) otherwise),
/// blocks of filters of one channel (slices (f, c)) for the filter gradient;
/// every output is computed by one task
/// in the same order on any number of threads.
#include "codegen/lower/ActivationCode.h"
#include "codegen/lower/Bf16.h"
#include "codegen/lower/ConvKernels.h"
#include "codegen/Loop.h"
#include "ir/NodeAttrs.h"
#include "ir/InternalError.h"

#include <llvm/IR/Intrinsics.h>

#include <cassert>
#include <limits>
#include <utility>

namespace nnc {

namespace conv {

/// The window of a conv2d (or one of its gradients) given its input x,
/// filter w and output (or dy) y.
Geometry convGeometry(const Lowering &l, const Node &n, ValueId x, ValueId w, ValueId y) {
  const Shape &xs = l.type(x).shape, &ws = l.type(w).shape, &ys = l.type(y).shape;
  std::vector<int64_t> stride = attr::stride(n).asInts(), pad = attr::padding(n).asInts();
  return Geometry{xs[2].size, xs[3].size, ys[2].size, ys[3].size, ws[2].size,           ws[3].size,
                  stride[0],  stride[1],  pad[0],     pad[1],     attr::bf16Operands(n)};
}

Activation activationOfNode(const Node &node) {
  return node.op == OpKind::FusedConv2d ? activationNamed(attr::activation(node)) : Activation{};
}

V operandOf(Lowering &l, const Geometry &g, V x) { return g.bf16 ? roundToBf16(l, x) : x; }

/// A pointer to the first element of plane `plane` (planes of `size` floats).
V plane(Lowering &l, V base, V planeIndex, int64_t size) {
  return l.at(base, l.b.CreateMul(planeIndex, l.constI64(size)), l.f32);
}

/// The outputs o in [0, out) whose tap o * stride - pad + k lies in
/// [0, in), as [lo, hi) (empty when hi <= lo).
std::pair<V, V> validRange(Lowering &l, V k, int64_t stride, int64_t pad, int64_t in, int64_t out) {
  auto &b = l.b;
  V zero = l.constI64(0), s = l.constI64(stride);
  // lo = ceil((pad - k) / stride), at least 0.
  V below = b.CreateBinaryIntrinsic(llvm::Intrinsic::smax, b.CreateSub(l.constI64(pad), k), zero);
  V lo = b.CreateUDiv(b.CreateAdd(below, l.constI64(stride - 1)), s);
  // hi = floor((in - 1 + pad - k) / stride) + 1, within [0, out].
  V last = b.CreateSub(l.constI64(in - 1 + pad), k);
  V count = b.CreateAdd(b.CreateUDiv(b.CreateBinaryIntrinsic(llvm::Intrinsic::smax, last, zero), s),
                        l.constI64(1));
  V hi = b.CreateSelect(b.CreateICmpSLT(last, zero), zero,
                        b.CreateBinaryIntrinsic(llvm::Intrinsic::smin, count, l.constI64(out)));
  return {lo, hi};
}

/// for (i = lo; i < hi; ++i) body(i). Every loop of these nests is kept
/// from being unrolled: fully unrolled tap loops would copy the vectorized
/// row loop (with its alias checks and remainders) KH x KW times, and a
/// fully unrolled row would leave the vectorizer the loop over rows (with
/// gathers and scatters). The innermost loop, over contiguous columns, is
/// marked for the vectorizer, one vector per iteration (rows are short);
/// the outer ones are not (they are innermost only where an inner loop got
/// unrolled, and would vectorize with gathers).
void loop(Lowering &l, std::pair<V, V> range, const std::function<void(V)> &body, bool inner) {
  LoopHints hints{inner ? LoopHints::Vectorize::Enable : LoopHints::Vectorize::Disable, 1,
                  inner ? 1u : 0u};
  buildLoop(l, range.first, range.second, body, hints);
}

/// The innermost loop over [lo, hi) (vectorized).
void forColumns(Lowering &l, std::pair<V, V> range, const std::function<void(V)> &body) {
  loop(l, range, body, true);
}
void forColumns(Lowering &l, V n, const std::function<void(V)> &body) {
  loop(l, {l.constI64(0), n}, body, true);
}

/// An outer loop over [lo, hi) or [0, n) (not vectorized).
void forBetween(Lowering &l, std::pair<V, V> range, const std::function<void(V)> &body) {
  loop(l, range, body, false);
}
void forOuter(Lowering &l, V n, const std::function<void(V)> &body) {
  loop(l, {l.constI64(0), n}, body, false);
}

/// Multiply-adds (or taps) a task gets at least, and a loop needs in all to
/// run on several threads.
constexpr int64_t kTaskWork = int64_t{1} << 16;
constexpr int64_t kParallelWork = int64_t{1} << 18;

V ceilDiv(Lowering &l, V a, V c) {
  return l.b.CreateUDiv(l.b.CreateAdd(a, l.b.CreateSub(c, l.constI64(1))), c);
}

/// body(p) for every p in [0, count), where each p owns its outputs (a
/// plane, a filter slice) and costs `work`: parallel tasks of consecutive
/// p's, as many per task as kTaskWork asks (a split of the sizes alone).
void forPlanes(Lowering &l, V count, V work, const std::function<void(V)> &body) {
  auto &b = l.b;
  V cost = b.CreateBinaryIntrinsic(llvm::Intrinsic::umax, work, l.constI64(1));
  V perTask = ceilDiv(l, l.constI64(kTaskWork), cost);
  V worthIt = b.CreateICmpUGE(count, ceilDiv(l, l.constI64(kParallelWork), cost));
  parallelFor(l, ceilDiv(l, count, perTask), worthIt, [&](V t) {
    V first = b.CreateMul(t, perTask);
    V last = b.CreateBinaryIntrinsic(llvm::Intrinsic::umin, count, b.CreateAdd(first, perTask));
    forBetween(l, {first, last}, body);
  });
}

/// The mask of the lanes v < `lanes` for which on(v) holds.
static V firstLanes(Lowering &l, unsigned lanes, const std::function<bool(int64_t)> &on) {
  std::vector<llvm::Constant *> bits;
  for (unsigned v = 0; v < lanes; ++v)
    bits.push_back(l.b.getInt1(on(v)));
  return llvm::ConstantVector::get(bits);
}

V rowColumns(Lowering &l, V from, int64_t c, int64_t step, unsigned lanes, int64_t count) {
  auto &b = l.b;
  unsigned wideLanes = lanes * static_cast<unsigned>(step);
  auto *wide = llvm::FixedVectorType::get(l.f32, wideLanes);
  V at = l.at(from, l.constI64(c), l.f32);
  V all =
      c + wideLanes <= count && step == 1
          ? V(b.CreateAlignedLoad(wide, at, llvm::Align(4)))
          : V(b.CreateMaskedLoad(
                wide, at, llvm::Align(4),
                firstLanes(l, wideLanes, [&](int64_t j) { return j % step == 0 && c + j < count; }),
                llvm::Constant::getNullValue(wide)));
  if (step == 1)
    return all;
  llvm::SmallVector<int, 16> picked;
  for (unsigned v = 0; v < lanes; ++v)
    picked.push_back(static_cast<int>(v * step));
  return b.CreateShuffleVector(all, picked);
}

void copyRow(Lowering &l, const PhasedRow &row, int64_t kernelWidth, V to, llvm::Type *elem,
             int64_t pad, int64_t count, unsigned lanes,
             const std::function<V(int64_t c, int64_t step)> &block) {
  auto &b = l.b;
  for (int64_t q = 0; q < std::min(row.sw, kernelWidth); ++q) {
    int64_t c0 = ((q - pad) % row.sw + row.sw) % row.sw; // the phase's first column
    if (c0 >= count)
      continue;
    int64_t n = (count - c0 + row.sw - 1) / row.sw, first = row.at(pad + c0);
    for (int64_t i0 = 0; i0 < n; i0 += lanes) {
      V v = block(c0 + i0 * row.sw, row.sw), at = l.at(to, l.constI64(first + i0), elem);
      if (i0 + lanes <= n)
        b.CreateAlignedStore(v, at, llvm::Align(4));
      else
        b.CreateMaskedStore(v, at, llvm::Align(4),
                            firstLanes(l, lanes, [&](int64_t v) { return i0 + v < n; }));
    }
  }
}

void forRowsRead(Lowering &l, int64_t height, int64_t kernel, int64_t stride, int64_t pad,
                 const std::function<void(V r)> &body) {
  if (stride <= kernel)
    return forOuter(l, l.constI64(height), body);
  for (int64_t k = 0; k < kernel; ++k) { // the rows k - pad modulo stride
    int64_t first = ((k - pad) % stride + stride) % stride;
    if (first < height)
      forOuter(l, l.constI64((height - first + stride - 1) / stride), [&](V i) {
        body(l.b.CreateAdd(l.constI64(first), l.b.CreateMul(i, l.constI64(stride))));
      });
  }
}

V fmuladd(Lowering &l, V a, V b, V c) { return l.intrinsic(llvm::Intrinsic::fmuladd, {a, b, c}); }

/// The input column of output column `o` at kernel column `k` (as an
/// offset within a row): o * stride + k - pad.
V tapColumn(Lowering &l, V o, int64_t stride, V kMinusPad) {
  return l.b.CreateAdd(l.b.CreateMul(o, l.constI64(stride)), kMinusPad);
}

/// For each output position (oh, ow) whose tap (kh, kw) lies inside the
/// input (valid rows, then valid columns, the columns innermost):
/// body(index of the tap in the input plane, index of (oh, ow) in the
/// output plane, ow).
void forTapPositions(Lowering &l, const Geometry &g, V kh, V kw,
                     const std::function<void(V, V, V)> &body) {
  auto &b = l.b;
  auto rows = validRange(l, kh, g.sh, g.ph, g.h, g.oh);
  auto cols = validRange(l, kw, g.sw, g.pw, g.w, g.ow);
  V rowShift = b.CreateSub(kh, l.constI64(g.ph));
  V colShift = b.CreateSub(kw, l.constI64(g.pw));
  forBetween(l, rows, [&](V oh) {
    V inRow =
        b.CreateMul(b.CreateAdd(b.CreateMul(oh, l.constI64(g.sh)), rowShift), l.constI64(g.w));
    V outRow = b.CreateMul(oh, l.constI64(g.ow));
    forColumns(l, cols, [&](V ow) {
      body(b.CreateAdd(inRow, tapColumn(l, ow, g.sw, colShift)), b.CreateAdd(outRow, ow), ow);
    });
  });
}

/// forTapPositions for every tap of one (filter, channel) pair, whose
/// kh x kw weights start at `wBase`: body(weight, input index, output index).
void forEachTap(Lowering &l, const Geometry &g, V wData, V wBase,
                const std::function<void(V, V, V)> &body) {
  auto &b = l.b;
  forOuter(l, l.constI64(g.kh), [&](V kh) {
    forOuter(l, l.constI64(g.kw), [&](V kw) {
      V weight = operandOf(
          l, g,
          l.loadF32(wData, b.CreateAdd(wBase, b.CreateAdd(b.CreateMul(kh, l.constI64(g.kw)), kw))));
      forTapPositions(l, g, kh, kw, [&](V in, V out, V) { body(weight, in, out); });
    });
  });
}

} // namespace conv

namespace {

using namespace conv;

/// conv2d (x, w[, b]): per (n, f) plane, the bias (or zero), then for every
/// channel and tap, out[oh, ow] += w[f, c, kh, kw] * x[n, c, ih, iw] over
/// the rows and columns whose tap is inside x; fused_conv2d then applies its
/// activation to the plane.
void lowerConv2d(Lowering &l, const Node &node) {
  if (lowerConv2dTiled(l, node))
    return;
  auto &b = l.b;
  ValueId x = node.operands[0], w = node.operands[1], out = node.result;
  Geometry g = convGeometry(l, node, x, w, out);
  const Shape &ws = l.type(w).shape;
  int64_t filters = ws[0].size, channels = ws[1].size;
  int64_t inPlane = g.h * g.w, outPlane = g.oh * g.ow, taps = g.kh * g.kw;
  V xData = l.data(x), wData = l.data(w), outData = l.data(out);
  V outPlanes = b.CreateMul(l.dim(l.type(x).shape[0]), l.constI64(filters));
  forPlanes(l, outPlanes, l.constI64(outPlane * channels * taps), [&](V p) {
    V n = b.CreateUDiv(p, l.constI64(filters)), f = b.CreateURem(p, l.constI64(filters));
    V y = plane(l, outData, p, outPlane);
    if (node.operands.size() == 3) {
      V bias = l.load(node.operands[2], f);
      forColumns(l, l.constI64(outPlane), [&](V i) { l.storeF32(y, i, bias); });
    } else {
      l.zero(y, l.constI64(outPlane));
    }
    forOuter(l, l.constI64(channels), [&](V c) {
      V xp = plane(l, xData, b.CreateAdd(b.CreateMul(n, l.constI64(channels)), c), inPlane);
      V wBase = b.CreateMul(b.CreateAdd(b.CreateMul(f, l.constI64(channels)), c), l.constI64(taps));
      forEachTap(l, g, wData, wBase, [&](V weight, V in, V out) {
        V xv = operandOf(l, g, l.loadF32(xp, in));
        l.storeF32(y, out, fmuladd(l, weight, xv, l.loadF32(y, out)));
      });
    });
    Activation act = activationOfNode(node);
    if (!act.none)
      forColumns(l, l.constI64(outPlane), [&](V i) {
        l.storeF32(y, i, applyActivation(l, act, attr::alpha(node), l.loadF32(y, i)));
      });
  });
}

/// conv2d_grad_input (dy, w, x for its shape): dx is zeroed, then each dy
/// element scatters dy * w onto the input taps it read (taps in the padding
/// drop out); the innermost loop runs over dy's contiguous columns.
void lowerConv2dGradInput(Lowering &l, const Node &node) {
  if (lowerConv2dGradInputTiled(l, node))
    return;
  auto &b = l.b;
  ValueId dy = node.operands[0], w = node.operands[1], x = node.operands[2], dx = node.result;
  Geometry g = convGeometry(l, node, x, w, dy);
  const Shape &ws = l.type(w).shape;
  int64_t filters = ws[0].size, channels = ws[1].size;
  int64_t inPlane = g.h * g.w, outPlane = g.oh * g.ow, taps = g.kh * g.kw;
  V dyData = l.data(dy), wData = l.data(w), dxData = l.data(dx);
  V inPlanes = b.CreateMul(l.dim(l.type(x).shape[0]), l.constI64(channels));
  forPlanes(l, inPlanes, l.constI64(outPlane * filters * taps), [&](V p) {
    V n = b.CreateUDiv(p, l.constI64(channels)), c = b.CreateURem(p, l.constI64(channels));
    V dxp = plane(l, dxData, p, inPlane);
    l.zero(dxp, l.constI64(inPlane));
    forOuter(l, l.constI64(filters), [&](V f) {
      V dyp = plane(l, dyData, b.CreateAdd(b.CreateMul(n, l.constI64(filters)), f), outPlane);
      V wBase = b.CreateMul(b.CreateAdd(b.CreateMul(f, l.constI64(channels)), c), l.constI64(taps));
      forEachTap(l, g, wData, wBase, [&](V weight, V in, V out) {
        V dyv = operandOf(l, g, l.loadF32(dyp, out));
        l.storeF32(dxp, in, fmuladd(l, weight, dyv, l.loadF32(dxp, in)));
      });
    });
  });
}

/// conv2d_grad_filter (x, dy, w for its shape): x correlated with dy,
/// dw[f, c, kh, kw] = sum over n, oh, ow of x[n, c, tap] * dy[n, f, oh, ow].
/// The sum runs in double, lane by lane over a row of ow partial sums (so the
/// loop over ow vectorizes without reordering a reduction), and the row is
/// added up once per filter element. When the rows of all taps fit in a
/// small stack buffer, the batch loop sits outside the taps (each x and dy
/// plane is read while it is in cache); otherwise each tap has its own pass.
void lowerConv2dGradFilter(Lowering &l, const Node &node) {
  if (lowerConv2dGradFilterTiled(l, node))
    return;
  auto &b = l.b;
  ValueId x = node.operands[0], dy = node.operands[1], w = node.operands[2], dw = node.result;
  Geometry g = convGeometry(l, node, x, w, dy);
  const Shape &ws = l.type(w).shape;
  int64_t filters = ws[0].size, channels = ws[1].size;
  int64_t inPlane = g.h * g.w, outPlane = g.oh * g.ow, taps = g.kh * g.kw;
  V xData = l.data(x), dyData = l.data(dy), dwData = l.data(dw);
  V batch = l.dim(l.type(x).shape[0]);
  bool allTaps = taps * g.ow <= 16384; // 128 KB of doubles
  V scratch = nullptr;                 // per task, allocated in its function

  // row[ow] += x[n, c, tap] * dy[n, f, oh, ow] over the valid rows and columns.
  auto accumulate = [&](V row, V n, V f, V c, V kh, V kw) {
    V xp = plane(l, xData, b.CreateAdd(b.CreateMul(n, l.constI64(channels)), c), inPlane);
    V dyp = plane(l, dyData, b.CreateAdd(b.CreateMul(n, l.constI64(filters)), f), outPlane);
    forTapPositions(l, g, kh, kw, [&](V in, V out, V ow) {
      V xv = b.CreateFPExt(operandOf(l, g, l.loadF32(xp, in)), l.f64);
      V gv = b.CreateFPExt(operandOf(l, g, l.loadF32(dyp, out)), l.f64);
      V slot = l.at(row, ow, l.f64);
      b.CreateStore(fmuladd(l, xv, gv, b.CreateLoad(l.f64, slot)), slot);
    });
  };
  // dw[f, c, kh, kw] = the sum of a row.
  auto finish = [&](V row, V f, V c, V kh, V kw) {
    V sum = l.reduceRange(l.constI64(g.ow), llvm::ConstantFP::get(l.f64, 0.0), [&](V i, V acc) {
      return b.CreateFAdd(acc, b.CreateLoad(l.f64, l.at(row, i, l.f64)));
    });
    V index = b.CreateAdd(
        b.CreateMul(b.CreateAdd(b.CreateMul(f, l.constI64(channels)), c), l.constI64(taps)),
        b.CreateAdd(b.CreateMul(kh, l.constI64(g.kw)), kw));
    l.storeF32(dwData, index, b.CreateFPTrunc(sum, l.f32));
  };
  auto zeroDoubles = [&](int64_t count) {
    b.CreateMemSet(scratch, b.getInt8(0), l.constI64(count * 8), llvm::MaybeAlign(64));
  };
  auto tapRow = [&](V kh, V kw) {
    return l.at(scratch,
                b.CreateMul(b.CreateAdd(b.CreateMul(kh, l.constI64(g.kw)), kw), l.constI64(g.ow)),
                l.f64);
  };

  // One task per (f, c) slice of dw: its sums keep their order.
  V slices = l.constI64(filters * channels);
  forPlanes(l, slices, b.CreateMul(batch, l.constI64(outPlane * taps)), [&](V p) {
    V f = b.CreateUDiv(p, l.constI64(channels)), c = b.CreateURem(p, l.constI64(channels));
    scratch = stackArray(l, l.f64, allTaps ? taps * g.ow : g.ow);
    if (allTaps) {
      zeroDoubles(taps * g.ow);
      forOuter(l, batch, [&](V n) {
        forOuter(l, l.constI64(g.kh), [&](V kh) {
          forOuter(l, l.constI64(g.kw), [&](V kw) { accumulate(tapRow(kh, kw), n, f, c, kh, kw); });
        });
      });
      forOuter(l, l.constI64(g.kh), [&](V kh) {
        forOuter(l, l.constI64(g.kw), [&](V kw) { finish(tapRow(kh, kw), f, c, kh, kw); });
      });
      return;
    }
    forOuter(l, l.constI64(g.kh), [&](V kh) {
      forOuter(l, l.constI64(g.kw), [&](V kw) {
        zeroDoubles(g.ow);
        forOuter(l, batch, [&](V n) { accumulate(scratch, n, f, c, kh, kw); });
        finish(scratch, f, c, kh, kw);
      });
    });
  });
}

} // namespace

void lowerConv(Lowering &l, const Node &node) {
  switch (node.op) {
  case OpKind::Conv2d:
  case OpKind::FusedConv2d:
    return lowerConv2d(l, node);
  case OpKind::Conv2dGradInput:
    return lowerConv2dGradInput(l, node);
  case OpKind::Conv2dGradFilter:
    return lowerConv2dGradFilter(l, node);
  case OpKind::MaxPool2d:
  case OpKind::AvgPool2d:
    return conv::lowerPool(l, node);
  case OpKind::MaxPool2dGrad:
    return conv::lowerMaxPoolGrad(l, node);
  case OpKind::AvgPool2dGrad:
    return conv::lowerAvgPoolGrad(l, node);
  default:
    NNC_UNHANDLED_OP(node, "lowering");
  }
}

} // namespace nnc
