/// Lowering of the Shape family: reshape is a C-order copy, so one memcpy;
/// transpose is a loop nest over the output (the innermost loop writes
/// contiguously and reads through the permuted strides of the input).
/// concat, slice, gather and their gradients view tensors as [outer,
/// extent, inner] around their axis, with the innermost loop over inner
/// (contiguous); tril/triu select per element. The ops move 4-byte
/// elements of either dtype; the gradients are f32.
#include "codegen/Layout.h"
#include "codegen/Loop.h"
#include "codegen/Lowering.h"
#include "ir/NodeAttrs.h"
#include "ir/InternalError.h"
#include "ir/SliceRange.h"

namespace nnc {

namespace {

using V = llvm::Value *;

/// The permutation of a transpose: `perm` (negative axes count from the
/// end), or the reversed axes when absent.
std::vector<size_t> permutation(const Node &n, size_t rank) {
  std::vector<size_t> perm;
  if (attr::perm(n).isNone()) {
    for (size_t i = rank; i-- > 0;)
      perm.push_back(i);
    return perm;
  }
  for (int64_t axis : attr::perm(n).asInts())
    perm.push_back(static_cast<size_t>(axis < 0 ? axis + static_cast<int64_t>(rank) : axis));
  return perm;
}

/// One element converted to `to` (the other dtype).
V convert(Lowering &l, V v, DType to) {
  if (to == DType::F32)
    return l.b.CreateSIToFP(v, l.f32);
  return l.b.CreateIntrinsic(llvm::Intrinsic::fptosi_sat, {l.i32, l.f32}, {v});
}

/// for (i = 0; i < n; ++i) body(i), where LLVM may vectorize only when
/// `vectorize` holds.
void loopOver(Lowering &l, V n, bool vectorize, const std::function<void(V)> &body) {
  buildLoop(l, l.constI64(0), n, body, vectorize ? LoopHints::vectorized() : LoopHints::scalar());
}

void copyAll(Lowering &l, ValueId from, ValueId to) {
  if (l.isImmediate(from)) {
    l.store(to, l.constI64(0), l.immediate(from));
    return;
  }
  if (l.data(from) == l.data(to)) // a reshape in place (MemoryPlan's canRunInPlace)
    return;
  l.b.CreateMemCpy(l.data(to), llvm::Align(4), l.data(from), llvm::Align(4),
                   l.b.CreateMul(l.numel(to), l.constI64(4)));
}

void lowerTranspose(Lowering &l, const Node &n) {
  ValueId x = n.operands[0], out = n.result;
  size_t rank = l.type(x).rank();
  std::vector<size_t> perm = permutation(n, rank);
  bool identity = true;
  for (size_t i = 0; i < perm.size(); ++i)
    identity = identity && perm[i] == i;
  if (rank <= 1 || identity || l.isImmediate(x))
    return copyAll(l, x, out);
  // Row-major strides of the input.
  std::vector<V> inExtents = l.shape(x);
  std::vector<V> strides(rank);
  strides[rank - 1] = l.constI64(1);
  for (size_t a = rank - 1; a-- > 0;)
    strides[a] = l.b.CreateMul(strides[a + 1], inExtents[a + 1]);
  // The innermost loop reads with stride strides[perm.back()]: vectorized only
  // when that is 1 (else LLVM makes gathers of little use, and slowly).
  bool contiguous = perm.back() == rank - 1;
  std::vector<V> extents = l.shape(out), index;
  std::function<void(size_t)> level = [&](size_t a) {
    if (a == rank) {
      V from = l.constI64(0);
      for (size_t k = 0; k < rank; ++k)
        from = l.b.CreateAdd(from, l.b.CreateMul(index[k], strides[perm[k]]));
      l.store(out, l.broadcastOffset(out, index), l.load(x, from));
      return;
    }
    loopOver(l, extents[a], contiguous, [&](V i) {
      index.push_back(i);
      level(a + 1);
      index.pop_back();
    });
  };
  // The outermost output axis as parallel rows (rank >= 2 here).
  V inner = l.b.CreateUDiv(
      l.numel(out), l.b.CreateBinaryIntrinsic(llvm::Intrinsic::umax, extents[0], l.constI64(1)));
  parallelRows(l, extents[0], inner, [&](V i) {
    index.push_back(i);
    level(1);
    index.pop_back();
  });
}

/// A value seen as [outer, extent, inner] around an axis (i64 counts).
struct AxisView {
  V outer, extent, inner;
};

AxisView viewAround(Lowering &l, ValueId v, size_t axis) {
  std::vector<V> extents = l.shape(v);
  AxisView view{l.constI64(1), extents[axis], l.constI64(1)};
  for (size_t a = 0; a < extents.size(); ++a)
    if (a != axis)
      (a < axis ? view.outer : view.inner) =
          l.b.CreateMul(a < axis ? view.outer : view.inner, extents[a]);
  return view;
}

size_t axisOf(const Node &n, size_t rank) {
  int64_t axis = attr::axis(n);
  return static_cast<size_t>(axis < 0 ? axis + static_cast<int64_t>(rank) : axis);
}

/// (i * extent + j) * inner + k
V offsetIn(Lowering &l, V i, V extent, V j, V inner, V k) {
  auto &b = l.b;
  return b.CreateAdd(b.CreateMul(b.CreateAdd(b.CreateMul(i, extent), j), inner), k);
}

/// concat: each operand's rows of extent x inner elements go to their
/// offset along the axis of the result.
void lowerConcat(Lowering &l, const Node &n) {
  size_t axis = axisOf(n, l.type(n.result).rank());
  AxisView out = viewAround(l, n.result, axis);
  int64_t offset = 0;
  for (ValueId in : n.operands) {
    AxisView v = viewAround(l, in, axis);
    V row = l.b.CreateMul(v.extent, v.inner);
    V at = l.constI64(offset);
    l.forRange(v.outer, [&](V i) {
      l.forRange(row, [&](V j) {
        V to = l.b.CreateAdd(
            l.b.CreateMul(l.b.CreateAdd(l.b.CreateMul(i, out.extent), at), out.inner), j);
        l.store(n.result, to, l.load(in, l.b.CreateAdd(l.b.CreateMul(i, row), j)));
      });
    });
    offset += l.type(in).shape[axis].size;
  }
}

SliceRange sliceOf(Lowering &l, const Node &n, ValueId sliced, size_t axis) {
  return sliceRange(l.type(sliced).shape[axis].size, attr::sliceStart(n), attr::sliceEnd(n),
                    attr::sliceStep(n));
}

/// slice (x) and slice_grad (x, dy): the element pairs x[i, start + j step,
/// k] ~ y[i, j, k]; slice copies x to y, slice_grad zeros its result and
/// copies dy back.
void lowerSlice(Lowering &l, const Node &n) {
  ValueId x = n.op == OpKind::Slice ? n.operands[0] : n.result;
  ValueId y = n.op == OpKind::Slice ? n.result : n.operands[1];
  size_t axis = axisOf(n, l.type(x).rank());
  AxisView v = viewAround(l, x, axis);
  SliceRange r = sliceOf(l, n, x, axis);
  if (n.op == OpKind::SliceGrad)
    l.zero(l.data(x), l.numel(x));
  V count = l.constI64(r.count);
  l.forRange(v.outer, [&](V i) {
    l.forRange(count, [&](V j) {
      V from = l.b.CreateAdd(l.constI64(r.start), l.b.CreateMul(j, l.constI64(r.step)));
      l.forRange(v.inner, [&](V k) {
        V xi = offsetIn(l, i, v.extent, from, v.inner, k);
        V yi = offsetIn(l, i, count, j, v.inner, k);
        if (n.op == OpKind::Slice)
          l.store(y, yi, l.load(x, xi));
        else
          l.store(x, xi, l.load(y, yi));
      });
    });
  });
}

/// tril/triu: x where column - row <= k (tril) or >= k (triu), else 0.
void lowerTriangle(Lowering &l, const Node &n) {
  ValueId x = n.operands[0];
  std::vector<V> extents = l.shape(x);
  size_t rank = extents.size();
  V rows = extents[rank - 2], cols = extents[rank - 1];
  V matrices = l.b.CreateUDiv(l.numel(x), l.b.CreateMul(rows, cols));
  V k = l.constI64(attr::diagonal(n));
  bool lower = n.op == OpKind::Tril;
  llvm::Type *elem = l.type(x).dtype == DType::I32 ? l.i32 : l.f32;
  V zero = llvm::Constant::getNullValue(elem);
  l.forNest({matrices, rows, cols}, [&](const std::vector<V> &at) {
    V index = offsetIn(l, at[0], rows, at[1], cols, at[2]);
    V diagonal = l.b.CreateSub(at[2], at[1]);
    V kept = lower ? l.b.CreateICmpSLE(diagonal, k) : l.b.CreateICmpSGE(diagonal, k);
    l.store(n.result, index, l.b.CreateSelect(kept, l.load(x, index), zero));
  });
}

/// cast: sitofp, or llvm.fptosi.sat (toward zero, saturating, NaN 0), or a
/// copy when the dtype stays.
void lowerCast(Lowering &l, const Node &n) {
  ValueId x = n.operands[0];
  DType from = l.type(x).dtype, to = l.type(n.result).dtype;
  if (from == to)
    return copyAll(l, x, n.result);
  if (l.isImmediate(x)) {
    l.store(n.result, l.constI64(0), convert(l, l.immediate(x), to));
    return;
  }
  loopOver(l, l.numel(x), true, [&](V i) { l.store(n.result, i, convert(l, l.load(x, i), to)); });
}

/// Returns kAbiBadIndex from the function when an index is outside
/// [0, extent), before anything is read with it.
void checkIndices(Lowering &l, ValueId indices, V extent) {
  l.forRange(
      l.numel(indices),
      [&](V j) {
        V at = l.b.CreateSExt(l.load(indices, j), l.i64);
        l.failIf(l.b.CreateICmpUGE(at, extent), kAbiBadIndex); // a negative one wraps above
      },
      false);
}

/// gather (x, indices) and gather_grad (x, indices, dy): the pairs
/// x[i, indices[j], k] ~ y[i, j, k]. gather copies; gather_grad zeros its
/// result and adds dy in the order of the indices (repeats accumulate, the
/// same way on every thread count: one thread).
void lowerGather(Lowering &l, const Node &n) {
  bool grad = n.op == OpKind::GatherGrad;
  ValueId x = grad ? n.result : n.operands[0];
  ValueId indices = n.operands[1];
  ValueId y = grad ? n.operands[2] : n.result;
  AxisView v = viewAround(l, x, axisOf(n, l.type(x).rank()));
  checkIndices(l, indices, v.extent);
  if (grad)
    l.zero(l.data(x), l.numel(x));
  V count = l.numel(indices);
  l.forRange(v.outer, [&](V i) {
    l.forRange(count, [&](V j) {
      V at = l.b.CreateSExt(l.load(indices, j), l.i64);
      l.forRange(v.inner, [&](V k) {
        V xi = offsetIn(l, i, v.extent, at, v.inner, k);
        V yi = offsetIn(l, i, count, j, v.inner, k);
        if (grad)
          l.store(x, xi, l.b.CreateFAdd(l.load(x, xi), l.load(y, yi)));
        else
          l.store(y, yi, l.load(x, xi));
      });
    });
  });
}

} // namespace

void lowerShapeOp(Lowering &l, const Node &n) {
  switch (n.op) {
  case OpKind::Reshape:
    return copyAll(l, n.operands[0], n.result);
  case OpKind::Transpose:
    return lowerTranspose(l, n);
  case OpKind::Concat:
    return lowerConcat(l, n);
  case OpKind::Slice:
  case OpKind::SliceGrad:
    return lowerSlice(l, n);
  case OpKind::Tril:
  case OpKind::Triu:
    return lowerTriangle(l, n);
  case OpKind::Gather:
  case OpKind::GatherGrad:
    return lowerGather(l, n);
  case OpKind::Cast:
    return lowerCast(l, n);
  default:
    NNC_UNHANDLED_OP(n, "lowering");
  }
}

} // namespace nnc
