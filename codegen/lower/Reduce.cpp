/// Lowering of the Reduce family: sum, mean, max over an axes set (and
/// their gradients), argmax, softmax and log_softmax (and their gradients).
///
/// The input is seen as [outer, R, inner] when the reduced axes are
/// contiguous (dims of static extent 1 ignored): with inner = 1 each row is
/// reduced by a carried accumulator (sums in f64, reassociable so the
/// vectorizer takes them); otherwise columns are reduced across rows, a block
/// of at most kBlock columns at a time into a stack scratch, with the
/// innermost loop running over the block's columns. Other axes sets fall
/// back to one scalar nest per output element.
#include "codegen/Lowering.h"
#include "ir/NodeAttrs.h"
#include "ir/InternalError.h"

#include <limits>
#include <optional>

namespace nnc {

namespace {

using V = llvm::Value *;

/// Columns per block of the column paths (scratch of kBlock f64 or f32 each).
constexpr int64_t kBlock = 256;

/// Dims (static 1 dropped, neighbours with the same flag merged) with their
/// stride in the input.
struct Group {
  V extent;
  V stride;
  bool reduced;
};

std::vector<bool> reducedAxes(const AttrValue &axes, size_t rank) {
  if (axes.isNone())
    return std::vector<bool>(rank, true);
  std::vector<bool> reduced(rank, false);
  for (int64_t axis : axes.asInts())
    reduced[static_cast<size_t>(axis < 0 ? axis + static_cast<int64_t>(rank) : axis)] = true;
  return reduced;
}

std::vector<Group> groupsOf(Lowering &l, ValueId x, const std::vector<bool> &reduced) {
  const Shape &s = l.type(x).shape;
  std::vector<Group> groups;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i].isOne())
      continue;
    V d = l.dim(s[i]);
    if (!groups.empty() && groups.back().reduced == reduced[i])
      groups.back().extent = l.b.CreateMul(groups.back().extent, d);
    else
      groups.push_back({d, nullptr, reduced[i]});
  }
  V stride = l.constI64(1);
  for (size_t i = groups.size(); i-- > 0;) {
    groups[i].stride = stride;
    stride = l.b.CreateMul(stride, groups[i].extent);
  }
  return groups;
}

/// [outer, R, inner] of a contiguous reduction; `rows` when inner is 1.
struct View {
  V outer, n, inner;
  bool rows;
};

/// The view when at most one group is reduced.
std::optional<View> viewOf(Lowering &l, const std::vector<Group> &groups) {
  View v{l.constI64(1), l.constI64(1), l.constI64(1), true};
  int seen = 0; // 0: before the reduced group, 1: after it
  for (const Group &g : groups) {
    if (g.reduced) {
      if (seen)
        return std::nullopt;
      v.n = g.extent;
      seen = 1;
    } else if (seen) {
      v.inner = l.b.CreateMul(v.inner, g.extent);
      v.rows = false;
    } else {
      v.outer = l.b.CreateMul(v.outer, g.extent);
    }
  }
  return v;
}

/// The view of one axis of a value: [dims before, the axis, dims after].
View axisView(Lowering &l, ValueId x, int64_t axis) {
  const Shape &s = l.type(x).shape;
  if (axis < 0)
    axis += static_cast<int64_t>(s.size());
  View v{l.constI64(1), l.constI64(1), l.constI64(1), true};
  for (int64_t i = 0; i < static_cast<int64_t>(s.size()); ++i) {
    const Dim &d = s[static_cast<size_t>(i)];
    if (i < axis) {
      v.outer = l.b.CreateMul(v.outer, l.dim(d));
    } else if (i == axis) {
      v.n = l.dim(d);
    } else if (!d.isOne()) {
      v.inner = l.b.CreateMul(v.inner, l.dim(d));
      v.rows = false;
    }
  }
  return v;
}

/// A loop the vectorizer is not asked to take (it holds other loops).
void loop(Lowering &l, V n, const std::function<void(V)> &body) { l.forRange(n, body, false); }

/// sum over k < n of body(k), accumulated in f64; the adds may be
/// reassociated, so the vectorizer takes the loop.
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

