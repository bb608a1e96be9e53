/// The register tiles of the correlation kernel (codegen/lower/ConvCorrelation.h):
/// a tile of output rows x column vectors x output channels keeps its sums in
/// registers over every tap of a group of input channels, reading the padded
/// planes that codegen/lower/ConvKernels.cpp copied; under ColumnPhases its
/// sums are interleaved into output columns as they are stored.
#include "codegen/lower/ConvCorrelation.h"
#include "codegen/lower/Bf16.h"

#include <llvm/ADT/STLExtras.h>
#include <llvm/Analysis/VectorUtils.h>

#include <map>

namespace nnc::conv::correlation {

namespace {

/// One vector of a tile: output row r0 + dr * step, columns [col, col +
/// vw), the tail (masked) when `masked`; under ColumnPhases, columns (col +
/// v) s + phase, and `masked` says the block is the row's last.
struct Spot {
  int64_t dr;
  V col;
  bool masked;
  int64_t phase;
};

/// The weight of output channel o0 + j at tap (kh, kw) of one input plane,
/// broadcast to a vector: an f32, or in bf16 a pair of channels' weights.
using TapWeight = std::function<V(int64_t j, int64_t kh, int64_t kw)>;

/// Every tap of one input plane (padded, at `pad`) into the tile's sums:
/// per tap, one load of input per vector of the tile (or fewer: under
/// ColumnPhases phases share loads), one broadcast weight per output
/// channel. In bf16 the plane holds a pair of channels, and one vdpbf16ps
/// adds both channels' products.
void taps(Lowering &l, const Block &blk, RowSet rs, const std::vector<Spot> &spots, V top, V pad,
          const TapWeight &weightAt, std::vector<std::vector<V>> &acc) {
  auto &b = l.b;
  const Correlation &k = blk.k;
  PaddedPlane pp = paddedPlane(k, blk.t.vw);
  llvm::Type *elem = k.bf16 ? l.i32 : l.f32;
  auto *vec = llvm::FixedVectorType::get(elem, blk.t.vw);
  ColumnPhases cp = columnPhases(k);
  std::map<std::pair<int64_t, V>, V> loaded; // by (offset, column)
  for (int64_t kh = 0; kh < k.kh; ++kh) {
    // Padded row r * sh + kh holds input only when it is ph modulo spreadH.
    if (rs.step > 1 && ((rs.phase + kh - k.ph) % rs.step + rs.step) % rs.step != 0)
      continue;
    for (int64_t kw = 0; kw < k.kw; ++kw) {
      std::vector<V> xs(spots.size(), nullptr); // null: the tap meets only zeros
      for (size_t i = 0; i < spots.size(); ++i) {
        const Spot &s = spots[i];
        if (cp.on() && !cp.meets(s.phase, kw))
          continue;
        int64_t column = cp.on() ? cp.column(s.phase, kw) : pp.row.at(kw);
        int64_t offset = (s.dr * rs.step * k.sh + kh) * pp.stride + column;
        V &x = loaded[{offset, s.col}];
        if (!x)
          x = b.CreateAlignedLoad(
              vec, l.at(pad, b.CreateAdd(b.CreateAdd(top, s.col), l.constI64(offset)), elem),
              llvm::Align(4));
        xs[i] = x;
      }
      if (llvm::all_of(xs, [](V x) { return x == nullptr; }))
        continue;
      for (int64_t j = 0; j < blk.count; ++j) {
        V weight = weightAt(j, kh, kw);
        for (size_t s = 0; s < spots.size(); ++s)
          if (xs[s])
            acc[j][s] = k.bf16 ? dotBf16Pairs(l, acc[j][s], weight, xs[s])
                               : fmuladd(l, weight, xs[s], acc[j][s]);
      }
    }
  }
}

/// The output vectors of a tile's spots, for its sums to start from (the
/// partial sums of earlier groups) and to be stored: a vector per spot, or
/// under ColumnPhases the s vectors of output columns that each row's s
/// phases interleave into (split into phases as they are loaded, joined as
/// they are stored). The spots of a row's phases come one after another.
struct TileOutputs {
  Lowering &l;
  const Block &blk;
  V r0;
  RowSet rs;
  const std::vector<Spot> &spots;
  ColumnPhases cp;

