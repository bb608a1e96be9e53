/// SplitMix64 (Steele, Lea and Flood 2014): a tiny, fast generator whose
/// stream depends on its seed alone, the same on every machine. Shuffling
/// (runtime/io/Batcher.cpp) and sampling (`nnc sample`) draw from it.
#pragma once

#include <cstdint>

namespace nnc {

class SplitMix64 {
public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}
  uint64_t next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  /// Uniform in [0, bound), without modulo bias (rejection sampling).
  uint64_t below(uint64_t bound) {
    uint64_t threshold = (0 - bound) % bound;
    for (;;) {
      uint64_t r = next();
      if (r >= threshold)
        return r % bound;
    }
  }
  /// Uniform in [0, 1), 53 bits.
  double uniform() { return static_cast<double>(next() >> 11) * 0x1p-53; }

private:
  uint64_t state_;
};

} // namespace nnc