/// max over k < n of body(k); a NaN wins, as in PyTorch.
V maxF32(Lowering &l, V n, const std::function<V(V)> &body) {
  return l.reduceRange(n, l.constF32(-std::numeric_limits<double>::infinity()), [&](V k, V acc) {
    return l.intrinsic(llvm::Intrinsic::maximum, {acc, body(k)});
  });
}

/// Number of k < n with pred(k), as i64.
V countIf(Lowering &l, V n, const std::function<V(V)> &pred) {
  return l.reduceRange(n, l.constI64(0), [&](V k, V acc) {
    return l.b.CreateAdd(acc, l.b.CreateZExt(pred(k), l.i64));
  });
}

/// An array of `count` elements on the stack, allocated once in the entry
/// block.
V scratch(Lowering &l, llvm::Type *elem, int64_t count) {
  llvm::BasicBlock &entry = l.fn->getEntryBlock();
  llvm::IRBuilder<> b(&entry, entry.begin());
  auto *a = b.CreateAlloca(llvm::ArrayType::get(elem, static_cast<uint64_t>(count)));
  a->setAlignment(llvm::Align(64));
  return a;
}

/// For each block of at most kBlock of `inner` columns: body(first, width).
void columnBlocks(Lowering &l, V inner, const std::function<void(V, V)> &body) {
  V blocks = l.b.CreateUDiv(l.b.CreateAdd(inner, l.constI64(kBlock - 1)), l.constI64(kBlock));
  loop(l, blocks, [&](V blk) {
    V first = l.b.CreateMul(blk, l.constI64(kBlock));
    V rest = l.b.CreateSub(inner, first);
    V width =
        l.b.CreateSelect(l.b.CreateICmpSLT(rest, l.constI64(kBlock)), rest, l.constI64(kBlock));
    body(first, width);
  });
}

V loadAt(Lowering &l, llvm::Type *t, V base, V i) { return l.b.CreateLoad(t, l.at(base, i, t)); }
void storeAt(Lowering &l, llvm::Type *t, V base, V i, V x) { l.b.CreateStore(x, l.at(base, i, t)); }

V toF32(Lowering &l, V x) { return x->getType() == l.f32 ? x : l.b.CreateFPTrunc(x, l.f32); }
V negInf(Lowering &l) { return l.constF32(-std::numeric_limits<double>::infinity()); }

/// Flat index of element (o, k, i) of a view.
V at3(Lowering &l, const View &v, V o, V k, V i) {
  return l.b.CreateAdd(l.b.CreateMul(l.b.CreateAdd(l.b.CreateMul(o, v.n), k), v.inner), i);
}

/// The product of the reduced groups' extents.
V reducedCount(Lowering &l, const std::vector<Group> &groups) {
  V count = l.constI64(1);
  for (const Group &g : groups)
    if (g.reduced)
      count = l.b.CreateMul(count, g.extent);
  return count;
}

/// Scalar nest over the kept groups: body(offset of the kept element in x,
/// its flat index in the output).
void keptNest(Lowering &l, const std::vector<Group> &groups,
              const std::function<void(V, V)> &body) {
  std::vector<const Group *> kept;
  for (const Group &g : groups)
    if (!g.reduced)
      kept.push_back(&g);
  std::function<void(size_t, V, V)> level = [&](size_t k, V offset, V flat) {
    if (k == kept.size())
      return body(offset, flat);
    loop(l, kept[k]->extent, [&](V i) {
      level(k + 1, l.b.CreateAdd(offset, l.b.CreateMul(i, kept[k]->stride)),
            l.b.CreateAdd(l.b.CreateMul(flat, kept[k]->extent), i));
    });
  };
  level(0, l.constI64(0), l.constI64(0));
}