  /// Output column col of the tile's row dr in output channel o0 + j.
  V at(int64_t j, int64_t dr, V col) const {
    auto &b = l.b;
    V row = b.CreateAdd(r0, l.constI64(dr * rs.step));
    return l.at(blk.outs[j], b.CreateAdd(b.CreateMul(row, l.constI64(blk.k.ow)), col), l.f32);
  }
  /// The columns a vector of output channel j stores: those of spot s, or
  /// under ColumnPhases vector vi of the spot's row block.
  V columnsAt(int64_t j, const Spot &s, int64_t vi) const {
    auto &b = l.b;
    if (!cp.on())
      return at(j, s.dr, s.col);
    V first = b.CreateMul(s.col, l.constI64(cp.s));
    return at(j, s.dr, b.CreateAdd(first, l.constI64(vi * blk.t.vw)));
  }
  V maskOf(const Spot &s, int64_t vi) const {
    return !s.masked ? nullptr : cp.on() ? blk.phaseTailMasks[vi] : blk.tailMask;
  }

  std::vector<V> load(int64_t j) const {
    auto &b = l.b;
    auto vectorAt = [&](V p, V mask) {
      return mask ? V(b.CreateMaskedLoad(blk.vec, p, llvm::Align(4), mask,
                                         llvm::Constant::getNullValue(blk.vec)))
                  : V(b.CreateAlignedLoad(blk.vec, p, llvm::Align(4)));
    };
    std::vector<V> sums;
    if (!cp.on()) {
      for (const Spot &s : spots)
        sums.push_back(vectorAt(columnsAt(j, s, 0), maskOf(s, 0)));
      return sums;
    }
    unsigned lanes = blk.t.vw, phases = static_cast<unsigned>(cp.s);
    for (size_t i = 0; i < spots.size(); i += phases) {
      std::vector<V> woven;
      for (int64_t vi = 0; vi < cp.s; ++vi)
        woven.push_back(vectorAt(columnsAt(j, spots[i], vi), maskOf(spots[i], vi)));
      V all = llvm::concatenateVectors(b, woven);
      for (unsigned q = 0; q < phases; ++q)
        sums.push_back(b.CreateShuffleVector(all, llvm::createStrideMask(q, phases, lanes)));
    }
    return sums;
  }

