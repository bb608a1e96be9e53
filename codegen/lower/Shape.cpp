/// Lowering of the Shape family: reshape is a C-order copy, so one memcpy;
/// transpose is a loop nest over the output (the innermost loop writes
/// contiguously and reads through the permuted strides of the input).
/// Both move 4-byte elements of either dtype.
#include "codegen/Loop.h"
#include "codegen/Lowering.h"
#include "ir/NodeAttrs.h"
#include "ir/InternalError.h"

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
  level(0);
}

} // namespace

void lowerShapeOp(Lowering &l, const Node &n) {
  switch (n.op) {
  case OpKind::Reshape:
    return copyAll(l, n.operands[0], n.result);
  case OpKind::Transpose:
    return lowerTranspose(l, n);
  default:
    NNC_UNHANDLED_OP(n, "lowering");
  }
}

} // namespace nnc