/// The kept elements as parallel tasks (when the whole reduction is worth
/// it): body(offset of the element's first input, its flat output index).
/// Each output is one task's, so any thread count gives the same bits.
void keptTasks(Lowering &l, const std::vector<Group> &groups, V reducedCount,
               const std::function<void(V, V)> &body) {
  auto &b = l.b;
  std::vector<const Group *> kept;
  V count = l.constI64(1);
  for (const Group &g : groups)
    if (!g.reduced) {
      kept.push_back(&g);
      count = b.CreateMul(count, g.extent);
    }
  V worthIt = b.CreateICmpUGE(b.CreateMul(count, reducedCount), l.constI64(int64_t{1} << 15));
  parallelFor(l, count, worthIt, [&](V flat) {
    V offset = l.constI64(0), rest = flat;
    for (size_t k = kept.size(); k-- > 0;) {
      V i = b.CreateURem(rest, kept[k]->extent);
      rest = b.CreateUDiv(rest, kept[k]->extent);
      offset = b.CreateAdd(offset, b.CreateMul(i, kept[k]->stride));
    }
    body(offset, flat);
  });
}

/// Reduction over the reduced groups from `base`: acc = step(offset, acc).
V reducedNest(Lowering &l, const std::vector<Group> &groups, V base, V init,
              const std::function<V(V, V)> &step) {
  std::vector<const Group *> red;
  for (const Group &g : groups)
    if (g.reduced)
      red.push_back(&g);
  std::function<V(size_t, V, V)> level = [&](size_t k, V offset, V acc) -> V {
    if (k == red.size())
      return step(offset, acc);
    return l.reduceRange(red[k]->extent, acc, [&](V i, V a) {
      return level(k + 1, l.b.CreateAdd(offset, l.b.CreateMul(i, red[k]->stride)), a);
    });
  };
  return level(0, base, init);
}

/// Visits every element of the reduced groups from `base`.
void reducedVisit(Lowering &l, const std::vector<Group> &groups, V base,
                  const std::function<void(V)> &body) {
  std::vector<const Group *> red;
  for (const Group &g : groups)
    if (g.reduced)
      red.push_back(&g);
  std::function<void(size_t, V)> level = [&](size_t k, V offset) {
    if (k == red.size())
      return body(offset);
    l.forRange(
        red[k]->extent,
        [&](V i) { level(k + 1, l.b.CreateAdd(offset, l.b.CreateMul(i, red[k]->stride))); },
        k + 1 == red.size());
  };
  level(0, base);
}

// ---- sum, mean, max ---------------------------------------------------------------

void lowerReduction(Lowering &l, const Node &n) {
  auto &b = l.b;
  ValueId x = n.operands[0], out = n.result;
  std::vector<Group> groups = groupsOf(l, x, reducedAxes(attr::axes(n), l.type(x).rank()));
  bool isMax = n.op == OpKind::Max;
  V count = reducedCount(l, groups);
  if (isMax) // no identity: an error over no elements, as in the interpreter
    l.failIf(b.CreateICmpEQ(count, l.constI64(0)), kAbiEmptyReduction);
  V countF = b.CreateSIToFP(count, l.f64);
  auto finish = [&](V acc) { // f64 sum or f32 max -> f32 result
    if (isMax)
      return acc;
    return toF32(l, n.op == OpKind::Mean ? b.CreateFDiv(acc, countF) : acc);
  };
  std::optional<View> view = viewOf(l, groups);
  if (!view) { // scattered axes ([N, C, H, W] over N, H, W): a task per output element
    keptTasks(l, groups, count, [&](V base, V flat) {
      V init = isMax ? negInf(l) : llvm::ConstantFP::get(l.f64, 0.0);
      V acc = reducedNest(l, groups, base, init, [&](V off, V a) {
        V v = l.load(x, off);
        if (isMax)
          return l.intrinsic(llvm::Intrinsic::maximum, {a, v});
        // Reassociable: the vectorizer takes the innermost (contiguous) axis.
        V sum = b.CreateFAdd(a, b.CreateFPExt(v, l.f64));
        llvm::cast<llvm::Instruction>(sum)->setHasAllowReassoc(true);
        return sum;
      });
      l.store(out, flat, finish(acc));
    });
    return;
  }
  const View &v = *view;
  if (v.rows) {
    loop(l, v.outer, [&](V o) {
      V base = b.CreateMul(o, v.n);
      auto elem = [&](V k) { return l.load(x, b.CreateAdd(base, k)); };
      l.store(out, o, finish(isMax ? maxF32(l, v.n, elem) : sumF64(l, v.n, elem)));
    });
    return;
  }
  V acc = scratch(l, isMax ? l.f32 : l.f64, kBlock);
  llvm::Type *accType = isMax ? l.f32 : l.f64;
  loop(l, v.outer, [&](V o) {
    columnBlocks(l, v.inner, [&](V first, V width) {
      l.forRange(width, [&](V j) {
        storeAt(l, accType, acc, j, isMax ? negInf(l) : llvm::ConstantFP::get(l.f64, 0.0));
      });
      loop(l, v.n, [&](V k) {
        V row = at3(l, v, o, k, first);
        l.forRange(width, [&](V j) {
          V a = loadAt(l, accType, acc, j);
          V e = l.load(x, b.CreateAdd(row, j));
          V r = isMax ? l.intrinsic(llvm::Intrinsic::maximum, {a, e})
                      : b.CreateFAdd(a, b.CreateFPExt(e, l.f64));
          storeAt(l, accType, acc, j, r);
        });
      });
      V outRow = b.CreateAdd(b.CreateMul(o, v.inner), first);
      l.forRange(width, [&](V j) {
        l.store(out, b.CreateAdd(outRow, j), finish(loadAt(l, accType, acc, j)));
      });
    });
  });
}