  void store(int64_t j, const std::vector<V> &sums) const {
    auto &b = l.b;
    auto storeAt = [&](V v, V p, V mask) {
      if (mask)
        b.CreateMaskedStore(v, p, llvm::Align(4), mask);
      else
        b.CreateAlignedStore(v, p, llvm::Align(4));
    };
    if (!cp.on()) {
      for (size_t s = 0; s < spots.size(); ++s)
        storeAt(sums[s], columnsAt(j, spots[s], 0), maskOf(spots[s], 0));
      return;
    }
    unsigned lanes = blk.t.vw, phases = static_cast<unsigned>(cp.s);
    for (size_t i = 0; i < spots.size(); i += phases) {
      V all = llvm::concatenateVectors(b, llvm::ArrayRef<V>(sums).slice(i, phases));
      V woven = b.CreateShuffleVector(all, llvm::createInterleaveMask(lanes, phases));
      for (unsigned vi = 0; vi < phases; ++vi)
        storeAt(b.CreateShuffleVector(woven, llvm::createSequentialMask(vi * lanes, lanes, 0)),
                columnsAt(j, spots[i], vi), maskOf(spots[i], vi));
    }
  }
};

/// The tile at rows r0 + dr for the input channels g0 .. g0 + gCount - 1
/// (padded planes 0 .. gCount - 1 of the buffer): start from the bias (the
/// first group) or the partial sums, add every tap of every channel, store.
void tile(Lowering &l, const Block &blk, V g0, V gCount, GroupEnds ends, V r0, RowSet rs,
          const std::vector<Spot> &spots) {
  auto &b = l.b;
  const Correlation &k = blk.k;
  PaddedPlane pp = paddedPlane(k, blk.t.vw);
  TileOutputs outputs{l, blk, r0, rs, spots, columnPhases(k)};
  // The sums cross the channel loop in allocas (mem2reg makes them phis).
  llvm::IRBuilder<> eb(&l.fn->getEntryBlock(), l.fn->getEntryBlock().begin());
  std::vector<std::vector<llvm::AllocaInst *>> slots(blk.count);
  for (int64_t j = 0; j < blk.count; ++j) {
    std::vector<V> init;
    if (ends.first)
      init.assign(spots.size(),
                  b.CreateVectorSplat(blk.t.vw, k.bias ? k.bias(b.CreateAdd(blk.o0, l.constI64(j)))
                                                       : l.constF32(0.0)));
    else
      init = outputs.load(j);
    for (V v : init) {
      slots[j].push_back(eb.CreateAlloca(blk.vec));
      b.CreateStore(v, slots[j].back());
    }
  }
  auto loadAll = [&] {
    std::vector<std::vector<V>> acc(blk.count);
    for (int64_t j = 0; j < blk.count; ++j)
      for (llvm::AllocaInst *slot : slots[j])
        acc[j].push_back(b.CreateLoad(blk.vec, slot));
    return acc;
  };
  V top = b.CreateMul(b.CreateMul(r0, l.constI64(k.sh)), l.constI64(pp.stride));
  forOuter(l, gCount, [&](V il) {
    std::vector<std::vector<V>> acc = loadAll();
    V pad = l.at(blk.pad, b.CreateMul(il, l.constI64(pp.plane())), l.f32);
    V wBase = k.bf16 ? nullptr : k.weightBase(blk.o0, b.CreateAdd(g0, il));
    TapWeight weightAt = [&](int64_t j, int64_t kh, int64_t kw) {
      if (!k.bf16)
        return b.CreateVectorSplat(blk.t.vw,
                                   l.loadF32(wBase, l.constI64(k.weightOffset(j, kh, kw))));
      V at = b.CreateAdd(b.CreateMul(b.CreateAdd(b.CreateMul(l.constI64(j), blk.groupPlanes), il),
                                     l.constI64(k.kh * k.kw)),
                         l.constI64(kh * k.kw + kw));
      return b.CreateVectorSplat(blk.t.vw, b.CreateLoad(l.i32, l.at(blk.weightPairs, at, l.i32)));
    };
    taps(l, blk, rs, spots, top, pad, weightAt, acc);
    for (int64_t j = 0; j < blk.count; ++j)
      for (size_t s = 0; s < spots.size(); ++s)
        b.CreateStore(acc[j][s], slots[j][s]);
  });
  std::vector<std::vector<V>> acc = loadAll();
  for (int64_t j = 0; j < blk.count; ++j) {
    if (ends.last && k.finish)
      for (V &sums : acc[j])
        sums = k.finish(sums);
    outputs.store(j, acc[j]);
  }
}

} // namespace

/// Output rows r0 .. r0 + rows - 1 for a group of input channels, across
/// the width: pairs of whole vectors in a loop, then the rest (a whole
/// vector and/or the masked tail) as one tile; under ColumnPhases, a tile
/// per block of the phases' columns.
void rowTiles(Lowering &l, const Block &blk, V g0, V gCount, GroupEnds ends, V r0, RowSet rs,
              int64_t rows) {
  auto &b = l.b;
  unsigned vw = blk.t.vw;
  ColumnPhases cp = columnPhases(blk.k);
  if (cp.on()) { // blocks of vw columns of each phase, the last masked
    auto phaseSpots = [&](V m0, bool masked) {
      std::vector<Spot> spots;
      for (int64_t dr = 0; dr < rows; ++dr)
        for (int64_t q = 0; q < cp.s; ++q)
          spots.push_back(Spot{dr, m0, masked, q});
      return spots;
    };
    int64_t full = blk.k.ow / (cp.s * vw);
    if (full > 0)
      forOuter(l, l.constI64(full), [&](V i) {
        tile(l, blk, g0, gCount, ends, r0, rs, phaseSpots(b.CreateMul(i, l.constI64(vw)), false));
      });
    if (blk.k.ow % (cp.s * vw))
      tile(l, blk, g0, gCount, ends, r0, rs, phaseSpots(l.constI64(full * vw), true));
    return;
  }
  int64_t full = blk.k.ow / vw, tail = blk.k.ow % vw;
  auto spotsAt = [&](std::vector<std::pair<V, bool>> cols) {
    std::vector<Spot> spots;
    for (int64_t dr = 0; dr < rows; ++dr)
      for (auto [col, masked] : cols)
        spots.push_back(Spot{dr, col, masked, 0});
    return spots;
  };
  if (full >= 2)
    forOuter(l, l.constI64(full / 2), [&](V q) {
      V col = b.CreateMul(q, l.constI64(2 * vw));
      tile(l, blk, g0, gCount, ends, r0, rs,
           spotsAt({{col, false}, {b.CreateAdd(col, l.constI64(vw)), false}}));
    });
  std::vector<std::pair<V, bool>> rest;
  if (full % 2)
    rest.push_back({l.constI64((full - 1) * vw), false});
  if (tail)
    rest.push_back({l.constI64(full * vw), true});
  if (!rest.empty())
    tile(l, blk, g0, gCount, ends, r0, rs, spotsAt(rest));
}

} // namespace nnc::conv::correlation
