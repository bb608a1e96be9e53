/// First values of params, states and consts (IR.md's initializers), and the
/// portable random numbers behind them.
#pragma once

#include "ir/Graph.h"
#include "runtime/Tensor.h"

#include <cstdint>
#include <vector>

namespace nnc {

// nnc's random numbers. Any implementation (interpreter, JIT, AOT object)
// reproduces them bit for bit from this description:
//
// 1. Bits. Draw k (k = 0, 1, 2, ...) of seed s is output k of SplitMix64
//    (Steele, Lea & Flood 2014; Vigna's splitmix64.c) started at state s:
//      z    = s + (k + 1) * 0x9E3779B97F4A7C15          (all mod 2^64)
//      z    = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
//      z    = (z ^ (z >> 27)) * 0x94D049BB133111EB
//      bits = z ^ (z >> 31)
//    A model's `seed` is an integer; a negative one is taken mod 2^64.
// 2. uniform(lo, hi): element i uses draw i. u = (bits >> 40) * 2^-24 (the
//    top 24 bits, in [0, 1)); v = lo + (hi - lo) * u in double, rounded to
//    the nearest float. When hi > lo and that float is >= hi, the float just
//    below it is used instead, so values lie in [lo, hi).
// 3. normal(mean, std): element i uses draws 2i and 2i+1 (b1, b2).
//    u1 = ((b1 >> 11) + 1) * 2^-53 in (0, 1], u2 = (b2 >> 11) * 2^-53 in
//    [0, 1); z = sqrt(-2 ln u1) * cos(2 pi u2) (Box-Muller, cosine branch
//    only, 2 pi = 6.283185307179586); v = mean + std * z in double, rounded
//    to the nearest float.
// 4. glorot_uniform(seed) = uniform(-a, a, seed), a = sqrt(6 / (fan_in +
//    fan_out)); he_normal(seed) = normal(0, sqrt(2 / fan_in), seed), with
//    fans as fansOf() says.
//
// Every element depends only on (seed, i): generate in any order or in
// parallel. Arithmetic is IEEE double, one operation at a time (no FMA
// contraction); ln, cos and sqrt are libm's, whose rare last-bit differences
// between libms vanish when the result is rounded to float.

/// The SplitMix64 output `k` of seed `seed` (step 1 above).
uint64_t randomBits(uint64_t seed, uint64_t k);

/// out[i] = uniform(lo, hi) element i of `seed`, for i in [0, n).
void fillUniform(float *out, int64_t n, double lo, double hi, uint64_t seed);

/// out[i] = normal(mean, std) element i of `seed`, for i in [0, n).
void fillNormal(float *out, int64_t n, double mean, double std, uint64_t seed);

/// Fan-in and fan-out of a weight.
struct Fans {
  int64_t in = 0;
  int64_t out = 0;
};

/// Rank 2 `[in, out]` (a matmul weight): dims 0 and 1. Rank 4 `[F, C, KH,
/// KW]` (a conv filter): C*KH*KW and F*KH*KW. Other ranks (which the graph
/// builder rejects for glorot/he): both are the element count.
Fans fansOf(const std::vector<int64_t> &shape);

/// Argument `index` of an initializer as a seed (0 when absent; a negative
/// one taken mod 2^64) or as a number (`fallback` when absent).
uint64_t initializerSeed(const Initializer &init, size_t index);
double initializerNumber(const Initializer &init, size_t index, double fallback);

/// The first value of a param or state (from its initializer or literal), a
/// const (its literal) or an immediate. The value's type must be static; the
/// initializer must have passed the graph builder's checks (name known, args
/// in CallableInfo order with defaults filled, random ones on f32 only).
Tensor initialTensor(const Graph &g, ValueId id);

} // namespace nnc