/// sum_grad, mean_grad (x, dy): each element gets its output's gradient
/// (divided by the count for mean).
void lowerSumMeanGrad(Lowering &l, const Node &n) {
  auto &b = l.b;
  ValueId x = n.operands[0], dy = n.operands[1], out = n.result;
  std::vector<Group> groups = groupsOf(l, x, reducedAxes(attr::axes(n), l.type(x).rank()));
  V countF = b.CreateSIToFP(reducedCount(l, groups), l.f32);
  bool mean = n.op == OpKind::MeanGrad;
  if (groups.empty())
    groups.push_back({l.constI64(1), l.constI64(1), false});
  std::vector<V> extents;
  for (const Group &g : groups)
    extents.push_back(g.extent);
  l.forNest(extents, [&](const std::vector<V> &index) {
    V flat = l.constI64(0), kept = l.constI64(0);
    for (size_t i = 0; i < groups.size(); ++i) {
      flat = b.CreateAdd(b.CreateMul(flat, groups[i].extent), index[i]);
      if (!groups[i].reduced)
        kept = b.CreateAdd(b.CreateMul(kept, groups[i].extent), index[i]);
    }
    V g = l.load(dy, kept);
    l.store(out, flat, mean ? b.CreateFDiv(g, countF) : g);
  });
}

