/// dropout's mask: a counter-based hash of (seed, training step, element
/// index), so that the same element of the same step is kept or dropped on
/// every thread count, machine and engine, and the backward pass recomputes
/// the mask instead of storing it. codegen/lower/Elementwise.cpp emits the
/// same arithmetic in LLVM IR.
#pragma once

#include <cstdint>

namespace nnc {

/// A 32-bit integer hash with good avalanche (Chris Wellons' lowbias32).
inline uint32_t mixBits(uint32_t x) {
  x ^= x >> 16;
  x *= 0x7feb352dU;
  x ^= x >> 15;
  x *= 0x846ca68bU;
  x ^= x >> 16;
  return x;
}

/// The seed's 64 bits folded into 32.
inline uint32_t dropoutSeedBits(int64_t seed) {
  uint64_t bits = static_cast<uint64_t>(seed);
  return static_cast<uint32_t>(bits) ^ mixBits(static_cast<uint32_t>(bits >> 32));
}

/// The key of one step's mask.
inline uint32_t dropoutKey(int64_t seed, int32_t step) {
  return mixBits(dropoutSeedBits(seed) * 0x9e3779b9U + mixBits(static_cast<uint32_t>(step)));
}

/// 24 random bits of element `index` under `key`, as a number in [0, 1).
inline float dropoutUniform(uint32_t key, int64_t index) {
  uint32_t i = static_cast<uint32_t>(index) ^ mixBits(static_cast<uint32_t>(index >> 32));
  uint32_t bits = mixBits(mixBits(i ^ key) + key);
  return static_cast<float>(bits >> 8) * 0x1p-24f;
}

/// Whether the element is kept: its uniform number is at least p.
inline bool dropoutKeeps(uint32_t key, int64_t index, float p) {
  return dropoutUniform(key, index) >= p;
}

} // namespace nnc