/// max_grad (x, dy): dy to the elements equal to their output's max, split
/// evenly among ties.
void lowerMaxGrad(Lowering &l, const Node &n) {
  auto &b = l.b;
  ValueId x = n.operands[0], dy = n.operands[1], out = n.result;
  std::vector<Group> groups = groupsOf(l, x, reducedAxes(attr::axes(n), l.type(x).rank()));
  V zero = l.constF32(0);
  std::optional<View> view = viewOf(l, groups);
  if (!view) {
    keptNest(l, groups, [&](V base, V flat) {
      V m = reducedNest(l, groups, base, negInf(l), [&](V off, V a) {
        return l.intrinsic(llvm::Intrinsic::maximum, {a, l.load(x, off)});
      });
      V ties = reducedNest(l, groups, base, l.constI64(0), [&](V off, V a) {
        return b.CreateAdd(a, b.CreateZExt(b.CreateFCmpOEQ(l.load(x, off), m), l.i64));
      });
      V g = b.CreateFDiv(l.load(dy, flat), b.CreateSIToFP(ties, l.f32));
      reducedVisit(l, groups, base, [&](V off) {
        l.store(out, off, b.CreateSelect(b.CreateFCmpOEQ(l.load(x, off), m), g, zero));
      });
    });
    return;
  }
  const View &v = *view;
  if (v.rows) {
    loop(l, v.outer, [&](V o) {
      V base = b.CreateMul(o, v.n);
      auto elem = [&](V k) { return l.load(x, b.CreateAdd(base, k)); };
      V m = maxF32(l, v.n, elem);
      V ties = countIf(l, v.n, [&](V k) { return b.CreateFCmpOEQ(elem(k), m); });
      V g = b.CreateFDiv(l.load(dy, o), b.CreateSIToFP(ties, l.f32));
      l.forRange(v.n, [&](V k) {
        l.store(out, b.CreateAdd(base, k), b.CreateSelect(b.CreateFCmpOEQ(elem(k), m), g, zero));
      });
    });
    return;
  }
  V mx = scratch(l, l.f32, kBlock), ties = scratch(l, l.f32, kBlock);
  loop(l, v.outer, [&](V o) {
    columnBlocks(l, v.inner, [&](V first, V width) {
      l.forRange(width, [&](V j) {
        storeAt(l, l.f32, mx, j, negInf(l));
        storeAt(l, l.f32, ties, j, zero);
      });
      loop(l, v.n, [&](V k) {
        V row = at3(l, v, o, k, first);
        l.forRange(width, [&](V j) {
          V e = l.load(x, b.CreateAdd(row, j));
          storeAt(l, l.f32, mx, j,
                  l.intrinsic(llvm::Intrinsic::maximum, {loadAt(l, l.f32, mx, j), e}));
        });
      });
      loop(l, v.n, [&](V k) {
        V row = at3(l, v, o, k, first);
        l.forRange(width, [&](V j) {
          V hit = b.CreateFCmpOEQ(l.load(x, b.CreateAdd(row, j)), loadAt(l, l.f32, mx, j));
          V t = loadAt(l, l.f32, ties, j); // counts stay exact in f32 below 2^24
          storeAt(l, l.f32, ties, j, b.CreateFAdd(t, b.CreateSelect(hit, l.constF32(1), zero)));
        });
      });
      V dyRow = b.CreateAdd(b.CreateMul(o, v.inner), first);
      loop(l, v.n, [&](V k) {
        V row = at3(l, v, o, k, first);
        l.forRange(width, [&](V j) {
          V hit = b.CreateFCmpOEQ(l.load(x, b.CreateAdd(row, j)), loadAt(l, l.f32, mx, j));
          V g = b.CreateFDiv(l.load(dy, b.CreateAdd(dyRow, j)), loadAt(l, l.f32, ties, j));
          l.store(out, b.CreateAdd(row, j), b.CreateSelect(hit, g, zero));
        });
      });
    });
  });
}

// ---- argmax -------------------------------------------------------------------------

/// The first index of the max; a NaN counts as largest (the first NaN wins).
void lowerArgMax(Lowering &l, const Node &n) {
  auto &b = l.b;
  ValueId x = n.operands[0], out = n.result;
  View v = axisView(l, x, attr::axis(n));
  l.failIf(b.CreateICmpEQ(v.n, l.constI64(0)), kAbiEmptyReduction);
  // Element k matches the max m when equal to it, or when both are NaN (a
  // NaN max means some element is NaN; otherwise no element is).
  auto matches = [&](V e, V m) { return b.CreateOr(b.CreateFCmpUNO(e, e), b.CreateFCmpOEQ(e, m)); };
  if (v.rows) {
    loop(l, v.outer, [&](V o) {
      V base = b.CreateMul(o, v.n);
      auto elem = [&](V k) { return l.load(x, b.CreateAdd(base, k)); };
      V m = maxF32(l, v.n, elem);
      V first = l.reduceRange(v.n, v.n, [&](V k, V acc) {
        V cand = b.CreateSelect(matches(elem(k), m), k, v.n);
        return b.CreateSelect(b.CreateICmpSLT(cand, acc), cand, acc);
      });
      l.store(out, o, b.CreateTrunc(first, l.i32));
    });
    return;
  }
  V mx = scratch(l, l.f32, kBlock);
  V n32 = b.CreateTrunc(v.n, l.i32);
  loop(l, v.outer, [&](V o) {
    columnBlocks(l, v.inner, [&](V first, V width) {
      V outRow = b.CreateAdd(b.CreateMul(o, v.inner), first);
      l.forRange(width, [&](V j) {
        storeAt(l, l.f32, mx, j, negInf(l));
        l.store(out, b.CreateAdd(outRow, j), n32);
      });
      loop(l, v.n, [&](V k) {
        V row = at3(l, v, o, k, first);
        l.forRange(width, [&](V j) {
          V e = l.load(x, b.CreateAdd(row, j));
          storeAt(l, l.f32, mx, j,
                  l.intrinsic(llvm::Intrinsic::maximum, {loadAt(l, l.f32, mx, j), e}));
        });
      });
      loop(l, v.n, [&](V k) {
        V row = at3(l, v, o, k, first);
        V k32 = b.CreateTrunc(k, l.i32);
        l.forRange(width, [&](V j) {
          V hit = matches(l.load(x, b.CreateAdd(row, j)), loadAt(l, l.f32, mx, j));
          V cur = l.load(out, b.CreateAdd(outRow, j));
          V cand = b.CreateSelect(hit, k32, n32);
          l.store(out, b.CreateAdd(outRow, j),
                  b.CreateSelect(b.CreateICmpSLT(cand, cur), cand, cur));
        });
      });
    });
  });
}

// ---- softmax, log_softmax --------------------------------------------------------------

void lowerSoftmax(Lowering &l, const Node &n) {
  auto &b = l.b;
  ValueId x = n.operands[0], out = n.result;
  View v = axisView(l, x, attr::axis(n));
  bool logForm = n.op == OpKind::LogSoftmax;
  if (v.rows) {
    parallelRows(l, v.outer, v.n, [&](V o) {
      V base = b.CreateMul(o, v.n);
      auto elem = [&](V k) { return l.load(x, b.CreateAdd(base, k)); };
      V m = maxF32(l, v.n, elem);
      V sum = sumF64(l, v.n, [&](V k) {
        V e = l.expNonPositive(b.CreateFSub(elem(k), m));
        if (!logForm)
          l.store(out, b.CreateAdd(base, k), e);
        return e;
      });
      if (logForm) {
        V logSum = toF32(l, l.log(sum));
        l.forRange(v.n, [&](V k) {
          l.store(out, b.CreateAdd(base, k), b.CreateFSub(b.CreateFSub(elem(k), m), logSum));
        });
      } else {
        V s = toF32(l, sum);
        l.forRange(v.n, [&](V k) {
          V i = b.CreateAdd(base, k);
          l.store(out, i, b.CreateFDiv(l.load(out, i), s));
        });
      }
    });
    return;
  }
  V mx = scratch(l, l.f32, kBlock), sums = scratch(l, l.f32, kBlock);
  V acc = scratch(l, l.f64, kBlock);
  loop(l, v.outer, [&](V o) {
    columnBlocks(l, v.inner, [&](V first, V width) {
      l.forRange(width, [&](V j) {
        storeAt(l, l.f32, mx, j, negInf(l));
        storeAt(l, l.f64, acc, j, llvm::ConstantFP::get(l.f64, 0.0));
      });
      loop(l, v.n, [&](V k) {
        V row = at3(l, v, o, k, first);
        l.forRange(width, [&](V j) {
          V e = l.load(x, b.CreateAdd(row, j));
          storeAt(l, l.f32, mx, j,
                  l.intrinsic(llvm::Intrinsic::maximum, {loadAt(l, l.f32, mx, j), e}));
        });
      });
      loop(l, v.n, [&](V k) {
        V row = at3(l, v, o, k, first);
        l.forRange(width, [&](V j) {
          V e = l.expNonPositive(
              b.CreateFSub(l.load(x, b.CreateAdd(row, j)), loadAt(l, l.f32, mx, j)));
          storeAt(l, l.f64, acc, j,
                  b.CreateFAdd(loadAt(l, l.f64, acc, j), b.CreateFPExt(e, l.f64)));
        });
      });
      l.forRange(width, [&](V j) {
        V s = loadAt(l, l.f64, acc, j);
        storeAt(l, l.f32, sums, j, toF32(l, logForm ? l.log(s) : s));
      });
      loop(l, v.n, [&](V k) {
        V row = at3(l, v, o, k, first);
        l.forRange(width, [&](V j) {
          V shifted = b.CreateFSub(l.load(x, b.CreateAdd(row, j)), loadAt(l, l.f32, mx, j));
          V s = loadAt(l, l.f32, sums, j);
          l.store(out, b.CreateAdd(row, j),
                  logForm ? b.CreateFSub(shifted, s) : b.CreateFDiv(l.expNonPositive(shifted), s));
        });
      });
    });
  });
}

/// softmax_grad (y, dy): y (dy - sum(dy y)); log_softmax_grad (y, dy):
/// dy - exp(y) sum(dy).
void lowerSoftmaxGrad(Lowering &l, const Node &n) {
  auto &b = l.b;
  ValueId y = n.operands[0], dy = n.operands[1], out = n.result;
  View v = axisView(l, y, attr::axis(n));
  bool logForm = n.op == OpKind::LogSoftmaxGrad;
  auto term = [&](V yi, V gi) { // f64 term of the dot
    V g = b.CreateFPExt(gi, l.f64);
    return logForm ? g : b.CreateFMul(g, b.CreateFPExt(yi, l.f64));
  };
  auto result = [&](V yi, V gi, V dot) {
    return logForm ? b.CreateFSub(gi, b.CreateFMul(l.exp(yi), dot))
                   : b.CreateFMul(yi, b.CreateFSub(gi, dot));
  };
  if (v.rows) {
    parallelRows(l, v.outer, v.n, [&](V o) {
      V base = b.CreateMul(o, v.n);
      V dot = toF32(l, sumF64(l, v.n, [&](V k) {
                      V i = b.CreateAdd(base, k);
                      return term(l.load(y, i), l.load(dy, i));
                    }));
      l.forRange(v.n, [&](V k) {
        V i = b.CreateAdd(base, k);
        l.store(out, i, result(l.load(y, i), l.load(dy, i), dot));
      });
    });
    return;
  }
  V acc = scratch(l, l.f64, kBlock), dots = scratch(l, l.f32, kBlock);
  loop(l, v.outer, [&](V o) {
    columnBlocks(l, v.inner, [&](V first, V width) {
      l.forRange(width, [&](V j) { storeAt(l, l.f64, acc, j, llvm::ConstantFP::get(l.f64, 0.0)); });
      loop(l, v.n, [&](V k) {
        V row = at3(l, v, o, k, first);
        l.forRange(width, [&](V j) {
          V i = b.CreateAdd(row, j);
          storeAt(l, l.f64, acc, j,
                  b.CreateFAdd(loadAt(l, l.f64, acc, j), term(l.load(y, i), l.load(dy, i))));
        });
      });
      l.forRange(width,
                 [&](V j) { storeAt(l, l.f32, dots, j, toF32(l, loadAt(l, l.f64, acc, j))); });
      loop(l, v.n, [&](V k) {
        V row = at3(l, v, o, k, first);
        l.forRange(width, [&](V j) {
          V i = b.CreateAdd(row, j);
          l.store(out, i, result(l.load(y, i), l.load(dy, i), loadAt(l, l.f32, dots, j)));
        });
      });
    });
  });
}

} // namespace

void lowerReduce(Lowering &l, const Node &n) {
  switch (n.op) {
  case OpKind::Sum:
  case OpKind::Mean:
  case OpKind::Max:
    return lowerReduction(l, n);
  case OpKind::SumGrad:
  case OpKind::MeanGrad:
    return lowerSumMeanGrad(l, n);
  case OpKind::MaxGrad:
    return lowerMaxGrad(l, n);
  case OpKind::ArgMax:
    return lowerArgMax(l, n);
  case OpKind::Softmax:
  case OpKind::LogSoftmax:
    return lowerSoftmax(l, n);
  case OpKind::SoftmaxGrad:
  case OpKind::LogSoftmaxGrad:
    return lowerSoftmaxGrad(l, n);
  default:
    NNC_UNHANDLED_OP(n, "lowering");
  }
}

} // namespace nnc
